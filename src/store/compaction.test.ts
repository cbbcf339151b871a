import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../protocol/errors.js';
import { COMPACTION_STEPS, openJobStore, type CompactionStep, type LocalJobStore } from './job-store.js';
import { filesIn, journalLines, lifeOf, withTempDir } from '../../test/support/store.js';
import type { StoreSnapshot } from './types.js';

const STEPS: readonly CompactionStep[] = COMPACTION_STEPS;

class SimulatedCrash extends Error {}

/** A store with a compacted past (unless `uncut`) and a journal tail: 3 jobs in the snapshot, 2 more after it. */
async function storeWithHistory(dir: string, crashAt?: CompactionStep, uncut = false): Promise<LocalJobStore> {
  let armed = false;
  const store = await openJobStore(dir, {
    compactEvery: 1_000,
    now: () => 0,
    onCompactionStep: (step) => {
      if (armed && step === crashAt) throw new SimulatedCrash(step);
    },
  });
  for (let i = 1; i <= 3; i++) for (const event of lifeOf(`ch1/s1/p${i}`)) await store.record(event);
  if (!uncut) await store.compact();
  for (let i = 4; i <= 5; i++) for (const event of lifeOf(`ch1/s1/p${i}`)) await store.record(event);
  await store.record({ t: 'pacing', pacing: { lastStartAt: 77, startsSinceCooldown: 2 } });
  armed = true;
  return store;
}

async function stateAfterReopen(dir: string): Promise<StoreSnapshot> {
  const store = await openJobStore(dir);
  const state = structuredClone(store.state());
  await store.close();
  return state;
}

describe('compaction', () => {
  it('writes the snapshot every compactEvery events and starts a journal segment after it', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir, { compactEvery: 4 });
      for (const event of [...lifeOf('p1'), ...lifeOf('p2'), { t: 'job' as const, id: 'p3', state: 'started' as const, attempt: 1 }]) await store.record(event);
      await store.close();
      expect(JSON.parse(await readFile(path.join(dir, 'snapshot.json'), 'utf8')).seq).toBe(8);
      expect((await journalLines(dir)).map((l) => [l.seq, l.t])).toEqual([
        [8, 'segment'],
        [9, 'job'],
      ]);
      expect(Object.keys((await stateAfterReopen(dir)).jobs)).toEqual(['p1', 'p2', 'p3']);
    });
  });

  for (const step of STEPS) {
    it(`loses nothing when the process dies after ${step}`, async () => {
      await withTempDir(async (dir) => {
        const store = await storeWithHistory(dir, step);
        const expected = structuredClone(store.state());
        await expect(store.compact()).rejects.toThrow(SimulatedCrash);
        await store.close();
        // A power cut before a rename reached the disk equals dying just before that rename: also covered.
        expect(await stateAfterReopen(dir)).toStrictEqual(expected);

        const resumed = await openJobStore(dir, { now: () => 0 });
        for (const event of lifeOf('ch1/s1/p6')) await resumed.record(event);
        const later = structuredClone(resumed.state());
        await resumed.close();
        expect(await stateAfterReopen(dir)).toStrictEqual(later);
      });
    });

    it(`keeps working in the same process when compaction fails after ${step}`, async () => {
      await withTempDir(async (dir) => {
        const store = await storeWithHistory(dir, step);
        await expect(store.compact()).rejects.toThrow(SimulatedCrash);
        for (const event of lifeOf('ch1/s1/p6')) await store.record(event);
        const expected = structuredClone(store.state());
        await store.close();
        expect(await stateAfterReopen(dir)).toStrictEqual(expected);
      });
    });
  }

  it('reaches the mid-snapshot crash point with the snapshot durable and the old journal untouched', async () => {
    await withTempDir(async (dir) => {
      const points: string[] = [];
      const store = await openJobStore(dir, {
        compactEvery: 1_000,
        onCrashPoint: (point) => {
          points.push(point);
          throw new SimulatedCrash(point);
        },
      });
      for (const event of lifeOf('p1')) await store.record(event);
      const expected = structuredClone(store.state());
      await expect(store.compact()).rejects.toThrow(SimulatedCrash);
      await store.close();
      expect(points).toEqual(['mid-snapshot']);
      expect(JSON.parse(await readFile(path.join(dir, 'snapshot.json'), 'utf8')).seq).toBe(4);
      expect((await journalLines(dir)).map((l) => l.seq)).toEqual([1, 2, 3, 4]);
      expect(await stateAfterReopen(dir)).toStrictEqual(expected);
    });
  });

  describe('with a damaged snapshot', () => {
    const damage: Record<string, string | Buffer> = {
      'a zero-byte file': '',
      'a NUL-filled file': Buffer.alloc(4096),
      'invalid JSON': '{"version":1,"seq":12,"jobs":{"ch1/s1/p1":{"id"',
      'the wrong shape': JSON.stringify({ version: 1, seq: 'twelve', jobs: [] }),
    };

    for (const [what, bytes] of Object.entries(damage)) {
      it(`falls back to the whole journal when the snapshot is ${what}`, async () => {
        await withTempDir(async (dir) => {
          // The first compaction dies between the snapshot and the new segment: the journal still holds everything.
          const store = await storeWithHistory(dir, 'journal-temp-written', true);
          await expect(store.compact()).rejects.toThrow(SimulatedCrash);
          const expected = structuredClone(store.state());
          await store.close();
          expect((await journalLines(dir))[0]).toMatchObject({ seq: 1, t: 'job' });
          await writeFile(path.join(dir, 'snapshot.json'), bytes);
          expect(await stateAfterReopen(dir)).toStrictEqual(expected);
        });
      });

      it(`refuses to start over when the snapshot is ${what} and the journal was compacted, touching nothing`, async () => {
        await withTempDir(async (dir) => {
          const store = await storeWithHistory(dir);
          await store.close();
          await writeFile(path.join(dir, 'snapshot.json'), bytes);
          const before = await filesIn(dir);
          const error = await openJobStore(dir).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(CheckpointError);
          expect((error as Error).message).toMatch(
            new RegExp(`^${escape(path.join(dir, 'snapshot.json'))} is unreadable \\(.+\\) and journal\\.jsonl starts at seq 13, .*refusing to start over — restore snapshot\\.json from a backup and run again with --resume, or move the folder away to start the book fresh \\(every prompt is sent again\\)$`),
          );
          expect(await filesIn(dir)).toEqual(before);
        });
      });
    }

    it('names the byte where a truncated snapshot ends', async () => {
      await withTempDir(async (dir) => {
        const store = await storeWithHistory(dir);
        await store.close();
        const file = path.join(dir, 'snapshot.json');
        const whole = await readFile(file);
        await writeFile(file, whole.subarray(0, 40));
        await expect(openJobStore(dir)).rejects.toThrow(`${file} is unreadable (not valid JSON, truncated at byte 40: `);
      });
    });

    for (const journal of ['missing', 'empty'] as const) {
      it(`refuses a damaged snapshot when the journal is ${journal}, instead of starting the book over`, async () => {
        await withTempDir(async (dir) => {
          const store = await storeWithHistory(dir);
          await store.close();
          await writeFile(path.join(dir, 'snapshot.json'), '{"version":1,"seq":12,"jo');
          if (journal === 'missing') await rm(path.join(dir, 'journal.jsonl'));
          else await writeFile(path.join(dir, 'journal.jsonl'), '');
          const before = await filesIn(dir);
          const error = await openJobStore(dir).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(CheckpointError);
          expect((error as Error).message).toBe(
            `${path.join(dir, 'snapshot.json')} is unreadable (not valid JSON, truncated at byte 25: ${jsonError('{"version":1,"seq":12,"jo')}) and journal.jsonl holds no events to rebuild it from; refusing to start over — restore snapshot.json from a backup and run again with --resume, or move the folder away to start the book fresh (every prompt is sent again)`,
          );
          expect(await filesIn(dir)).toEqual(before);
        });
      });
    }

    it('refuses when the snapshot is missing and the journal was compacted', async () => {
      await withTempDir(async (dir) => {
        const store = await storeWithHistory(dir);
        await store.close();
        await rm(path.join(dir, 'snapshot.json'));
        const before = await filesIn(dir);
        await expect(openJobStore(dir)).rejects.toThrow(/snapshot\.json is missing and journal\.jsonl starts at seq 13/);
        expect(await filesIn(dir)).toEqual(before);
      });
    });

    it('refuses when both files are unreadable, touching nothing', async () => {
      await withTempDir(async (dir) => {
        const store = await storeWithHistory(dir);
        await store.close();
        await writeFile(path.join(dir, 'snapshot.json'), '');
        const file = path.join(dir, 'journal.jsonl');
        const lines = (await readFile(file, 'utf8')).split('\n');
        lines[1] = '{"seq":';
        await writeFile(file, lines.join('\n'));
        const before = await filesIn(dir);
        await expect(openJobStore(dir)).rejects.toThrow(CheckpointError);
        expect(await filesIn(dir)).toEqual(before);
      });
    });
  });

  it('refuses a journal segment that starts after the snapshot ends', async () => {
    await withTempDir(async (dir) => {
      const store = await storeWithHistory(dir);
      await store.close();
      const file = path.join(dir, 'snapshot.json');
      const snapshot = JSON.parse(await readFile(file, 'utf8'));
      await writeFile(file, JSON.stringify({ ...snapshot, seq: 10 }));
      await expect(openJobStore(dir)).rejects.toThrow(/holds events up to seq 10 but journal\.jsonl starts at seq 13/);
    });
  });

  it('starts a new segment when the journal is gone but the snapshot is sound', async () => {
    await withTempDir(async (dir) => {
      const store = await storeWithHistory(dir);
      await store.compact();
      const expected = structuredClone(store.state());
      await store.close();
      await rm(path.join(dir, 'journal.jsonl'));
      const reopened = await openJobStore(dir);
      expect(reopened.state()).toStrictEqual(expected);
      await reopened.record({ t: 'job', id: 'late', state: 'started', attempt: 1 });
      await reopened.close();
      expect((await journalLines(dir)).map((l) => [l.seq, l.t])).toEqual([
        [expected.seq, 'segment'],
        [expected.seq + 1, 'job'],
      ]);
      expect((await stateAfterReopen(dir)).jobs.late?.state).toBe('started');
    });
  });
});

function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('valid JSON');
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
