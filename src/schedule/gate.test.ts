import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../../test/support/fake-clock.js';
import { Gate, type GateEvent, type GateOptions, type GateState, type Slot } from './gate.js';

const SECOND = 1000;
const HOUR = 3_600_000;

function setup(options: Partial<GateOptions> = {}, restore?: (t0: number) => GateState) {
  const clock = new FakeClock();
  const t0 = clock.now();
  const gate = new Gate(
    { concurrency: 1, minGapMs: 8 * SECOND, jitterMs: 0, cooldownEvery: 0, cooldownMs: 0, clock, ...options },
    restore?.(t0),
  );
  const events: GateEvent[] = [];
  gate.onChange((event) => events.push(event));
  return { clock, t0, gate, events };
}

/** Acquires and records when the slot arrived, relative to t0. */
function track(gate: Gate, clock: FakeClock, t0: number, options?: Parameters<Gate['acquire']>[0]) {
  const result: { at?: number; slot?: Slot; error?: unknown } = {};
  gate.acquire(options).then(
    (slot) => Object.assign(result, { at: clock.now() - t0, slot }),
    (error: unknown) => Object.assign(result, { error }),
  );
  return result;
}

describe('Gate', () => {
  it('takes a cancelled start back from the pacing, unless a later start came since', async () => {
    const { clock, t0, gate } = setup({ concurrency: 2, cooldownEvery: 5, cooldownMs: HOUR });
    const a = track(gate, clock, t0);
    await settle();
    a.slot!.cancel();
    expect(gate.state()).toEqual({ startsSinceCooldown: 0 });
    // Nothing was sent with the cancelled slot: the next start needs no gap after it.
    const b = track(gate, clock, t0);
    await settle();
    expect(b.at).toBe(0);
    const c = track(gate, clock, t0);
    await clock.advance(8 * SECOND);
    expect(c.at).toBe(8 * SECOND);
    // b's start is no longer the latest: cancelling it frees the slot but keeps the pacing.
    b.slot!.cancel();
    b.slot!.release();
    expect(gate.inFlight).toBe(1);
    expect(gate.state()).toEqual({ startsSinceCooldown: 2, lastStartAt: t0 + 8 * SECOND });
  });

  it('starts the first job at once and the next one a full gap later', async () => {
    const { clock, t0, gate } = setup({ concurrency: 3 });
    const a = track(gate, clock, t0);
    const b = track(gate, clock, t0);
    await settle();
    expect(a.at).toBe(0);
    expect(b.at).toBeUndefined();
    await clock.advance(8 * SECOND - 1);
    expect(b.at).toBeUndefined();
    await clock.advance(1);
    expect(b.at).toBe(8 * SECOND);
  });

  it('adds random() × jitterMs to each gap', async () => {
    const { clock, t0, gate } = setup({ concurrency: 3, jitterMs: 2 * SECOND, random: () => 0.25 });
    const starts = [track(gate, clock, t0), track(gate, clock, t0), track(gate, clock, t0)];
    await clock.advance(HOUR);
    expect(starts.map((s) => s.at)).toEqual([0, 8500, 17_000]);
  });

  it('lets everything through at once when pacing is all zeros, up to the concurrency', async () => {
    const { clock, t0, gate } = setup({ concurrency: 3, minGapMs: 0 });
    const starts = Array.from({ length: 5 }, () => track(gate, clock, t0));
    await settle();
    expect(starts.map((s) => s.at)).toEqual([0, 0, 0, undefined, undefined]);
    expect(gate.inFlight).toBe(3);
    starts[1].slot!.release();
    await settle();
    expect(starts[3].at).toBe(0);
    expect(starts[4].at).toBeUndefined();
  });

  it('never has more than `concurrency` jobs in flight', async () => {
    const { clock, t0, gate, events } = setup({ concurrency: 2, minGapMs: SECOND });
    const starts = Array.from({ length: 3 }, () => track(gate, clock, t0));
    await clock.advance(HOUR);
    expect(starts.map((s) => s.at)).toEqual([0, SECOND, undefined]);
    expect(events).toContainEqual({ type: 'wait', until: t0 + 2 * SECOND, reason: 'slot' });
    starts[0].slot!.release();
    await settle();
    expect(starts[2].at).toBe(HOUR);
  });

  it('waits cooldownMs after every N-th start', async () => {
    const { clock, t0, gate, events } = setup({ concurrency: 9, cooldownEvery: 2, cooldownMs: 60 * SECOND });
    const starts = Array.from({ length: 5 }, () => track(gate, clock, t0));
    await clock.advance(HOUR);
    expect(starts.map((s) => s.at)).toEqual([0, 8, 68, 76, 136].map((s) => s * SECOND));
    expect(events).toContainEqual({ type: 'cooldown', until: t0 + 68 * SECOND });
    expect(events).toContainEqual({ type: 'wait', until: t0 + 68 * SECOND, reason: 'cooldown' });
    expect(gate.state().startsSinceCooldown).toBe(1);
  });

  it('does not let a job waiting for its retry time hold the slot', async () => {
    const { clock, t0, gate, events } = setup();
    const retry = track(gate, clock, t0, { notBefore: t0 + HOUR });
    const fresh = track(gate, clock, t0);
    await settle();
    expect(fresh.at).toBe(0);
    expect(gate.inFlight).toBe(1);
    fresh.slot!.release();
    await clock.advance(HOUR);
    expect(retry.at).toBe(HOUR);
    expect(events).toContainEqual({ type: 'wait', until: t0 + HOUR, reason: 'backoff' });
  });

  it('serves waiters in arrival order, higher priority first', async () => {
    const { clock, t0, gate } = setup({ minGapMs: 0 });
    const first = track(gate, clock, t0);
    await settle();
    const order: string[] = [];
    for (const [name, priority] of [['a', 0], ['b', 0], ['urgent', 1], ['c', 0]] as const) {
      gate.acquire({ priority }).then((slot) => {
        order.push(name);
        slot.release();
      });
    }
    first.slot!.release();
    await clock.advance(SECOND);
    expect(order).toEqual(['urgent', 'a', 'b', 'c']);
  });

  it('rejects an aborted wait with the signal’s reason and holds nothing afterwards', async () => {
    const { clock, t0, gate } = setup({ concurrency: 1 });
    const running = track(gate, clock, t0);
    const controller = new AbortController();
    const aborted = track(gate, clock, t0, { signal: controller.signal });
    const next = track(gate, clock, t0);
    await settle();
    const reason = new Error('stop');
    controller.abort(reason);
    await settle();
    expect(aborted.error).toBe(reason);
    running.slot!.release();
    await clock.advance(8 * SECOND);
    expect(next.at).toBe(8 * SECOND);
    next.slot!.release();
    expect(gate.inFlight).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('leaves no timer behind when the last waiter gives up', async () => {
    const { clock, t0, gate } = setup({ concurrency: 2 });
    track(gate, clock, t0);
    const controller = new AbortController();
    track(gate, clock, t0, { signal: controller.signal, notBefore: t0 + HOUR });
    await settle();
    expect(clock.pending).toBe(1);
    controller.abort();
    await settle();
    expect(clock.pending).toBe(0);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const { gate } = setup();
    const reason = new Error('already');
    await expect(gate.acquire({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(gate.inFlight).toBe(0);
  });

  it('ignores an abort after the slot was handed over, and a second release', async () => {
    const { gate } = setup({ concurrency: 2, minGapMs: 0 });
    const controller = new AbortController();
    const slot = await gate.acquire({ signal: controller.signal });
    controller.abort();
    expect(gate.inFlight).toBe(1);
    slot.release();
    slot.release();
    expect(gate.inFlight).toBe(0);
  });

  it('extends a pause but never shortens it unless forced', async () => {
    const { clock, t0, gate, events } = setup();
    gate.pauseUntil(t0 + HOUR, 'quota');
    gate.pauseUntil(t0 + 10 * SECOND, 'cooldown');
    expect(gate.state()).toMatchObject({ pauseUntil: t0 + HOUR, pauseReason: 'quota' });
    gate.pauseUntil(t0 + 2 * HOUR, 'quota');
    expect(gate.state().pauseUntil).toBe(t0 + 2 * HOUR);
    const job = track(gate, clock, t0);
    await clock.advance(HOUR);
    expect(job.at).toBeUndefined();
    expect(events).toContainEqual({ type: 'wait', until: t0 + 2 * HOUR, reason: 'pause' });
    gate.pauseUntil(clock.now() + SECOND, 'manual', { force: true });
    await clock.advance(SECOND);
    expect(job.at).toBe(HOUR + SECOND);
    expect(gate.state().pauseUntil).toBeUndefined();
    expect(events.filter((e) => e.type === 'pause')).toHaveLength(3);
  });

  it('keeps one timer however many jobs wait, and wakes once at the end of a long pause', async () => {
    const { clock, t0, gate } = setup({ concurrency: 5, minGapMs: 0 });
    let sleeps = 0;
    const sleep = clock.sleep.bind(clock);
    clock.sleep = (ms, signal) => {
      sleeps++;
      return sleep(ms, signal);
    };
    gate.pauseUntil(t0 + 10 * HOUR, 'quota');
    const jobs = Array.from({ length: 5 }, () => track(gate, clock, t0));
    await settle();
    expect(clock.pending).toBe(1);
    await clock.advance(10 * HOUR);
    expect(jobs.map((j) => j.at)).toEqual(Array(5).fill(10 * HOUR));
    expect(sleeps).toBe(1);
    expect(clock.pending).toBe(0);
  });

  describe('restored from the journal', () => {
    it('keeps the gap from the last start before the restart', async () => {
      const { clock, t0, gate } = setup({}, (t0) => ({ lastStartAt: t0 - 3 * SECOND, startsSinceCooldown: 4 }));
      const job = track(gate, clock, t0);
      await clock.advance(HOUR);
      expect(job.at).toBe(5 * SECOND);
    });

    it('keeps the cooldown count, so a crash loop cannot skip a cooldown', async () => {
      const { clock, t0, gate } = setup({ cooldownEvery: 3, cooldownMs: 60 * SECOND }, (t0) => ({
        lastStartAt: t0 - 10 * SECOND,
        startsSinceCooldown: 3,
      }));
      const job = track(gate, clock, t0);
      await clock.advance(HOUR);
      expect(job.at).toBe(50 * SECOND);
      expect(gate.state().startsSinceCooldown).toBe(1);
    });

    it('honours a pause that is still running', async () => {
      const { clock, t0, gate } = setup({}, (t0) => ({
        startsSinceCooldown: 0,
        pauseUntil: t0 + HOUR,
        pauseReason: 'quota',
      }));
      expect(gate.state()).toMatchObject({ pauseUntil: t0 + HOUR, pauseReason: 'quota' });
      const job = track(gate, clock, t0);
      await clock.advance(2 * HOUR);
      expect(job.at).toBe(HOUR);
    });

    it('treats a last start in the future (the clock stepped back) as now, not as a long wait', async () => {
      const { clock, t0, gate } = setup({}, (t0) => ({ lastStartAt: t0 + 24 * HOUR, startsSinceCooldown: 0 }));
      expect(gate.state().lastStartAt).toBe(t0);
      const job = track(gate, clock, t0);
      await clock.advance(HOUR);
      expect(job.at).toBe(8 * SECOND);
    });
  });

  it('does not stall when the wall clock steps back during a run', async () => {
    const { clock, t0, gate } = setup({ concurrency: 2 });
    track(gate, clock, t0);
    await settle();
    clock.jump(t0 - 24 * HOUR);
    const job = track(gate, clock, t0 - 24 * HOUR);
    await clock.advance(HOUR);
    expect(job.at).toBe(8 * SECOND);
  });

  it('reports starts with the number in flight', async () => {
    const { t0, gate, events } = setup({ concurrency: 2, minGapMs: 0 });
    await gate.acquire();
    await gate.acquire();
    expect(events.filter((e) => e.type === 'start')).toEqual([
      { type: 'start', at: t0, inFlight: 1 },
      { type: 'start', at: t0, inFlight: 2 },
    ]);
  });

  it('explains bad options in a sentence', () => {
    const base = { concurrency: 1, minGapMs: 0, jitterMs: 0, cooldownEvery: 0, cooldownMs: 0 };
    expect(() => new Gate({ ...base, concurrency: 0 })).toThrow('Expected `concurrency` to be a positive integer.');
    expect(() => new Gate({ ...base, minGapMs: -1 })).toThrow('Expected `minGapMs` to be a non-negative number.');
    expect(() => new Gate({ ...base, jitterMs: NaN })).toThrow('Expected `jitterMs` to be a non-negative number.');
    expect(() => new Gate({ ...base, cooldownEvery: 1.5 })).toThrow(
      'Expected `cooldownEvery` to be a non-negative integer.',
    );
    expect(() => new Gate(base, { startsSinceCooldown: -1 })).toThrow(
      'Expected restored `startsSinceCooldown` to be a non-negative integer.',
    );
    return expect(new Gate(base).acquire({ notBefore: NaN })).rejects.toThrow(
      'Expected `notBefore` to be a finite number.',
    );
  });

  describe('idealDurationMs', () => {
    const pacing = { concurrency: 1, minGapMs: 8 * SECOND, jitterMs: 2 * SECOND, cooldownEvery: 0, cooldownMs: 0 };

    it('is zero for no jobs and one job’s time for one', () => {
      expect(Gate.idealDurationMs(0, 30 * SECOND, pacing)).toBe(0);
      expect(Gate.idealDurationMs(1, 30 * SECOND, pacing)).toBe(30 * SECOND);
    });

    it('is bound by job time with one slot, and by the mean gap with many', () => {
      expect(Gate.idealDurationMs(10, 30 * SECOND, pacing)).toBe(300 * SECOND);
      expect(Gate.idealDurationMs(10, 30 * SECOND, { ...pacing, concurrency: 10 })).toBe((9 * 9 + 30) * SECOND);
    });

    it('adds the cooldowns', () => {
      const withCooldown = { ...pacing, concurrency: 10, cooldownEvery: 4, cooldownMs: 60 * SECOND };
      // starts at 0, 9, 18, 27, 87, 96, 105, 114, 174, 183; the last one ends 1 s later
      expect(Gate.idealDurationMs(10, SECOND, withCooldown)).toBe(184 * SECOND);
    });
  });
});
