import { readFile, writeFile, mkdir, appendFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { CheckpointError } from '../protocol/errors.js';
import { openJobStore } from './job-store.js';
import { filesIn, journalLines, lifeOf, withTempDir } from '../../test/support/store.js';

describe('journal', () => {
  it('creates a missing folder and starts empty', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir);
      expect(store.state()).toStrictEqual({ version: 1, seq: 0, jobs: {}, pacing: { startsSinceCooldown: 0 } });
      expect(await filesIn(dir)).toEqual({});
      await store.close();
    });
  });

  it('writes to disk even under NODE_ENV=test, one line per event with seq and time', async () => {
    expect(process.env.NODE_ENV).toBe('test');
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir, { now: () => Date.UTC(2026, 0, 2, 3, 4, 5) });
      await store.record({ t: 'job', id: 'ch1/s1/p1', state: 'started', attempt: 1, promptHash: 'h1' });
      await store.record({ t: 'pacing', pacing: { lastStartAt: 1000, startsSinceCooldown: 1 } });
      await store.compact();
      await store.record({ t: 'run', event: 'stop', pid: 42, reason: 'done' });
      await store.close();

      const snapshot = JSON.parse(await readFile(path.join(dir, 'snapshot.json'), 'utf8'));
      expect(snapshot.seq).toBe(2);
      expect(snapshot.jobs['ch1/s1/p1']).toMatchObject({ state: 'started', attempts: 1, promptHash: 'h1' });
      expect(await journalLines(dir)).toEqual([
        { seq: 2, at: '2026-01-02T03:04:05.000Z', t: 'segment' },
        { seq: 3, at: '2026-01-02T03:04:05.000Z', t: 'run', event: 'stop', pid: 42, reason: 'done' },
      ]);
    });
  });

  it('follows a job through its states, merging what each transition adds', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir, { now: () => 0 });
      const id = 'ch1/s2/p3';
      await store.record({ t: 'job', id, state: 'started', attempt: 1, promptHash: 'h' });
      await store.record({ t: 'job', id, state: 'submitted', conversationUrl: 'https://chat.example/c/1' });
      await store.record({ t: 'job', id, state: 'failed', failure: { kind: 'timeout', message: 'no image', evidence: ['/e/1.png'] } });
      expect(store.get(id)).toMatchObject({ state: 'failed', attempts: 1, failure: { kind: 'timeout' } });
      await store.record({ t: 'job', id, state: 'started', attempt: 2 });
      expect(store.get(id)).toStrictEqual({
        id,
        state: 'started',
        promptHash: 'h',
        attempts: 2,
        // Kept: the next attempt looks in this conversation for a late image.
        conversationUrl: 'https://chat.example/c/1',
        updatedAt: new Date(0).toISOString(),
      });
      await store.record({ t: 'job', id, state: 'verified', path: '/out/p3.png', sha256: 'cd' });
      expect(store.get(id)).toMatchObject({ state: 'verified', attempts: 2, path: '/out/p3.png', sha256: 'cd' });
      await store.close();
    });
  });

  it('does not let a caller change the state through the event it passed in', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir);
      const evidence = ['/e/a.png'];
      await store.record({ t: 'job', id: 'p1', state: 'failed', failure: { kind: 'verify', message: 'mismatch', evidence } });
      evidence.push('/e/b.png');
      expect(store.get('p1')?.failure?.evidence).toEqual(['/e/a.png']);
      await store.close();
    });
  });

  it('replays the same journal twice to deep-equal state, equal to the live one', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir, { compactEvery: 7 });
      for (let i = 1; i <= 10; i++) for (const event of lifeOf(`ch1/s1/p${i}`)) await store.record(event);
      await store.record({ t: 'pacing', pacing: { lastStartAt: 5, startsSinceCooldown: 3, pauseUntil: 9, pauseReason: 'cooldown' } });
      const live = structuredClone(store.state());
      await store.close();
      const first = await openJobStore(dir);
      const once = structuredClone(first.state());
      await first.close();
      const second = await openJobStore(dir);
      expect(second.state()).toStrictEqual(once);
      expect(once).toStrictEqual(live);
      await second.close();
    });
  });

  it('keeps the order of calls made without waiting, in seq order', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir, { compactEvery: 5 });
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.record({ t: 'job', id: `p${i}`, state: 'started', attempt: 1 })));
      expect(store.state().seq).toBe(20);
      await store.close();
      const reopened = await openJobStore(dir);
      expect(Object.keys(reopened.state().jobs)).toHaveLength(20);
      await reopened.close();
    });
  });

  it('closes once, and refuses events after that', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir);
      await store.close();
      await store.close();
      await expect(store.record({ t: 'run', event: 'start', pid: 1 })).rejects.toThrow(/is closed/);
    });
  });

  it('takes the compaction interval from SEMANTEST_COMPACT_EVERY when the caller gives none', async () => {
    await withTempDir(async (dir) => {
      vi.stubEnv('SEMANTEST_COMPACT_EVERY', '2');
      try {
        const store = await openJobStore(dir);
        for (const event of lifeOf('p1').slice(0, 3)) await store.record(event);
        await store.close();
        expect((await journalLines(dir)).map((l) => l.seq)).toEqual([2, 3]);
        vi.stubEnv('SEMANTEST_COMPACT_EVERY', 'often');
        await expect(openJobStore(dir)).rejects.toThrow('Expected SEMANTEST_COMPACT_EVERY to be a positive integer, got "often".');
      } finally {
        vi.unstubAllEnvs();
      }
    });
  });

  describe('a torn last line', () => {
    const torn = ['{"seq":3,"at":"2026-01-01T00:00:00.000Z","t":"job","id":"p2","sta', '\0'.repeat(40), '\0'.repeat(40) + '\n', '{"seq":3,"at":"x","t":"nope"}\n'];

    for (const tail of torn) {
      it(`is dropped and cut away before the next append (${JSON.stringify(tail.slice(0, 12))}…)`, async () => {
        await withTempDir(async (dir) => {
          const store = await openJobStore(dir);
          await store.record({ t: 'job', id: 'p1', state: 'started', attempt: 1 });
          await store.record({ t: 'job', id: 'p2', state: 'started', attempt: 1 });
          const expected = structuredClone(store.state());
          await store.close();
          await appendFile(path.join(dir, 'journal.jsonl'), tail);
          const before = await filesIn(dir);

          const reopened = await openJobStore(dir);
          expect(reopened.state()).toStrictEqual(expected);
          // Opening alone (as `status` does, maybe beside a live run) writes nothing.
          expect(await filesIn(dir)).toEqual(before);
          await reopened.record({ t: 'job', id: 'p2', state: 'submitted', conversationUrl: 'https://c/2' });
          await reopened.close();

          expect((await journalLines(dir)).map((l) => l.seq)).toEqual([1, 2, 3]);
          const again = await openJobStore(dir);
          expect(again.get('p2')).toMatchObject({ state: 'submitted', conversationUrl: 'https://c/2' });
          await again.close();
        });
      });
    }
  });

  it('refuses a damaged line before the last, naming the file and line, and changes nothing', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir);
      for (const event of lifeOf('p1')) await store.record(event);
      await store.close();
      const file = path.join(dir, 'journal.jsonl');
      const lines = (await readFile(file, 'utf8')).split('\n');
      lines[2] = lines[2].slice(0, 20);
      await writeFile(file, lines.join('\n'));
      const before = await filesIn(dir);

      const error = await openJobStore(dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CheckpointError);
      expect((error as Error).message).toContain(`${file} line 3 is damaged (not valid JSON`);
      expect(await filesIn(dir)).toEqual(before);
    });
  });

  it('refuses a journal with a missing stretch of seqs', async () => {
    await withTempDir(async (dir) => {
      await mkdir(dir, { recursive: true });
      const line = (seq: number) => JSON.stringify({ seq, at: 'x', t: 'job', id: 'p1', state: 'started' });
      await writeFile(path.join(dir, 'journal.jsonl'), `${line(1)}\n${line(2)}\n${line(4)}\n${line(5)}\n`);
      await expect(openJobStore(dir)).rejects.toThrow(/line 3 is damaged \(seq 4 where 3 was expected/);
    });
  });
});
