// Turns run events into the lines a user reads in a terminal (or JSON lines with --json).
import path from 'node:path';
import type { RunEvent, RunEvents } from './events.js';

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

function clock(at: number): string {
  return new Date(at).toLocaleTimeString('en-GB', { hour12: false });
}

export function formatEvent(event: RunEvent, cwd = process.cwd()): string | undefined {
  switch (event.type) {
    case 'run-start':
      return `semantest: ${event.book}: ${event.toRun} to generate, ${event.skipped} already verified (of ${event.total}) · ${event.baseUrl} · profile ${event.profile} · ${event.headless ? 'headless' : 'window'} · concurrency ${event.concurrency}`;
    case 'note':
      return `  · ${event.message}`;
    case 'job-start':
      return event.attempt > 1 ? `  → ${event.id} attempt ${event.attempt}` : undefined;
    case 'job-progress':
    case 'job-state':
      return undefined;
    case 'job-verified': {
      const eta = event.etaMs && event.done < event.toRun ? `, done in ~${formatDuration(event.etaMs)} (${clock(Date.now() + event.etaMs)})` : '';
      return `  ✓ [${event.done}/${event.toRun}] ${event.id} verified in ${formatDuration(event.ms)}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''} → ${path.relative(cwd, event.path)}${eta}`;
    }
    case 'job-retry':
      return `  ↻ ${event.id} ${event.kind}: ${event.message} — retry ${event.attempt} at ${clock(event.notBefore)}`;
    case 'job-failed':
      return `  ✗ [${event.done}/${event.toRun}] ${event.id} failed (${event.kind}): ${event.message}`;
    case 'pause':
      return `  ⏸ pausing the profile until ${clock(event.until)} (${formatDuration(event.until - Date.now())}): ${event.reason}`;
    case 'human-needed':
      return `  ! a person is needed (${event.kind}): ${event.message}`;
    case 'stopping':
      return `  ■ ${event.reason}`;
    case 'run-end': {
      const s = event.summary;
      const lines = [
        `${s.book}: ${s.verified} verified, ${s.failed.length} failed, ${s.skipped} already done${s.notRun ? `, ${s.notRun} not run` : ''} in ${formatDuration(s.elapsedMs)} (${s.promptsSent} prompts sent)`,
      ];
      for (const f of s.failed) lines.push(`  failed ${f.id} (${f.kind}): ${f.message}`);
      if (s.stale.length) lines.push(`  ${s.stale.length} verified panels have changed prompts (kept; --regenerate-changed redoes them): ${s.stale.join(', ')}`);
      return lines.join('\n');
    }
  }
}

export function attachConsole(events: RunEvents, opts: { json: boolean; write?: (line: string) => void }): void {
  // A reader that goes away (`| head`, a closed dashboard pipe) must not end a long run: its
  // output stops, the run and its checkpoint go on.
  let gone = false;
  if (!opts.write) {
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      gone = true;
    });
  }
  const write = opts.write ?? ((line: string) => void (gone || process.stdout.write(`${line}\n`)));
  events.on('event', (event) => {
    if (opts.json) return write(JSON.stringify({ at: new Date().toISOString(), ...event }));
    const line = formatEvent(event);
    if (line !== undefined) write(line);
  });
}
