// A fleet's book in a real Redis as its workers leave it (src/fleet/keys.ts), written by hand: the
// book enqueued as `enqueue` does, then results, pins, beats, refusals and a BullMQ failure as the
// fleet's link (src/fleet/link.ts) writes them. For the tests of `status --redis` and `report --redis`.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { enqueueBook, parseBook } from '../../src/fleet/enqueue.js';
import { FLEET_PREFIX, fleetJobId, fleetKey, queueName, type FleetResult, type Pin, type ProfileBeat, type Refused } from '../../src/fleet/keys.js';
import type { FleetJobData } from '../../src/fleet/link.js';
import { connectRedis, parseRedisUrl, type RedisTarget } from '../../src/fleet/redis.js';
import { startRedis, type RedisServer } from './redis.js';
import type { Job } from '../../src/prompts/types.js';

/**
 * One real redis-server for the test file (started once, emptied before each test) and a fresh
 * folder per test: `set` receives them before each test.
 */
export function useFleetRedis(prefix: string, set: (fleet: { server: RedisServer; target: RedisTarget; redis: Redis; dir: string }) => void): void {
  let server: RedisServer | undefined;
  let target: RedisTarget;
  let redis: Redis | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    server = await startRedis();
    target = parseRedisUrl(server.url);
    redis = await connectRedis(target);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  beforeEach(async () => {
    await redis!.flushall();
    dir = await mkdtemp(path.join(tmpdir(), prefix));
    set({ server: server!, target, redis: redis!, dir });
  });
  afterEach(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));
}

/** Writes a prompt file of `count` panels and enqueues it; the book's jobs in book order. */
export async function enqueueFleetBook(redis: Redis, target: RedisTarget, dir: string, book: string, count: number): Promise<{ file: string; jobs: Job[] }> {
  const file = path.join(dir, `${book}.yaml`);
  const prompts = Array.from({ length: count }, (_, i) => `  - "panel ${i + 1}: the harbour at hour ${i}"`).join('\n');
  await writeFile(file, `book: ${book}\nprompts:\n${prompts}\n`);
  await enqueueBook({ file, out: path.join(dir, 'output'), redis, target });
  const jobs = parseBook(await redis.get(fleetKey(book, 'book')))!.jobs;
  return { file, jobs: [...jobs].sort((a, b) => a.order - b.order) };
}

export function resultOf(job: Job, made: { profile: string; worker: string; host?: string; file?: string; sha256?: string; at?: number; promptHash?: string }): FleetResult {
  const promptHash = made.promptHash ?? job.promptHash;
  return {
    jobId: fleetJobId({ id: job.id, promptHash }),
    panel: job.id,
    promptHash,
    file: made.file ?? `/srv/${made.profile}/output/${job.outputPath}`,
    outputPath: job.outputPath,
    sha256: made.sha256 ?? 'ab'.repeat(32),
    sidecar: `${made.file ?? `/srv/${made.profile}/output/${job.outputPath}`}.json`,
    host: made.host ?? made.worker.split('#')[0],
    worker: made.worker,
    profile: made.profile,
    verifiedAt: made.at ?? Date.now(),
  };
}

/** HSETNX, as a worker reports its result. */
export async function writeResult(redis: Redis, book: string, result: FleetResult): Promise<void> {
  await redis.hsetnx(fleetKey(book, 'results'), result.jobId, JSON.stringify(result));
}

export async function writeRefused(redis: Redis, book: string, refused: Refused): Promise<void> {
  await redis.rpush(fleetKey(book, 'refused'), JSON.stringify(refused));
}

export async function writePin(redis: Redis, book: string, job: Job, pin: Pin): Promise<void> {
  await redis.hset(fleetKey(book, 'pins'), fleetJobId(job), JSON.stringify(pin));
}

export async function writeBeat(redis: Redis, book: string, beat: Partial<ProfileBeat> & { profile: string; worker: string }): Promise<void> {
  const full: ProfileBeat = { host: beat.worker.split('#')[0], pid: Number(beat.worker.split('#')[1] ?? 1), seen: Date.now(), state: 'working', doing: [], verified: 0, ...beat };
  await redis.hset(fleetKey(book, 'profiles'), beat.profile, JSON.stringify(full));
}

/** Takes the book's next waiting job (the first in book order) and fails it for good, as the link does. */
export async function failNextJob(target: RedisTarget, book: string, reason: string): Promise<string> {
  const worker = new Worker<FleetJobData>(queueName(book), null, { connection: target.connection, prefix: FLEET_PREFIX, autorun: false });
  try {
    const bull = await worker.getNextJob('seed', { block: false });
    if (!bull) throw new Error(`no waiting job in ${book} to fail`);
    await bull.moveToFailed(new Error(reason), 'seed', false);
    return bull.id!;
  } finally {
    await worker.close();
  }
}

/**
 * Six panels, one of each kind: [0] failed (policy), [1] verified by a on alpha#11, [2] verified by
 * b on beta#22 (and a second result by a, refused), [3] in flight on a, [4] only an older prompt's
 * image (by b), [5] queued. Profile a works, b is paused for a usage cap, c has not beaten for a minute.
 */
export async function seedMixedFleet(redis: Redis, target: RedisTarget, dir: string, book = 'harbour'): Promise<{ file: string; jobs: Job[]; now: number }> {
  const { file, jobs } = await enqueueFleetBook(redis, target, dir, book, 6);
  const now = Date.now();
  await failNextJob(target, book, 'policy: the page refused to draw this');
  await writeResult(redis, book, resultOf(jobs[1], { profile: 'a', worker: 'alpha#11' }));
  const kept = resultOf(jobs[2], { profile: 'b', worker: 'beta#22' });
  await writeResult(redis, book, kept);
  await writeRefused(redis, book, { ...resultOf(jobs[2], { profile: 'a', worker: 'alpha#11', sha256: 'cd'.repeat(32) }), keptResultOf: 'b on beta#22' });
  await writePin(redis, book, jobs[3], { profile: 'a', worker: 'alpha#11', at: now - 5_000 });
  await writeResult(redis, book, resultOf(jobs[4], { profile: 'b', worker: 'beta#22', promptHash: '0'.repeat(64), at: now - 3_600_000 }));
  await writeBeat(redis, book, { profile: 'a', worker: 'alpha#11', seen: now, doing: [jobs[3].id] });
  await writeBeat(redis, book, { profile: 'b', worker: 'beta#22', seen: now, state: 'paused', until: now + 3_600_000, reason: 'usage cap' });
  await writeBeat(redis, book, { profile: 'c', worker: 'gamma#33', seen: now - 60_000, verified: 4 });
  return { file, jobs, now };
}
