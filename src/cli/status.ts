// `semantest-run status <file>`: where a book stands, read from its checkpoint.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { loadBookFor } from '../prompts/index.js';
import { formatDuration } from '../report/console.js';
import { clockTimeFrom } from '../report/format.js';
import { pacingToGateOptions } from '../schedule/gate.js';
import { estimateRun } from '../plan/estimate.js';
import { openJobStore } from '../store/index.js';
import { readProfilePacing } from '../store/profile-pacing.js';
import { measuredImageMs, TYPICAL_IMAGE_MS } from '../plan/measure.js';
import type { JobStore, PacingState } from '../store/types.js';
import { safeLine } from '../protocol/text.js';
import { printFleetStatus } from './fleet-status.js';


export async function printStatus(
  file: string,
  checkpointsDir: string,
  out: (s: string) => unknown = (s) => process.stdout.write(`${s}\n`),
  opts: { profilesDir?: string; redis?: string } = {},
): Promise<number> {
  // --redis: the book across a fleet's workers, from Redis instead of this machine's checkpoint.
  if (opts.redis !== undefined) return printFleetStatus(file, opts.redis, out);
  const profilesDir = opts.profilesDir ?? 'profiles';
  // Stored failure messages and reasons are the page's (or a user's) words, maybe from a run before
  // they were cleaned: each line is printed without control characters.
  const write = (line: string) => out(safeLine(line));
  // `refs: sheet` characters: their sheets where a run with the default --out wrote them.
  const book = await loadBookFor(file);
  const dir = path.join(checkpointsDir, book.book);
  // A run makes a `refs: sheet` character's missing sheet before any panel (src/cli/sheets-first.ts).
  const sheetsLine = book.sheetsToMake?.length
    ? `  first the character sheet${book.sheetsToMake.length === 1 ? '' : 's'} ${book.sheetsToMake.join(', ')}: not made yet, the next run makes ${book.sheetsToMake.length === 1 ? 'it' : 'them'} before the panels`
    : undefined;
  if (!existsSync(dir)) {
    write(`${book.book}: not started (${book.jobs.length} jobs; no checkpoint in ${dir})`);
    if (sheetsLine) write(sheetsLine);
    // A pause another book met on the account holds this one too, before it starts.
    for (const line of await profileLines(profilesDir, new Map())) write(line);
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
    if (sheetsLine) write(sheetsLine);
    if (stale) write(`  ${stale} verified panels have changed prompts since (re-run with --resume --regenerate-changed)`);
    for (const line of failures) write(line);
    for (const line of rejections) write(line);
    if (counts.get('rejected')) write(`  ${counts.get('rejected')} rejected panels are generated again by the next run with --resume`);
    const remaining = book.jobs.length - (counts.get('verified') ?? 0);
    const measured = await measuredImageMs(book.jobs.map((job) => store.get(job.id)));
    const imageMs = measured ?? TYPICAL_IMAGE_MS;
    // The planner's model (src/plan/estimate.ts): the file's profiles and quota, each profile's pause.
    const names = book.profiles ?? ['default'];
    const states = await Promise.all(names.map((name) => readProfilePacing(path.join(profilesDir, name)).catch(() => undefined)));
    const eta = estimateRun({
      jobs: remaining,
      profiles: states.map((state) => ({ ...(state?.pauseUntil !== undefined ? { pauseUntil: state.pauseUntil } : {}), ...(state?.lastStartAt !== undefined ? { lastStartAt: state.lastStartAt } : {}) })),
      gate: pacingToGateOptions(book.pacing),
      imageMs,
      ...(book.quota ? { quota: { images: book.quota.images, windowMs: book.quota.hours * 3_600_000 } } : {}),
      now: Date.now(),
    }).durationMs;
    const pause = store.state().pacing.pauseUntil;
    if (pause && pause > Date.now()) write(`  paused until ${new Date(pause).toLocaleString()}: ${store.state().pacing.pauseReason ?? ''}`);
    if (remaining > 0) {
      const basis = measured !== undefined ? `${formatDuration(imageMs)} an image, measured on the last ones` : `≈${formatDuration(imageMs)} an image, nothing measured yet`;
      write(`  ${remaining} to go: about ${formatDuration(eta)} at the file's pacing on ${names.length} profile${names.length === 1 ? '' : 's'}${book.quota ? ` and quota` : ''} (${basis})`);
    }
    for (const line of await profileLines(profilesDir, verifiedByProfile(book.jobs.map((job) => job.id), store))) write(line);
    return 0;
  } finally {
    await store.close();
  }
}

/** How many of the book's verified panels each profile made (JobRecord.profile, set on `started`). */
function verifiedByProfile(ids: string[], store: JobStore): Map<string, number> {
  const made = new Map<string, number>();
  for (const id of ids) {
    const record = store.get(id);
    if (record?.state === 'verified' && record.profile) made.set(record.profile, (made.get(record.profile) ?? 0) + 1);
  }
  return made;
}

/**
 * One line per profile that has a pacing file or made panels in this book: its verified count and
 * whether it is paused (pacing belongs to the account, docs/ARCHITECTURE.md §6). Read without the
 * profile lock: a run may be writing, and the atomic replace means the old or the new state is read.
 */
async function profileLines(profilesDir: string, made: Map<string, number>): Promise<string[]> {
  const pacing = new Map<string, PacingState>();
  let entries: Array<{ name: string; isDirectory(): boolean }> = [];
  try {
    entries = await readdir(profilesDir, { withFileTypes: true });
  } catch (error) {
    // No profiles folder here (status run from elsewhere): the journal's counts are still shown.
    if (!['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
  }
  // A link to a folder is not followed (isDirectory is of the entry itself), as the run's lock does not either.
  for (const entry of entries.filter((e) => e.isDirectory())) {
    const state = await readProfilePacing(path.join(profilesDir, entry.name));
    if (state) pacing.set(entry.name, state);
  }
  const now = Date.now();
  const names = [...new Set([...pacing.keys(), ...made.keys()])].sort();
  return names.map((name) => {
    const parts: string[] = [];
    if (made.has(name)) parts.push(`${made.get(name)} verified`);
    const state = pacing.get(name);
    if (state?.pauseUntil !== undefined && state.pauseUntil > now) {
      // The reason is the page's words from a file anyone could have written: one clean line.
      parts.push(`paused until ${clockTimeFrom(state.pauseUntil, now)} (in ${formatDuration(state.pauseUntil - now)}): ${safeLine(state.pauseReason ?? 'no reason given', 300)}`);
    } else if (state) {
      parts.push(state.lastStartAt !== undefined ? `ready (last prompt ${clockTimeFrom(state.lastStartAt, now)})` : 'ready');
    }
    return `  profile ${name}: ${parts.join('; ')}`;
  });
}
