// `semantest-run enqueue <file> --redis URL` (docs/ARCHITECTURE.md §10 "Fleet: workers on BullMQ and
// Redis"): makes a book's jobs known to the fleet. One BullMQ job per panel and prompt hash, so the
// same file enqueued again adds nothing (BullMQ keeps a job id once, done or not), and a panel whose
// prompt changed is a new job, its old one withdrawn if no worker has it yet.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { loadPromptFile } from '../prompts/index.js';
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

  const previous = parseBook(await redis.get(fleetKey(book.book, 'book')));
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

export function parseBook(text: string | null): FleetBook | undefined {
  if (!text) return undefined;
  try {
    const book = JSON.parse(text) as FleetBook;
    return book && book.version === 1 && Array.isArray(book.jobs) ? book : undefined;
  } catch {
    return undefined;
  }
}
