// `semantest-run status <file>`: where a book stands, read from its checkpoint.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadPromptFile } from '../prompts/index.js';
import { formatDuration } from '../report/console.js';
import { Gate, pacingToGateOptions } from '../schedule/gate.js';
import { openJobStore } from '../store/index.js';
import type { JobRecord } from '../store/types.js';
import { safeLine } from '../protocol/text.js';

/** A rough per-image time for the ETA when nothing has been measured yet. */
const TYPICAL_IMAGE_MS = 45_000;

export async function printStatus(file: string, checkpointsDir: string, out: (s: string) => unknown = (s) => process.stdout.write(`${s}\n`)): Promise<number> {
  // Stored failure messages and reasons are the page's (or a user's) words, maybe from a run before
  // they were cleaned: each line is printed without control characters.
  const write = (line: string) => out(safeLine(line));
  const book = await loadPromptFile(file);
  const dir = path.join(checkpointsDir, book.book);
  if (!existsSync(dir)) {
    write(`${book.book}: not started (${book.jobs.length} jobs; no checkpoint in ${dir})`);
    return 0;
  }
  const store = await openJobStore(dir);
  try {
    const counts = new Map<string, number>();
    const failures: string[] = [];
    const rejections: string[] = [];
    let stale = 0;
    for (const job of book.jobs) {
      const record = store.get(job.id);
      const state = record?.state ?? 'pending';
      counts.set(state, (counts.get(state) ?? 0) + 1);
      if (record?.state === 'verified' && record.promptHash && record.promptHash !== job.promptHash) stale += 1;
      // A rejection stays on the record while the panel is being generated again (until verified).
      if (record?.rejection) {
        const { reason, keptAs } = record.rejection;
        const being = record.state === 'rejected' ? 'rejected' : `rejected, being generated again (${record.state})`;
        rejections.push(`  ${job.id} ${being}: ${reason || 'no reason given'} — old image kept as ${path.relative(process.cwd(), keptAs) || keptAs}`);
      }
      if (record?.state === 'failed') failures.push(`  ${job.id} failed (${record.failure?.kind}): ${record.failure?.message ?? ''}${record.failure?.evidence?.length ? ` — evidence: ${record.failure.evidence.join(', ')}` : ''}`);
    }
    const order = ['verified', 'rejected', 'downloaded', 'submitted', 'started', 'failed', 'pending'];
    write(`${book.book}: ${book.jobs.length} jobs — ${order.filter((s) => counts.get(s)).map((s) => `${counts.get(s)} ${s}`).join(', ')}`);
    if (stale) write(`  ${stale} verified panels have changed prompts since (re-run with --resume --regenerate-changed)`);
    for (const line of failures) write(line);
    for (const line of rejections) write(line);
    if (counts.get('rejected')) write(`  ${counts.get('rejected')} rejected panels are generated again by the next run with --resume`);
    const remaining = book.jobs.length - (counts.get('verified') ?? 0);
    const measured = await measuredImageMs(book.jobs.map((job) => store.get(job.id)));
    const imageMs = measured ?? TYPICAL_IMAGE_MS;
    const eta = Gate.idealDurationMs(remaining, imageMs, pacingToGateOptions(book.pacing));
    const pause = store.state().pacing.pauseUntil;
    if (pause && pause > Date.now()) write(`  paused until ${new Date(pause).toLocaleString()}: ${store.state().pacing.pauseReason ?? ''}`);
    if (remaining > 0) {
      const basis = measured !== undefined ? `${formatDuration(imageMs)} an image, measured on the last ones` : `≈${formatDuration(imageMs)} an image, nothing measured yet`;
      write(`  ${remaining} to go: about ${formatDuration(eta)} at the file's pacing (${basis})`);
    }
    return 0;
  } finally {
    await store.close();
  }
}

/** Mean generation time of the most recent verified images, from their sidecars. */
async function measuredImageMs(records: Array<JobRecord | undefined>): Promise<number | undefined> {
  const recent = records
    .filter((r): r is JobRecord => r?.state === 'verified' && typeof r.path === 'string')
    .sort((a, b) => String(b.updatedAt).localeCompare(String(a.updatedAt)))
    .slice(0, 50);
  const times: number[] = [];
  for (const record of recent) {
    try {
      const sidecar = JSON.parse(await readFile(record.path!.replace(/\.png$/, '.json'), 'utf8')) as { timings?: { ms?: unknown } };
      if (typeof sidecar.timings?.ms === 'number' && sidecar.timings.ms > 0) times.push(sidecar.timings.ms);
    } catch (error) {
      // A moved or deleted output folder, or a sidecar cut short, just means nothing measured.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && !(error instanceof SyntaxError)) throw error;
    }
  }
  return times.length ? times.reduce((a, b) => a + b, 0) / times.length : undefined;
}
