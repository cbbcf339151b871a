// `semantest-run worker --redis URL --profile NAME --out DIR` (docs/ARCHITECTURE.md §10 "Fleet:
// workers on BullMQ and Redis"): one machine's share of a book enqueued in Redis. It picks the
// book, brings its reference images over, and then runs the ordinary book run with the fleet's link
// as its feed: its own profiles, gates, browsers and journal, under `<checkpoints>/fleet-<profiles>`
// so a worker restarted on the same profiles finds its journal (and its conversations) again.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { RunEvents } from '../events.js';
import { UsageError } from '../protocol/errors.js';
import { PROFILE_NAME, SLUG } from '../prompts/schema.js';
import type { Job, PromptBook, Reference } from '../prompts/types.js';
import { parseBook } from './enqueue.js';
import { BOOKS_KEY, FLEET_PREFIX, fleetJobId, fleetKey, openJobs, queueName, type FleetBook } from './keys.js';
import { FleetLink } from './link.js';
import { connectRedis, loadBullmq, parseRedisUrl, type RedisTarget } from './redis.js';

export interface WorkerSetup {
  readonly file: string;
  readonly checkpointsDir: string;
  readonly loadBook: () => Promise<PromptBook>;
  readonly feedFor: (events: RunEvents) => FleetLink;
  close(): Promise<void>;
}

export interface WorkerArgs {
  readonly redis: string;
  readonly profiles: readonly string[];
  readonly book?: string;
  readonly checkpointsDir: string;
  readonly reassignAfterMs: number;
  /** Said while it waits for a book to be enqueued. */
  readonly say: (line: string) => void;
  readonly signal: AbortSignal;
}

/** Undefined when there is nothing to do (every book done), or it was stopped while waiting. */
export async function openWorker(args: WorkerArgs): Promise<WorkerSetup | undefined> {
  if (args.profiles.length === 0) throw new UsageError('--profile: a worker needs at least one profile (a logged-in account under profiles/)');
  for (const name of args.profiles) {
    if (!PROFILE_NAME.test(name)) throw new UsageError(`--profile: "${name}" is not a profile name (letters, digits, ".", "_" and "-", at most 64)`);
  }
  const target = parseRedisUrl(args.redis);
  const redis = await connectRedis(target);
  try {
    const slug = await pickBook(redis, target, args);
    if (!slug) {
      redis.disconnect();
      return undefined;
    }
    if (!SLUG.test(slug)) throw new UsageError(`--book: "${slug.slice(0, 80)}" is not a book slug (lower-case letters, digits and "-")`);
    const fleetBook = parseBook(await redis.get(fleetKey(slug, 'book')), slug);
    if (!fleetBook) throw new UsageError(`--book: "${slug}" is not a book enqueued on ${target.display}`);
    const checkpointsDir = path.join(args.checkpointsDir, `fleet-${args.profiles.join('+')}`);
    const refsDir = path.join(args.checkpointsDir, 'fleet-refs', slug);
    const localize = await referenceLocalizer(redis, slug, refsDir, fleetBook);
    const jobs = fleetBook.jobs.map(localize);
    const results = new Set(await redis.hkeys(fleetKey(slug, 'results')));
    const expected = jobs.filter((job) => !results.has(fleetJobId(job))).length;
    const book: PromptBook = { ...fleetBook.book, file: fleetBook.file, jobs };
    const worker = `${hostname()}#${process.pid}`;
    const lockMs = Number(process.env.SEMANTEST_FLEET_LOCK_MS) || undefined;
    const bullmq = await loadBullmq();
    return {
      file: fleetBook.file,
      checkpointsDir,
      loadBook: async () => book,
      feedFor: (events) =>
        new FleetLink({ bullmq, redis, connection: target.connection, book: slug, profiles: args.profiles, worker, reassignAfterMs: args.reassignAfterMs, lockMs, expected, localize, jobs, events }),
      close: async () => void redis.disconnect(),
    };
  } catch (error) {
    redis.disconnect();
    throw error;
  }
}

/** The book to work on: --book, else the oldest enqueued one with work left; waits while none is enqueued yet. */
async function pickBook(redis: Redis, target: RedisTarget, args: WorkerArgs): Promise<string | undefined> {
  let said = false;
  while (!args.signal.aborted) {
    const books = args.book ? [args.book] : await redis.zrange(BOOKS_KEY, '0', '-1');
    for (const slug of books) {
      if (await hasWork(slug, target)) return slug;
    }
    if (books.length > 0) {
      args.say(args.book ? `nothing left to do in "${args.book}" on ${target.display}` : `nothing left to do: every book on ${target.display} is done`);
      return undefined;
    }
    if (!said) args.say(`waiting for a book on ${target.display} (semantest-run enqueue <file> --redis ${target.display})`);
    said = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2_000);
      args.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
  }
  return undefined;
}

async function hasWork(slug: string, target: RedisTarget): Promise<boolean> {
  const { Queue } = await loadBullmq();
  const queue = new Queue(queueName(slug), { connection: target.connection, prefix: FLEET_PREFIX });
  queue.on('error', () => undefined);
  try {
    return (await openJobs(queue)) > 0;
  } finally {
    await queue.close();
  }
}

/**
 * Writes each reference image of the book from Redis into `dir/<sha256>/<name>` (checked against its
 * sha256: a file is only what its hash says) and returns what points a job's references there.
 */
async function referenceLocalizer(redis: Redis, slug: string, dir: string, book: FleetBook): Promise<(job: Job) => Job> {
  const local = new Map<string, string>();
  const fetchRef = async (ref: Reference): Promise<string> => {
    const known = local.get(ref.sha256);
    if (known) return known;
    if (!/^[0-9a-f]{64}$/.test(ref.sha256)) throw new UsageError(`the fleet's book "${slug}" names a reference with a bad sha256 (${ref.sha256.slice(0, 80)})`);
    const name = path.basename(ref.name).replace(/[^A-Za-z0-9._()-]/g, '_').slice(0, 120) || 'reference.png';
    const file = path.join(dir, ref.sha256, name);
    const have = await readFile(file).catch(() => undefined);
    if (!have || sha256(have) !== ref.sha256) {
      const bytes = await redis.getBuffer(fleetKey(slug, 'ref', ref.sha256));
      if (!bytes || sha256(bytes) !== ref.sha256) throw new UsageError(`the fleet's book "${slug}": the reference ${ref.name} (${ref.character}) is missing in Redis or not what its hash says; enqueue the file again`);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(`${file}.tmp`, bytes);
      await rename(`${file}.tmp`, file);
    }
    local.set(ref.sha256, file);
    return file;
  };
  for (const job of book.jobs) for (const ref of job.refs ?? []) await fetchRef(ref);
  // A job enqueued after this worker started may name references this book did not: those are read when the link takes it.
  return (job: Job): Job => {
    if (!job.refs?.length) return job;
    return { ...job, refs: job.refs.map((ref) => ({ ...ref, file: local.get(ref.sha256) ?? ref.file })) };
  };
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
