// Random workloads in virtual time: the pacing rules must hold whatever the mix of job lengths,
// retries and crashes, and every job must get through.

import { setMaxListeners } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../../test/support/fake-clock.js';
import { Gate, type GateOptions, type GateState } from './gate.js';

// Gate times come from float additions; a gap may land an ulp short.
const EPS = 1e-6;

type Pacing = Omit<GateOptions, 'clock' | 'random'>;

interface Workload {
  pacing: Pacing;
  jobs: { durationMs: number; retryDelaysMs: number[] }[];
  /** Each restart: run this long, crash (in-flight jobs are lost), stay down, then restore. */
  restarts: { afterMs: number; downMs: number }[];
  seed: number;
}

const workload: fc.Arbitrary<Workload> = fc.record({
  pacing: fc.record({
    concurrency: fc.integer({ min: 1, max: 4 }),
    minGapMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 10_000 })),
    jitterMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5_000 })),
    cooldownEvery: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 6 })),
    cooldownMs: fc.integer({ min: 0, max: 60_000 }),
  }),
  jobs: fc.array(
    fc.record({
      durationMs: fc.integer({ min: 0, max: 40_000 }),
      retryDelaysMs: fc.array(fc.integer({ min: 0, max: 120_000 }), { maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 14 },
  ),
  restarts: fc.array(
    fc.record({ afterMs: fc.integer({ min: 0, max: 90_000 }), downMs: fc.integer({ min: 0, max: 20_000 }) }),
    { maxLength: 4 },
  ),
  seed: fc.integer(),
});

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface JobRun {
  id: number;
  durationMs: number;
  retryDelaysMs: number[];
  notBefore?: number;
  done: boolean;
}

interface Start {
  at: number;
  job: number;
  generation: number;
}

/** One gate's life, from restore to crash (or the end of the work); what the checks look at. */
interface Generation {
  gate: Gate;
  running: number;
  waiting: Map<JobRun, number>;
  lastGapMs: number;
}

async function simulate(w: Workload) {
  const clock = new FakeClock();
  const random = mulberry32(w.seed);
  const starts: Start[] = [];
  const jobs: JobRun[] = w.jobs.map((j, id) => ({ id, ...j, retryDelaysMs: [...j.retryDelaysMs], done: false }));
  let current: Generation | undefined;
  let finished = false;

  const run = async () => {
    let restored: GateState | undefined;
    for (let generation = 0; jobs.some((j) => !j.done); generation++) {
      const restart = w.restarts[generation];
      const gen: Generation = {
        gate: undefined as unknown as Gate,
        running: 0,
        waiting: new Map(),
        lastGapMs: 0,
      };
      const recordingRandom = () => {
        const r = random();
        gen.lastGapMs = w.pacing.minGapMs + r * w.pacing.jitterMs;
        return r;
      };
      gen.gate = new Gate({ ...w.pacing, clock, random: recordingRandom }, restored);
      gen.gate.onChange((event) => {
        if (event.type === 'start') expect(event.inFlight).toBeLessThanOrEqual(w.pacing.concurrency);
      });
      current = gen;
      const crash = new AbortController();
      setMaxListeners(0, crash.signal);
      const ended = new AbortController();
      if (restart) clock.sleep(restart.afterMs, ended.signal).then(() => crash.abort(), () => {});

      const work = async (job: JobRun) => {
        for (;;) {
          gen.waiting.set(job, job.notBefore ?? -Infinity);
          let slot;
          try {
            slot = await gen.gate.acquire({ notBefore: job.notBefore, signal: crash.signal });
          } catch {
            return;
          } finally {
            gen.waiting.delete(job);
          }
          const at = clock.now();
          starts.push({ at, job: job.id, generation });
          expect(at).toBeGreaterThanOrEqual(job.notBefore ?? -Infinity);
          gen.running++;
          expect(gen.running).toBeLessThanOrEqual(w.pacing.concurrency);
          try {
            await clock.sleep(job.durationMs, crash.signal);
          } catch {
            return;
          } finally {
            gen.running--;
          }
          slot.release();
          const delay = job.retryDelaysMs.shift();
          if (delay === undefined) {
            job.done = true;
            return;
          }
          job.notBefore = clock.now() + delay;
        }
      };
      await Promise.all(jobs.filter((j) => !j.done).map(work));
      ended.abort();
      current = undefined;
      restored = gen.gate.state();
      if (restart) await clock.sleep(restart.downMs);
    }
  };

  const done = run().finally(() => (finished = true));
  for (let steps = 0; !finished; steps++) {
    await settle();
    if (finished) break;
    if (current) expectNoIdleStart(current, clock.now(), w.pacing);
    const moved = await clock.next();
    if (!moved && !finished) throw new Error('Hang: jobs are left but nothing is scheduled.');
    if (steps > 10_000) throw new Error('Runaway: too many timer wake-ups.');
  }
  await done;
  return { starts, jobs };
}

/** Nothing may sit idle while a slot is free, pacing allows a start and some job's time has come. */
function expectNoIdleStart(gen: Generation, now: number, pacing: Pacing): void {
  expect(gen.gate.inFlight).toBe(gen.running);
  const eligible = [...gen.waiting.values()].some((notBefore) => notBefore <= now - EPS);
  if (!eligible || gen.running >= pacing.concurrency) return;
  const { lastStartAt, startsSinceCooldown } = gen.gate.state();
  if (lastStartAt === undefined) throw new Error('A job waits with nothing in flight and no start yet.');
  const cooldown =
    pacing.cooldownEvery > 0 && startsSinceCooldown >= pacing.cooldownEvery ? pacing.cooldownMs : 0;
  expect(now).toBeLessThan(lastStartAt + Math.max(gen.lastGapMs, cooldown) + EPS);
}

describe('Gate under random workloads', () => {
  it('keeps every pacing rule across retries and restarts, and starts every job', async () => {
    await fc.assert(
      fc.asyncProperty(workload, async (w) => {
        const { starts, jobs } = await simulate(w);
        const { minGapMs, cooldownEvery, cooldownMs } = w.pacing;

        expect(jobs.every((j) => j.done)).toBe(true);
        for (let i = 1; i < starts.length; i++) {
          const gap = starts[i].at - starts[i - 1].at;
          expect(gap).toBeGreaterThanOrEqual(minGapMs - EPS);
          // Start kN+1 (1-based) follows the kN-th by a cooldown, counted across restarts.
          if (cooldownEvery > 0 && i % cooldownEvery === 0) expect(gap).toBeGreaterThanOrEqual(cooldownMs - EPS);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never fires a burst in a crash loop', async () => {
    const crashLoop = workload.map((w) => ({
      ...w,
      restarts: Array.from({ length: 8 }, () => ({ afterMs: 0, downMs: 0 })).concat(w.restarts),
    }));
    await fc.assert(
      fc.asyncProperty(crashLoop, async (w) => {
        const { starts } = await simulate(w);
        for (let i = 1; i < starts.length; i++) {
          expect(starts[i].at - starts[i - 1].at).toBeGreaterThanOrEqual(w.pacing.minGapMs - EPS);
        }
      }),
      { numRuns: 100 },
    );
  });
});
