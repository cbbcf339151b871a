// Random histories against a plain in-memory model: whatever mix of events, compactions (automatic,
// explicit, or dying half-way) and reopenings, the store on disk must come back as the model says.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COMPACTION_STEPS, openJobStore, type CompactionStep, type LocalJobStore } from './job-store.js';
import { withTempDir } from '../../test/support/store.js';
import type { JobRecord, JobState, JournalEvent, StoreSnapshot } from './types.js';

type Op =
  | { op: 'event'; event: JournalEvent }
  | { op: 'compact' }
  | { op: 'crash-in-compaction'; step: CompactionStep }
  | { op: 'reopen' };

const STEPS: readonly CompactionStep[] = COMPACTION_STEPS;
const STATES: JobState[] = ['pending', 'started', 'submitted', 'downloaded', 'verified', 'failed', 'rejected'];
const text = fc.string({ unit: 'binary', maxLength: 12 });
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

const jobEvent: fc.Arbitrary<JournalEvent> = fc.record({
  t: fc.constant('job' as const),
  id: fc.constantFrom('ch1/s1/p1', 'ch1/s1/p2.ja', 'p3~b', 'toString'),
  state: fc.constantFrom(...STATES),
  promptHash: maybe(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 8 })),
  attempt: maybe(fc.nat(9)),
  conversationUrl: maybe(text),
  fileId: maybe(text),
  path: maybe(text),
  sha256: maybe(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 8 })),
  failure: maybe(fc.record({ kind: fc.constantFrom('transient', 'policy', 'verify'), message: text, evidence: maybe(fc.array(text, { maxLength: 2 })) })),
  rejection: maybe(fc.record({ reason: text, at: text, keptAs: text.map((t) => `/out/.rejected/${t}`), sha256: text })),
});
const pacingEvent: fc.Arbitrary<JournalEvent> = fc.record({
  t: fc.constant('pacing' as const),
  pacing: fc.record({ lastStartAt: maybe(fc.nat()), startsSinceCooldown: fc.nat(30), pauseUntil: maybe(fc.nat()), pauseReason: maybe(text) }),
});
const runEvent: fc.Arbitrary<JournalEvent> = fc.record({
  t: fc.constant('run' as const),
  event: fc.constantFrom('start' as const, 'stop' as const),
  pid: fc.nat(),
  reason: maybe(text),
});
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 12, arbitrary: fc.oneof(jobEvent, jobEvent, pacingEvent, runEvent).map((event) => ({ op: 'event' as const, event })) },
  { weight: 1, arbitrary: fc.constant({ op: 'compact' as const }) },
  { weight: 1, arbitrary: fc.constantFrom(...STEPS).map((step) => ({ op: 'crash-in-compaction' as const, step })) },
  { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
);

/** The rules of ARCHITECTURE §6 written out plainly, apart from the store's own code. */
function modelApply(model: StoreSnapshot, seq: number, at: string, event: JournalEvent): void {
  model.seq = seq;
  if (event.t === 'pacing') model.pacing = defined(event.pacing);
  if (event.t !== 'job') return;
  const old = Object.hasOwn(model.jobs, event.id) ? model.jobs[event.id] : undefined;
  const record: JobRecord = old ? { ...old } : { id: event.id, state: 'pending', promptHash: '', attempts: 0, updatedAt: at };
  record.state = event.state;
  record.updatedAt = at;
  if (event.attempt !== undefined) record.attempts = event.attempt;
  for (const key of ['promptHash', 'conversationUrl', 'fileId', 'path', 'sha256'] as const) if (event[key] !== undefined) record[key] = event[key];
  if (event.state !== 'failed') delete record.failure;
  else if (event.failure) record.failure = defined(event.failure);
  // A rejection is set by a rejected line, outlives the attempts after it, and ends with a verified one.
  if (event.state === 'rejected' && event.rejection) record.rejection = { ...event.rejection };
  else if (event.state === 'verified') delete record.rejection;
  model.jobs[event.id] = record;
}

/** What JSON keeps of an object: keys whose value is undefined are gone. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

class SimulatedCrash extends Error {}

describe('store against a model', () => {
  it('comes back from disk as the model says, after any history of events, compactions, crashes and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), fc.integer({ min: 1, max: 12 }), async (ops, compactEvery) => {
        await withTempDir(async (dir) => {
          let clock = 0;
          let crashAt: CompactionStep | undefined;
          const open = () =>
            openJobStore(dir, {
              compactEvery,
              now: () => clock,
              onCompactionStep: (step) => {
                if (step === crashAt) throw new SimulatedCrash(step);
              },
            });
          const model: StoreSnapshot = { version: 1, seq: 0, jobs: {}, pacing: { startsSinceCooldown: 0 } };
          let store: LocalJobStore = await open();
          try {
            for (const o of ops) {
              clock += 1000;
              if (o.op === 'event') {
                await store.record(o.event);
                modelApply(model, model.seq + 1, new Date(clock).toISOString(), o.event);
                expect(store.state()).toStrictEqual(model);
              } else if (o.op === 'compact') {
                await store.compact();
              } else {
                if (o.op === 'crash-in-compaction') {
                  crashAt = o.step;
                  await expect(store.compact()).rejects.toThrow(SimulatedCrash);
                  crashAt = undefined;
                }
                await store.close();
                store = await open();
                expect(store.state()).toStrictEqual(model);
              }
            }
          } finally {
            await store.close();
          }
          const reopened = await open();
          expect(reopened.state()).toStrictEqual(model);
          await reopened.close();
        });
      }),
      { numRuns: 150 },
    );
  });
});
