// The fleet's view of a book (status and report --redis) read from a real redis-server
// (test/support/redis.ts), its keys written by hand as the workers write them.
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { enqueueFleetBook, resultOf, seedMixedFleet, useFleetRedis, writeResult } from '../../test/support/fleet-seed.js';
import { fleetJobId } from './keys.js';
import type { RedisTarget } from './redis.js';
import { GONE_AFTER_MS, readFleetView } from './view.js';

let target: RedisTarget;
let redis: Redis;
let dir: string;

useFleetRedis('fleet-view-', (fleet) => ({ target, redis, dir } = fleet));

describe('readFleetView', () => {
  it('is undefined for a book never enqueued', async () => {
    expect(await readFleetView(redis, target, 'nowhere')).toBeUndefined();
  });

  it('gives each panel its fleet state, in book order, with who made or holds it', async () => {
    const { jobs, now } = await seedMixedFleet(redis, target, dir);
    const view = (await readFleetView(redis, target, 'harbour', { now }))!;
    expect(view.panels.map((p) => [p.job.id, p.state])).toEqual([
      [jobs[0].id, 'failed'],
      [jobs[1].id, 'verified'],
      [jobs[2].id, 'verified'],
      [jobs[3].id, 'in-flight'],
      [jobs[4].id, 'stale'],
      [jobs[5].id, 'queued'],
    ]);
    expect(view.counts).toEqual({ verified: 2, failed: 1, 'in-flight': 1, stale: 1, queued: 1 });
    expect(view.panels[0].failedReason).toBe('policy: the page refused to draw this');
    expect(view.panels[1].result).toMatchObject({ profile: 'a', worker: 'alpha#11', host: 'alpha', file: `/srv/a/output/${jobs[1].outputPath}` });
    // The first result is the one kept; the second is only in the refused list.
    expect(view.panels[2].result).toMatchObject({ profile: 'b', worker: 'beta#22' });
    expect(view.refused).toEqual([expect.objectContaining({ panel: jobs[2].id, profile: 'a', keptResultOf: 'b on beta#22' })]);
    expect(view.panels[3].pin).toMatchObject({ profile: 'a', worker: 'alpha#11' });
    expect(view.panels[4].staleResult).toMatchObject({ profile: 'b', promptHash: '0'.repeat(64) });
    expect(view.panels[4].result).toBeUndefined();
    expect(view.makers).toEqual([
      { worker: 'alpha#11', host: 'alpha', profile: 'a', panels: 1 },
      { worker: 'beta#22', host: 'beta', profile: 'b', panels: 1 },
    ]);
    // BullMQ's own counts: one failed, the other five waiting (a result is written by hand, the job not completed).
    expect(view.queue).toMatchObject({ failed: 1, waiting: 5 });
  });

  it("gives each profile its beat, its verified panels from the results, and says a silent one is gone", async () => {
    const { jobs, now } = await seedMixedFleet(redis, target, dir);
    const view = (await readFleetView(redis, target, 'harbour', { now }))!;
    const byName = Object.fromEntries(view.profiles.map((p) => [p.beat.profile, p]));
    expect(Object.keys(byName)).toEqual(['a', 'b', 'c']);
    expect(byName.a).toMatchObject({ gone: false, verified: 1, pinned: 1, beat: { state: 'working', doing: [jobs[3].id] } });
    expect(byName.b).toMatchObject({ gone: false, verified: 1, beat: { state: 'paused', until: now + 3_600_000, reason: 'usage cap' } });
    // c said it made 4 (since its worker started), but none of this book's current panels is its.
    expect(byName.c).toMatchObject({ gone: true, verified: 0, ageMs: 60_000 });
    // Just inside three beats is still alive; a stopped worker is stopped, not gone.
    const later = (await readFleetView(redis, target, 'harbour', { now: now + GONE_AFTER_MS }))!;
    expect(later.profiles.find((p) => p.beat.profile === 'a')!.gone).toBe(false);
    const much = (await readFleetView(redis, target, 'harbour', { now: now + GONE_AFTER_MS + 1 }))!;
    expect(much.profiles.find((p) => p.beat.profile === 'a')!.gone).toBe(true);
  });

  it('counts a 60-panel book done by two workers as 60 verified, none twice', async () => {
    const { jobs } = await enqueueFleetBook(redis, target, dir, 'fleet60', 60);
    for (const [i, job] of jobs.entries()) await writeResult(redis, 'fleet60', resultOf(job, i % 2 ? { profile: 'a', worker: 'alpha#1' } : { profile: 'b', worker: 'beta#2' }));
    // A second report of a verified panel (HSETNX) changes nothing.
    await writeResult(redis, 'fleet60', resultOf(jobs[0], { profile: 'a', worker: 'alpha#1' }));
    const view = (await readFleetView(redis, target, 'fleet60'))!;
    expect(view.panels).toHaveLength(60);
    expect(view.counts).toEqual({ verified: 60, failed: 0, 'in-flight': 0, stale: 0, queued: 0 });
    expect(view.makers.map((m) => [m.profile, m.panels])).toEqual([
      ['a', 30],
      ['b', 30],
    ]);
    expect(new Set(view.panels.map((p) => p.jobId))).toEqual(new Set(jobs.map((j) => fleetJobId(j))));
  });

  it('skips a beat or result it cannot read instead of failing', async () => {
    const { jobs } = await enqueueFleetBook(redis, target, dir, 'torn', 2);
    await redis.hset('semantest:fleet:torn:results', fleetJobId(jobs[0]), '{"panel":');
    await redis.hset('semantest:fleet:torn:profiles', 'x', 'not json');
    const view = (await readFleetView(redis, target, 'torn'))!;
    expect(view.counts.queued).toBe(2);
    expect(view.profiles).toEqual([]);
  });
});
