// `semantest-run enqueue <file> --redis URL` (docs/ARCHITECTURE.md §10 "Fleet: workers on BullMQ and
// Redis"): makes a book's jobs known to the fleet. One BullMQ job per panel and prompt hash, so the
// same file enqueued again adds nothing (BullMQ keeps a job id once, done or not), and a panel whose
// prompt changed is a new job, its old one withdrawn if no worker has it yet.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { UsageError } from '../protocol/errors.js';
import { MAX_PROMPT_CHARS } from '../protocol/messages.js';
import { loadPromptFile } from '../prompts/index.js';
import { ID, LOCALE, SLUG } from '../prompts/schema.js';
import type { Job, PromptBook } from '../prompts/types.js';
import { BOOKS_KEY, FLEET_PREFIX, fleetJobId, fleetKey, queueName, type FleetBook } from './keys.js';
import { loadBullmq, type RedisTarget } from './redis.js';
import type { FleetJobData } from './link.js';

export interface EnqueueResult {
  readonly book: string;
  readonly added: number;
  readonly known: number;
  /** Panels whose prompt changed since the last enqueue: their old job withdrawn (if not under way). */
  readonly replaced: number;
  readonly total: number;
}

export async function enqueueBook(opts: { file: string; out: string; redis: Redis; target: RedisTarget }): Promise<EnqueueResult> {
  const book = await loadPromptFile(opts.file, { sheetsDir: (slug) => path.join(opts.out, slug, 'characters') });
  const { redis } = opts;
  // Reference images travel as bytes, once each (by content), so a worker needs no copy of the files.
  const refs = new Map<string, string>();
  for (const job of book.jobs) for (const ref of job.refs ?? []) refs.set(ref.sha256, ref.file);
  for (const [sha, file] of refs) await redis.set(fleetKey(book.book, 'ref', sha), await readFile(file), 'NX');

  // A damaged earlier book is replaced: nothing of it is needed but which jobs it had.
  let previous: FleetBook | undefined;
  try {
    previous = parseBook(await redis.get(fleetKey(book.book, 'book')), book.book);
  } catch {
    previous = undefined;
  }
  const fleetBook: FleetBook = { version: 1, file: path.resolve(opts.file), enqueuedAt: Date.now(), book: bookMeta(book), jobs: book.jobs };
  await redis.set(fleetKey(book.book, 'book'), JSON.stringify(fleetBook));
  await redis.zadd(BOOKS_KEY, 'NX', fleetBook.enqueuedAt, book.book);

  const { Queue } = await loadBullmq();
  const queue = new Queue<FleetJobData>(queueName(book.book), { connection: opts.target.connection, prefix: FLEET_PREFIX });
  queue.on('error', () => undefined);
  try {
    let replaced = 0;
    const before = new Map((previous?.jobs ?? []).map((job) => [job.id, job]));
    for (const job of book.jobs) {
      const old = before.get(job.id);
      if (!old || old.promptHash === job.promptHash) continue;
      const stale = await queue.getJob(fleetJobId(old));
      const state = stale ? await stale.getState() : undefined;
      if (stale && (state === 'waiting' || state === 'delayed' || state === 'prioritized')) {
        await stale.remove();
        replaced += 1;
      }
    }
    const fresh: Job[] = [];
    for (const job of book.jobs) if (!(await queue.getJob(fleetJobId(job)))) fresh.push(job);
    // In book order; BullMQ keeps the first job of an id, so a race with another enqueue adds nothing twice.
    for (let i = 0; i < fresh.length; i += 500) {
      await queue.addBulk(
        fresh.slice(i, i + 500).map((job) => ({
          name: 'panel' as const,
          data: { job },
          opts: { jobId: fleetJobId(job), attempts: 1, removeOnComplete: false, removeOnFail: false },
        })),
      );
    }
    return { book: book.book, added: fresh.length, known: book.jobs.length - fresh.length, replaced, total: book.jobs.length };
  } finally {
    await queue.close();
  }
}

export function bookMeta(book: PromptBook): FleetBook['book'] {
  const { file: _file, jobs: _jobs, ...meta } = book;
  return meta;
}

/**
 * The book as Redis holds it, checked as any input from outside: whoever can write to the fleet's
 * Redis must not make a worker write outside its folders or send a prompt the protocol refuses.
 * Undefined when there is none; a book that is not one `enqueue` wrote is a UsageError naming why.
 */
export function parseBook(text: string | null, slug = '?'): FleetBook | undefined {
  if (!text) return undefined;
  let book: FleetBook;
  try {
    book = JSON.parse(text) as FleetBook;
  } catch {
    throw new UsageError(`the fleet's book "${slug}" in Redis is not JSON; enqueue its prompt file again`);
  }
  const problem =
    !book || book.version !== 1 || !Array.isArray(book.jobs) || typeof book.book !== 'object' || book.book === null
      ? 'it is not a book Semantest enqueued (version 1 with its jobs)'
      : !SLUG.test(String(book.book.book))
        ? `its name "${String(book.book.book).slice(0, 80)}" is not a book slug`
        : book.jobs.map((job) => fleetJobProblem(job)).find((p) => p !== undefined);
  if (problem) throw new UsageError(`the fleet's book "${slug}" in Redis cannot be used: ${problem}; enqueue its prompt file again`);
  return book;
}

/** Why a job from Redis (the book, or a BullMQ job's data) is not one `enqueue` could have written; undefined when it is fine. */
export function fleetJobProblem(job: unknown): string | undefined {
  const j = job as Partial<Job> | null;
  if (!j || typeof j !== 'object') return 'a job is not an object';
  const id = typeof j.id === 'string' ? j.id : '';
  // chapter/strip/panel, each an ID, then an optional .locale and ~variant (src/prompts/expand.ts).
  const [path, variant] = id.split('~');
  const [panelPath, locale, extra] = (path ?? '').split('.');
  const segments = (panelPath ?? '').split('/');
  if (id.length > 300 || extra !== undefined || segments.length !== 3 || !segments.every((s) => ID.test(s)) || (locale !== undefined && !LOCALE.test(locale)) || (variant !== undefined && !ID.test(variant)) || id.split('~').length > 2) {
    return `a job's id "${id.slice(0, 80)}" is not chapter/strip/panel[.locale][~variant]`;
  }
  if (j.outputPath !== `${id}.png`) return `${id}: its output path is not ${id}.png`;
  if (typeof j.promptHash !== 'string' || !/^[0-9a-f]{64}$/.test(j.promptHash)) return `${id}: its prompt hash is not a sha256`;
  if (typeof j.finalPrompt !== 'string' || j.finalPrompt.length === 0 || j.finalPrompt.length > MAX_PROMPT_CHARS) return `${id}: its prompt is empty or longer than ${MAX_PROMPT_CHARS} characters`;
  if (!Number.isSafeInteger(j.order)) return `${id}: its order is not a whole number`;
  for (const ref of j.refs ?? []) {
    if (!ref || typeof ref.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(ref.sha256) || typeof ref.name !== 'string') return `${id}: a reference has no sha256 or name`;
  }
  return undefined;
}
