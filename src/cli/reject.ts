// `semantest-run reject <prompts.yaml> <id-or-glob>… [--reason TEXT] [--out DIR]`: a person says
// verified images are not right. Each is journalled as `rejected`, its files are moved aside under
// `<out>/<book>/.rejected/` (never overwritten or deleted), and the next run with --resume generates
// it again (store/rejection.ts, ARCHITECTURE §6).
import { existsSync } from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import { LockedError, UsageError } from '../protocol/errors.js';
import { loadBookFor } from '../prompts/index.js';
import { withSheets } from '../prompts/sheets.js';
import { acquireLock, NotRejectableError, openJobStore, rejectImage, repairRejection } from '../store/index.js';
import { safeLine } from '../protocol/text.js';

export interface RejectOptions {
  readonly file: string;
  /** Job ids or picomatch globs over them, e.g. `ch1/s1/p2`, `'ch1/s2/*'`. */
  readonly patterns: readonly string[];
  readonly reason?: string;
  /** The run's output folder (images under `<out>/<book>/`); by default where the checkpoint says each image is. */
  readonly out?: string;
  readonly checkpointsDir: string;
  readonly write?: (line: string) => void;
}

export async function runReject(opts: RejectOptions): Promise<number> {
  const out = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  // The reason and stored messages are a user's or a page's words: no control character is printed.
  const write = (line: string) => out(safeLine(line));
  // A character sheet (`characters/<name>`) is rejected like a panel (src/prompts/sheets.ts).
  const book = withSheets(await loadBookFor(opts.file, opts.out));
  if (opts.patterns.length === 0) throw new UsageError('reject: name at least one job id or glob, e.g. ch1/s1/p2');
  // Every pattern must name a job, checked before anything changes: a typo rejects nothing.
  const wanted = new Set<string>();
  for (const pattern of opts.patterns) {
    const isMatch = picomatch(pattern);
    const hits = book.jobs.filter((job) => isMatch(job.id));
    if (hits.length === 0) throw new UsageError(`${pattern}: no job id of "${book.book}" matches (ids look like ${book.jobs.find((job) => !job.id.startsWith('characters/'))?.id ?? book.jobs[0]?.id ?? 'ch1/s1/p1'})`);
    for (const job of hits) wanted.add(job.id);
  }
  const jobs = book.jobs.filter((job) => wanted.has(job.id));
  const reason = opts.reason?.trim() ?? '';

  const dir = path.join(opts.checkpointsDir, book.book);
  if (!existsSync(dir)) {
    // Never run: nothing is verified, and nothing is created just to say so.
    for (const job of jobs) write(`${job.id} is not verified (pending), nothing to reject`);
    write(`${book.book}: nothing rejected (no checkpoint in ${dir})`);
    return 0;
  }
  let lock;
  try {
    lock = await acquireLock(path.join(dir, 'run.lock'), `book "${book.book}"`);
  } catch (error) {
    if (error instanceof LockedError) {
      throw new LockedError(`${error.message}; wait for it to end, or reject the panel live from that run's dashboard`, error.pid);
    }
    throw error;
  }
  try {
    const store = await openJobStore(dir);
    try {
      const bookDir = opts.out === undefined ? undefined : path.resolve(opts.out, book.book);
      // An earlier rejection stopped between its journal line and its move: finish it first.
      for (const job of book.jobs) {
        const record = store.get(job.id);
        if (record?.state !== 'rejected') continue;
        const moved = await repairRejection(record, job.outputPath);
        if (moved.length > 0) write(`${job.id}: finished moving its earlier rejected image aside to ${shown(record.rejection!.keptAs)}`);
      }
      let rejected = 0;
      for (const job of jobs) {
        try {
          const { from, rejection } = await rejectImage(store, { id: job.id, bookDir, outputPath: job.outputPath, reason });
          write(`${job.id} rejected${reason ? ` (${reason})` : ''}: ${shown(from)} kept as ${shown(rejection.keptAs)}`);
          rejected += 1;
        } catch (error) {
          if (!(error instanceof NotRejectableError)) throw error;
          write(error.message);
        }
      }
      write(
        rejected > 0
          ? `${book.book}: ${rejected} panel${rejected === 1 ? '' : 's'} rejected; \`semantest-run ${opts.file} --resume\` generates ${rejected === 1 ? 'it' : 'them'} again`
          : `${book.book}: nothing rejected`,
      );
      return 0;
    } finally {
      await store.close();
    }
  } finally {
    await lock.release();
  }
}

/** A path as the user would type it: relative to where they are, unless that climbs out. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') ? file : relative;
}
