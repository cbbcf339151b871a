// The job source alone: order, one holder per job, pins and their lapse, and when a wait ends.
import { describe, expect, it } from 'vitest';
import type { Job } from '../prompts/types.js';
import { LocalJobSource } from './job-source.js';

const job = (i: number) => ({ id: `p${i}`, order: i }) as Job;

describe('LocalJobSource', () => {
  it('holds each job once: adding one queued or held adds nothing, and a held one is handed out to nobody else', () => {
    const source = new LocalJobSource(['a', 'b'], { reassignAfterMs: 1000 });
    expect(source.add(job(1))).toBe(true);
    expect(source.add(job(1))).toBe(false);
    const ticket = source.take('a')!;
    expect(ticket.job.id).toBe('p1');
    expect(source.add(job(1))).toBe(false);
    expect(source.take('b')).toBeUndefined();
    source.finish(ticket);
    expect(source.drained).toBe(true);
    expect(source.add(job(1))).toBe(true);
  });

  it('hands out a profile\'s own pinned jobs first, then jobs tried before, then book order', () => {
    const source = new LocalJobSource(['a', 'b'], { reassignAfterMs: 1000 });
    source.add(job(1));
    source.add(job(2), { priority: 2 });
    source.add(job(3), { pin: 'a' });
    source.add(job(4), { pin: 'b' });
    expect(source.take('a')!.job.id).toBe('p3');
    expect(source.take('a')!.job.id).toBe('p2');
    expect(source.take('a')!.job.id).toBe('p1');
    // p4 is b's: a never gets it while b is in the run.
    expect(source.take('a')).toBeUndefined();
    expect(source.take('b')!.job.id).toBe('p4');
  });

  it('a pin to a profile that is gone lapses after reassignAfterMs, and the taker is told to send afresh', () => {
    let now = 10_000;
    const source = new LocalJobSource(['a', 'b'], { reassignAfterMs: 1000, now: () => now });
    source.add(job(1), { pin: 'a', pinnedAt: now });
    source.add(job(2), { pin: 'gone-before', pinnedAt: now - 5000 });
    const moved = source.take('b')!;
    expect(moved.job.id).toBe('p2');
    expect(moved.moved).toBe(true);
    source.retire('a');
    expect(source.take('b')).toBeUndefined();
    expect(source.nextDueFor('b')).toBe(11_000);
    now = 11_000;
    const p1 = source.take('b')!;
    expect(p1.job.id).toBe('p1');
    expect(p1.moved).toBe(true);
    expect(p1.pin).toBeUndefined();
  });

  it('a job put back waits out its backoff; a wait resolves when it is due, and false once the source is drained', async () => {
    const source = new LocalJobSource(['a'], { reassignAfterMs: 1000 });
    source.add(job(1));
    const ticket = source.take('a')!;
    const signal = new AbortController().signal;
    const waiting = source.waitFor('a', signal);
    source.putBack(ticket, { notBefore: Date.now() + 30 });
    expect(source.take('a')).toBeUndefined();
    expect(await waiting).toBe(true);
    const again = source.take('a')!;
    expect(again.priority).toBe(1);
    const ends = source.waitFor('a', signal);
    source.finish(again);
    expect(await ends).toBe(false);
  });

  it('a wait for a profile whose only queued job is pinned to another goes on until that one is done', async () => {
    const source = new LocalJobSource(['a', 'b'], { reassignAfterMs: 1000 });
    source.add(job(1), { pin: 'b' });
    let settled = false;
    const waiting = source.waitFor('a', new AbortController().signal).then((v) => ((settled = true), v));
    source.add(job(2), { pin: 'b' });
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    source.finish(source.take('b')!);
    source.finish(source.take('b')!);
    expect(await waiting).toBe(false);
  });

  it('an aborted wait rejects with the signal\'s reason', async () => {
    const source = new LocalJobSource(['a'], { reassignAfterMs: 1000 });
    source.add(job(1), { notBefore: Date.now() + 60_000 });
    const controller = new AbortController();
    const waiting = source.waitFor('a', controller.signal);
    controller.abort(new Error('stopped'));
    await expect(waiting).rejects.toThrow('stopped');
  });
});
