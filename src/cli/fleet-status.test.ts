// `status <file> --redis URL`: the lines a person reads about a fleet's book, from a real
// redis-server (test/support/redis.ts) whose keys are written as the workers write them.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { RedisServer } from '../../test/support/redis.js';
import { enqueueFleetBook, resultOf, seedMixedFleet, useFleetRedis, writeBeat, writeResult } from '../../test/support/fleet-seed.js';
import type { RedisTarget } from '../fleet/redis.js';
import { clockTimeFrom } from '../report/format.js';
import { printStatus } from './status.js';

let server: RedisServer;
let target: RedisTarget;
let redis: Redis;
let dir: string;

useFleetRedis('fleet-status-', (fleet) => ({ server, target, redis, dir } = fleet));

async function status(file: string, url = server.url): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  // No checkpoint folder: the fleet's status reads nothing of this machine's.
  const code = await printStatus(file, path.join(dir, 'no-checkpoints'), (l) => lines.push(l), { profilesDir: path.join(dir, 'no-profiles'), redis: url });
  return { code, lines };
}

describe('status --redis', () => {
  it('shows a 60-panel book made by two workers as 60 verified, and who made them', async () => {
    const { file, jobs } = await enqueueFleetBook(redis, target, dir, 'fleet60', 60);
    for (const [i, job] of jobs.entries()) await writeResult(redis, 'fleet60', resultOf(job, i < 31 ? { profile: 'a', worker: 'alpha#1' } : { profile: 'b', worker: 'beta#2' }));
    await writeBeat(redis, 'fleet60', { profile: 'a', worker: 'alpha#1', state: 'finished', verified: 31 });
    await writeBeat(redis, 'fleet60', { profile: 'b', worker: 'beta#2', state: 'finished', verified: 29 });
    const { code, lines } = await status(file);
    expect(code).toBe(0);
    expect(lines[0]).toBe(`fleet60: 60 jobs — 60 verified (fleet on ${server.url})`);
    expect(lines).toContain('  made by profile a on alpha#1: 31 panels');
    expect(lines).toContain('  made by profile b on beta#2: 29 panels');
    expect(lines.find((l) => l.startsWith('  profile a (alpha#1): finished at '))).toMatch(/, 31 verified$/);
  });

  it('shows each state, each profile working, paused or gone, failures and refused second results', async () => {
    const { file, jobs, now } = await seedMixedFleet(redis, target, dir);
    const { lines } = await status(file);
    expect(lines[0]).toBe(`harbour: 6 jobs — 2 verified, 1 failed, 1 in flight, 1 stale, 1 queued (fleet on ${server.url})`);
    expect(lines).toContain(`  profile a (alpha#11): working, 1 in flight (${jobs[3].id}), 1 verified`);
    expect(lines).toContain(`  profile b (beta#22): paused until ${clockTimeFrom(now + 3_600_000, Date.now())} (usage cap), 1 verified`);
    const gone = `  profile c (gamma#33): gone since ${clockTimeFrom(now - 60_000, Date.now())} (no beat for `;
    expect(lines.find((l) => l.startsWith(gone))).toMatch(/\(no beat for 1m 0\ds\), 0 verified$/);
    expect(lines).toContain(`  ${jobs[0].id} failed: policy: the page refused to draw this (retry it from the fleet's dashboard)`);
    expect(lines).toContain(`  ${jobs[2].id}: a second result by profile a on alpha#11 was refused (b on beta#22 verified it first); its image stays on alpha at /srv/a/output/${jobs[2].outputPath}`);
    expect(lines).toContain('  1 panel has only an image of an older prompt: the changed prompt is queued');
  });

  it('says when the prompt file has panels the fleet does not have, and when the book is not enqueued', async () => {
    const { file } = await enqueueFleetBook(redis, target, dir, 'harbour', 3);
    await writeFile(file, 'book: harbour\nprompts:\n  - "panel 1: the harbour at hour 0"\n  - "panel 2: changed"\n  - "panel 3: the harbour at hour 2"\n  - "panel 4: new"\n');
    const { lines } = await status(file);
    expect(lines[0]).toBe(`harbour: 3 jobs — 3 queued (fleet on ${server.url})`);
    expect(lines[1]).toMatch(/^ {2}the prompt file has 2 panels the fleet does not have \(new or changed since it was enqueued .+\): enqueue it again to make them$/);

    const other = path.join(dir, 'other.yaml');
    await writeFile(other, 'book: other\nprompts:\n  - "a lighthouse"\n');
    const not = await status(other);
    expect(not.code).toBe(0);
    expect(not.lines).toEqual([`other: not enqueued on ${server.url} (1 job in the file; semantest-run enqueue ${other} --redis URL makes them known to the fleet)`]);
  });

  it('names --redis when Redis cannot be reached or the URL is not Redis', async () => {
    const { file } = await enqueueFleetBook(redis, target, dir, 'harbour', 1);
    await expect(status(file, 'http://127.0.0.1:1')).rejects.toThrow(/--redis: http:\/\/ is not Redis/);
    await expect(status(file, 'redis://127.0.0.1:1')).rejects.toThrow(/--redis: cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
  });
});
