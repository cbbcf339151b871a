// Turns run events into the lines a user reads in a terminal (or JSON lines with --json). On a
// terminal the lines scroll above a live status block (`live.ts`, `status-block.ts`).
import path from 'node:path';
import type { RunEvent, RunEvents } from './events.js';
import { clockTime as clock, formatDuration } from './format.js';
import { LiveStatus, terminalScreen } from './live.js';
import { cleanText, safeLine } from '../protocol/text.js';

export { formatDuration } from './format.js';

/**
 * `eta: false` leaves the ETA off the per-image lines (the status block shows a better one).
 * Messages and reasons carry page and prompt-file text: each is made one line without control
 * characters (`safeLine`), and the whole is stripped again, so no byte of it drives the terminal.
 */
export function formatEvent(event: RunEvent, cwd = process.cwd(), opts: FormatOptions = {}): string | undefined {
  const text = formatLines(event, cwd, opts);
  return text === undefined ? undefined : cleanText(text);
}

export interface FormatOptions {
  eta?: boolean;
  /** The run shares its book among several profiles: each line about a job or a pause names its profile. */
  several?: boolean;
  /** For a `profile-state` event: the state that profile was in before it (`runFormatter` keeps them). */
  previousState?: string;
}

/** `formatEvent` that learns from `run-start` whether the run has several profiles. */
export function runFormatter(cwd = process.cwd(), opts: { eta?: boolean } = {}): (event: RunEvent) => string | undefined {
  let several = false;
  const states = new Map<string, string>();
  return (event) => {
    if (event.type === 'run-start') several = (event.profiles?.length ?? 1) > 1;
    if (event.type !== 'profile-state') return formatEvent(event, cwd, { ...opts, several });
    const previousState = states.get(event.profile);
    states.set(event.profile, event.state);
    return formatEvent(event, cwd, { ...opts, several, ...(previousState !== undefined ? { previousState } : {}) });
  };
}

/** States a profile comes back from: its return to work is news on a several-profile run. */
const HELD = new Set(['paused', 'resting', 'relaunching', 'waiting for a login']);

function formatLines(event: RunEvent, cwd: string, opts: FormatOptions): string | undefined {
  // "[anna] " before a line about one profile's job or pause, when there are several.
  const who = opts.several && 'profile' in event && event.profile ? `[${safeLine(event.profile)}] ` : '';
  switch (event.type) {
    case 'run-start':
      return `semantest: ${event.book}: ${event.toRun} to generate, ${event.skipped} already verified (of ${event.total}) · ${event.baseUrl} · ${opts.several ? `profiles ${(event.profiles ?? []).map((p) => safeLine(p)).join(', ')}` : `profile ${event.profile}`} · ${event.headless ? 'headless' : 'window'} · concurrency ${event.concurrency}${opts.several ? ' each' : ''}`;
    case 'note':
      return `  · ${who}${safeLine(event.message)}`;
    case 'profile-state':
      // A pause has its own line (`pause`) and a relaunch its note; a login wall on the only profile
      // its `human-needed` line. Retiring and resting are said on any run: nothing else explains them.
      if (event.state === 'retired' || event.state === 'resting' || (opts.several && event.state === 'waiting for a login')) {
        return `  ■ profile ${safeLine(event.profile)} ${event.state}${event.until ? ` until ${clock(event.until)}` : ''}${event.reason ? `: ${safeLine(event.reason)}` : ''}`;
      }
      if (opts.several && event.state === 'working' && opts.previousState !== undefined && HELD.has(opts.previousState)) {
        return `  ▶ profile ${safeLine(event.profile)} working again (was ${opts.previousState})`;
      }
      return undefined;
    case 'job-start':
      return event.attempt > 1 ? `  → ${who}${event.id} attempt ${event.attempt}` : undefined;
    case 'job-progress':
    case 'job-state':
      return undefined;
    case 'job-verified': {
      const eta = opts.eta !== false && event.etaMs && event.done < event.toRun ? `, done in ~${formatDuration(event.etaMs)} (${clock(Date.now() + event.etaMs)})` : '';
      return `  ✓ [${event.done}/${event.toRun}] ${who}${event.id} verified in ${formatDuration(event.ms)}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''} → ${path.relative(cwd, event.path)}${eta}`;
    }
    case 'job-retry':
      return `  ↻ ${who}${event.id} ${event.kind}: ${safeLine(event.message)} — retry ${event.attempt} at ${clock(event.notBefore)}`;
    case 'job-failed':
      return `  ✗ [${event.done}/${event.toRun}] ${who}${event.id} failed (${event.kind}): ${safeLine(event.message)}`;
    case 'pause':
      return `  ⏸ ${who}pausing the profile until ${clock(event.until)} (${formatDuration(event.until - Date.now())}): ${safeLine(event.reason)}`;
    case 'human-needed':
      return `  ! ${who}a person is needed (${event.kind}): ${safeLine(event.message)}`;
    case 'stopping':
      return `  ■ ${safeLine(event.reason)}`;
    case 'pacing':
    case 'gate-wait':
      return undefined;
    case 'run-end': {
      const s = event.summary;
      const lines = [
        `${s.book}: ${s.verified} verified, ${s.failed.length} failed, ${s.skipped} already done${s.notRun ? `, ${s.notRun} not run` : ''} in ${formatDuration(s.elapsedMs)} (${s.promptsSent} prompts sent)`,
      ];
      for (const f of s.failed) lines.push(`  failed ${f.id} (${f.kind}): ${safeLine(f.message)}`);
      if (opts.several) {
        for (const p of s.profiles ?? []) lines.push(`  profile ${safeLine(p.name)}: ${p.verified} verified, ${p.promptsSent} prompts sent, ${p.state}${p.reason ? `: ${safeLine(p.reason)}` : ''}`);
      }
      if (s.stale.length) lines.push(`  ${s.stale.length} verified panels have changed prompts (kept; --regenerate-changed redoes them): ${s.stale.join(', ')}`);
      return lines.join('\n');
    }
  }
}

/**
 * One JSON line with the page's text intact: JSON already escapes C0 controls; DEL, C1 controls
 * (an 8-bit CSI is one) and bidi overrides are escaped too, so the line is the same value and
 * still holds no byte a terminal acts on.
 */
export function jsonLine(value: unknown): string {
  // eslint-disable-next-line no-control-regex
  return JSON.stringify(value).replace(/[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Whether `stream` is a terminal that can show the live status block. */
export function liveStatusWanted(stream: NodeJS.WriteStream = process.stdout): boolean {
  return stream.isTTY === true && process.env.TERM !== 'dumb';
}

export interface ConsoleOptions {
  json: boolean;
  /** Where plain lines go (tests); default stdout. */
  write?: (line: string) => void;
  /**
   * Draw the live status block at the bottom of stdout, the lines scrolling above it (main passes
   * `liveStatusWanted()`: stdout is a terminal). Ignored with `json` or `write`.
   * @default false
   */
  live?: boolean;
}

export function attachConsole(events: RunEvents, opts: ConsoleOptions): void {
  if (opts.live && !opts.json && !opts.write) return attachLive(events, process.stdout);
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
  const format = runFormatter();
  events.on('event', (event) => {
    if (opts.json) return write(jsonLine({ at: new Date().toISOString(), ...event }));
    const line = format(event);
    if (line !== undefined) write(line);
  });
}

/**
 * The terminal: the status block at the bottom of `stream`. Whatever else reaches the terminal
 * through stderr while the block shows (an error message, a warning) is written above it, and the
 * block is taken off the screen however the process ends.
 */
function attachLive(events: RunEvents, stream: NodeJS.WriteStream): void {
  // A terminal that goes away must not end a long run either.
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'EIO') throw error;
  });
  const screen = terminalScreen(stream);
  const live = new LiveStatus(screen, { format: runFormatter(process.cwd(), { eta: false }) });
  events.on('event', (event) => live.handle(event));
  stream.on('resize', () => live.resume());
  if (process.stderr.isTTY) {
    const stderr = process.stderr;
    const write = stderr.write;
    stderr.write = function (this: NodeJS.WriteStream, ...args: Parameters<typeof write>) {
      if (!live.active) return write.apply(this, args);
      live.suspend();
      const written = write.apply(this, args);
      live.resume();
      return written;
    } as typeof write;
  }
  process.once('exit', () => live.close());
}
