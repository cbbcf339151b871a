// `semantest-run status <file>`: where a book stands, read from its checkpoint.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadPromptFile } from '../prompts/index.js';
import { formatDuration } from '../report/console.js';
import { Gate } from '../schedule/gate.js';
import { openJobStore } from '../store/index.js';

/** A rough per-image time for the ETA when nothing has been measured yet. */
const TYPICAL_IMAGE_MS = 45_000;

export async function printStatus(file: string, checkpointsDir: string, write = (s: string) => process.stdout.write(`${s}\n`)): Promise<number> {
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
    let stale = 0;
    for (const job of book.jobs) {
      const record = store.get(job.id);
      const state = record?.state ?? 'pending';
      counts.set(state, (counts.get(state) ?? 0) + 1);
      if (record?.state === 'verified' && record.promptHash && record.promptHash !== job.promptHash) stale += 1;
      if (record?.state === 'failed') failures.push(`  ${job.id} failed (${record.failure?.kind}): ${record.failure?.message ?? ''}${record.failure?.evidence?.length ? ` — evidence: ${record.failure.evidence.join(', ')}` : ''}`);
    }
    const order = ['verified', 'downloaded', 'submitted', 'started', 'failed', 'pending'];
    write(`${book.book}: ${book.jobs.length} jobs — ${order.filter((s) => counts.get(s)).map((s) => `${counts.get(s)} ${s}`).join(', ')}`);
    if (stale) write(`  ${stale} verified panels have changed prompts since (re-run with --resume --regenerate-changed)`);
    for (const line of failures) write(line);
    const remaining = book.jobs.length - (counts.get('verified') ?? 0);
    const { pacing } = book;
    const eta = Gate.idealDurationMs(remaining, TYPICAL_IMAGE_MS, {
      concurrency: pacing.concurrency,
      minGapMs: pacing.minGapSeconds * 1000,
      jitterMs: pacing.jitterSeconds * 1000,
      cooldownEvery: pacing.cooldownEvery,
      cooldownMs: pacing.cooldownSeconds * 1000,
    });
    const pause = store.state().pacing.pauseUntil;
    if (pause && pause > Date.now()) write(`  paused until ${new Date(pause).toLocaleString()}: ${store.state().pacing.pauseReason ?? ''}`);
    if (remaining > 0) write(`  ${remaining} to go: about ${formatDuration(eta)} at the file's pacing (≈${TYPICAL_IMAGE_MS / 1000} s an image)`);
    return 0;
  } finally {
    await store.close();
  }
}
