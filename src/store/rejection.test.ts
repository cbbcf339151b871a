// A rejected image (issue 11): the `rejected` state and its `rejection` on the record (apply, replay,
// schema, snapshot shape), and rejectImage / repairRejection: journal first, then the files moved
// aside under .rejected/, never overwritten or deleted.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../protocol/errors.js';
import { applyLine, emptyState } from './apply.js';
import { openJobStore } from './job-store.js';
import { firstFreeKeptAs, NotRejectableError, rejectImage, repairRejection } from './rejection.js';
import { JournalLineSchema } from './schema.js';
import { parseSnapshot } from './snapshot-shape.js';
import type { JobRejection, JobStore, JournalLine } from './types.js';
import { journalLines, lifeOf, withTempDir } from '../../test/support/store.js';

const rejection: JobRejection = { reason: 'wrong hat', at: '2026-03-01T10:00:00.000Z', keptAs: '/out/book/.rejected/ch1/s1/p2.1.png', sha256: 'ab'.repeat(32) };
const line = (seq: number, fields: Omit<Extract<JournalLine, { t: 'job' }>, 'seq' | 'at' | 't'>): JournalLine => ({ seq, at: `2026-03-01T10:00:0${seq}.000Z`, t: 'job', ...fields });

describe('the rejected state', () => {
  it('sets the rejection, keeps it through the attempts that regenerate the panel, and drops it on the next verified', () => {
    const state = emptyState();
    const id = 'ch1/s1/p2';
    let seq = 0;
    for (const event of lifeOf(id)) applyLine(state, { seq: ++seq, at: 'x', ...event } as JournalLine);
    applyLine(state, line(++seq, { id, state: 'rejected', conversationUrl: '', rejection }));
    expect(state.jobs[id]).toMatchObject({ state: 'rejected', attempts: 1, conversationUrl: '', rejection, path: `/out/${id}.png` });

    applyLine(state, line(++seq, { id, state: 'started', attempt: 2, promptHash: 'h' }));
    expect(state.jobs[id]).toMatchObject({ state: 'started', attempts: 2, rejection });
    applyLine(state, line(++seq, { id, state: 'failed', failure: { kind: 'timeout', message: 'no image', final: false } }));
    expect(state.jobs[id]).toMatchObject({ state: 'failed', rejection, failure: { kind: 'timeout' } });
    applyLine(state, line(++seq, { id, state: 'started', attempt: 3 }));
    applyLine(state, line(++seq, { id, state: 'submitted', conversationUrl: 'https://c/2' }));
    applyLine(state, line(++seq, { id, state: 'downloaded', path: '/out/p2.png.part', sha256: 'cd'.repeat(32), fileId: 'file_2' }));
    expect(state.jobs[id].rejection).toEqual(rejection);
    expect(state.jobs[id].failure).toBeUndefined();
    applyLine(state, line(++seq, { id, state: 'verified', path: '/out/p2.png', sha256: 'cd'.repeat(32), fileId: 'file_2' }));
    expect(state.jobs[id]).toMatchObject({ state: 'verified', attempts: 3 });
    expect(state.jobs[id]).not.toHaveProperty('rejection');
  });

  it('is set only by a rejected line, and a rejected line clears a failure', () => {
    const state = emptyState();
    applyLine(state, line(1, { id: 'p1', state: 'started', attempt: 1, rejection }));
    expect(state.jobs.p1).not.toHaveProperty('rejection');
    applyLine(state, line(2, { id: 'p1', state: 'failed', failure: { kind: 'verify', message: 'x', final: true } }));
    applyLine(state, line(3, { id: 'p1', state: 'rejected', rejection }));
    expect(state.jobs.p1).not.toHaveProperty('failure');
    expect(state.jobs.p1.rejection).toEqual(rejection);
  });

  it('does not change a record a caller holds', () => {
    const state = emptyState();
    applyLine(state, line(1, { id: 'p1', state: 'verified', path: '/o/p1.png' }));
    const held = state.jobs.p1;
    applyLine(state, line(2, { id: 'p1', state: 'rejected', rejection }));
    expect(held.state).toBe('verified');
    expect(held).not.toHaveProperty('rejection');
  });

  it('replays from the journal and from a snapshot to the live state', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir, { now: () => 0 });
      for (const event of [...lifeOf('p1'), ...lifeOf('p2')]) await store.record(event);
      await store.record({ t: 'job', id: 'p1', state: 'rejected', conversationUrl: '', rejection });
      await store.record({ t: 'job', id: 'p2', state: 'rejected', conversationUrl: '', rejection: { ...rejection, reason: '' } });
      await store.record({ t: 'job', id: 'p2', state: 'started', attempt: 2 });
      const live = structuredClone(store.state());
      await store.close();

      const replayed = await openJobStore(dir);
      expect(replayed.state()).toStrictEqual(live);
      await replayed.compact();
      await replayed.close();
      const fromSnapshot = await openJobStore(dir);
      expect(fromSnapshot.state()).toStrictEqual(live);
      expect(fromSnapshot.get('p2')).toMatchObject({ state: 'started', rejection: { reason: '' } });
      await fromSnapshot.close();
    });
  });

  it('is in the schema of a journal line, and a malformed rejection is damage, not dropped silently', async () => {
    expect(JournalLineSchema.parse({ seq: 1, at: 'x', t: 'job', id: 'p1', state: 'rejected', rejection })).toMatchObject({ state: 'rejected', rejection });
    expect(JournalLineSchema.safeParse({ seq: 1, at: 'x', t: 'job', id: 'p1', state: 'rejected', rejection: { ...rejection, keptAs: 7 } }).success).toBe(false);
    expect(JournalLineSchema.safeParse({ seq: 1, at: 'x', t: 'job', id: 'p1', state: 'rejected', rejection: { reason: 'x' } }).success).toBe(false);
    await withTempDir(async (dir) => {
      await mkdir(dir, { recursive: true });
      const bad = JSON.stringify({ seq: 1, at: 'x', t: 'job', id: 'p1', state: 'rejected', rejection: { ...rejection, sha256: null } });
      const good = JSON.stringify({ seq: 2, at: 'x', t: 'job', id: 'p2', state: 'started' });
      await writeFile(path.join(dir, 'journal.jsonl'), `${bad}\n${good}\n`);
      const error = await openJobStore(dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CheckpointError);
      expect((error as Error).message).toMatch(/line 1 is damaged.*rejection\.sha256/);
    });
  });

  it('is checked in snapshot.json', () => {
    const snapshot = (job: Record<string, unknown>) => ({ version: 1, seq: 1, pacing: { startsSinceCooldown: 0 }, jobs: { p1: { id: 'p1', promptHash: '', attempts: 1, updatedAt: 'x', ...job } } });
    expect(parseSnapshot(snapshot({ state: 'rejected', rejection }))).toBeTruthy();
    expect(() => parseSnapshot(snapshot({ state: 'rejected', rejection: { ...rejection, at: 5 } }))).toThrow('jobs["p1"].rejection.at: expected a string');
    expect(() => parseSnapshot(snapshot({ state: 'refused' }))).toThrow(/expected one of .*failed, rejected/);
  });
});

const sha = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** A verified job as a run leaves it: the image, its sidecar and its evidence screenshot, journalled. */
async function verifiedImage(store: JobStore, bookDir: string, id: string, bytes = `png of ${id}`) {
  const outputPath = `${id}.png`;
  const image = path.join(bookDir, outputPath);
  await mkdir(path.dirname(image), { recursive: true });
  await writeFile(image, bytes);
  await writeFile(image.replace(/\.png$/, '.json'), JSON.stringify({ jobId: id }));
  const evidence = path.join(bookDir, '.evidence', outputPath);
  await mkdir(path.dirname(evidence), { recursive: true });
  await writeFile(evidence, `shot of ${id}`);
  await store.record({ t: 'job', id, state: 'started', attempt: 1, promptHash: 'h' });
  await store.record({ t: 'job', id, state: 'submitted', conversationUrl: 'https://chat.example/c/1' });
  await store.record({ t: 'job', id, state: 'verified', path: image, sha256: sha(bytes), fileId: 'file_1' });
  return { outputPath, image, evidence, sidecar: image.replace(/\.png$/, '.json') };
}

describe('rejectImage', () => {
  it('journals the rejection first, then moves the image, sidecar and evidence aside byte for byte', async () => {
    await withTempDir(async (dir) => {
      const bookDir = path.join(path.dirname(path.dirname(dir)), 'out', 'book');
      const store = await openJobStore(dir);
      const files = await verifiedImage(store, bookDir, 'ch1/s1/p2');
      const bytes = await readFile(files.image);
      // The journal line is on disk before any file moves.
      const seen: boolean[] = [];
      const watched: JobStore = {
        dir: store.dir,
        state: () => store.state(),
        get: (id) => store.get(id),
        record: (event) => (seen.push(existsSync(files.image)), store.record(event)),
        compact: () => store.compact(),
        close: () => store.close(),
      };

      const result = await rejectImage(watched, { id: 'ch1/s1/p2', bookDir, outputPath: files.outputPath, reason: 'wrong hat', at: new Date(Date.UTC(2026, 2, 1)) });
      expect(seen).toEqual([true]);
      const keptAs = path.join(bookDir, '.rejected', 'ch1', 's1', 'p2.1.png');
      expect(result.rejection).toEqual({ reason: 'wrong hat', at: '2026-03-01T00:00:00.000Z', keptAs, sha256: sha(bytes) });
      expect(result.from).toBe(files.image);
      expect(result.moved.map((m) => m.what)).toEqual(['image', 'sidecar', 'evidence']);
      expect(existsSync(files.image) || existsSync(files.sidecar) || existsSync(files.evidence)).toBe(false);
      expect(await readFile(keptAs)).toEqual(bytes);
      expect(JSON.parse(await readFile(path.join(bookDir, '.rejected', 'ch1', 's1', 'p2.1.json'), 'utf8'))).toEqual({ jobId: 'ch1/s1/p2' });
      expect(await readFile(path.join(bookDir, '.rejected', '.evidence', 'ch1', 's1', 'p2.1.png'), 'utf8')).toBe('shot of ch1/s1/p2');

      expect(store.get('ch1/s1/p2')).toMatchObject({ state: 'rejected', attempts: 1, conversationUrl: '', path: files.image, rejection: result.rejection });
      await store.close();
      const last = (await journalLines(dir)).at(-1);
      expect(last).toMatchObject({ t: 'job', id: 'ch1/s1/p2', state: 'rejected', conversationUrl: '', rejection: result.rejection });
    });
  });

  it('keeps an earlier rejection of the same panel: the next one is .2', async () => {
    await withTempDir(async (dir) => {
      const bookDir = path.join(path.dirname(path.dirname(dir)), 'out', 'book');
      const store = await openJobStore(dir);
      const files = await verifiedImage(store, bookDir, 'ch1/s1/p1', 'first');
      const first = await rejectImage(store, { id: 'ch1/s1/p1', bookDir, outputPath: files.outputPath, reason: 'a' });
      await verifiedImage(store, bookDir, 'ch1/s1/p1', 'second');
      const second = await rejectImage(store, { id: 'ch1/s1/p1', bookDir, outputPath: files.outputPath, reason: 'b' });
      expect(path.basename(first.rejection.keptAs)).toBe('p1.1.png');
      expect(path.basename(second.rejection.keptAs)).toBe('p1.2.png');
      expect(await readFile(first.rejection.keptAs, 'utf8')).toBe('first');
      expect(await readFile(second.rejection.keptAs, 'utf8')).toBe('second');
      // Any of the three files takes a number: an evidence screenshot left alone at .3 skips it.
      await mkdir(path.join(bookDir, '.rejected', '.evidence', 'ch1', 's1'), { recursive: true });
      await writeFile(path.join(bookDir, '.rejected', '.evidence', 'ch1', 's1', 'p1.3.png'), 'x');
      expect(path.basename(await firstFreeKeptAs(bookDir, files.outputPath))).toBe('p1.4.png');
      await store.close();
    });
  });

  it('refuses a job that is not verified, or whose image is missing or elsewhere, changing nothing', async () => {
    await withTempDir(async (dir) => {
      const bookDir = path.join(path.dirname(path.dirname(dir)), 'out', 'book');
      const store = await openJobStore(dir);
      await store.record({ t: 'job', id: 'ch1/s1/p1', state: 'failed', failure: { kind: 'policy', message: 'no', final: true } });
      const reject = (id: string, dirOf = bookDir) => rejectImage(store, { id, bookDir: dirOf, outputPath: `${id}.png`, reason: '' });
      await expect(reject('ch1/s1/p1')).rejects.toThrow(new NotRejectableError('ch1/s1/p1 is not verified (failed), nothing to reject'));
      await expect(reject('ch1/s1/p9')).rejects.toThrow('ch1/s1/p9 is not verified (pending), nothing to reject');
      const files = await verifiedImage(store, bookDir, 'ch1/s1/p2');
      await expect(reject('ch1/s1/p2', path.join(bookDir, '..', 'elsewhere'))).rejects.toThrow(/its image is .*p2\.png, not under .*elsewhere \(pass the run's --out\)/);
      const seq = store.state().seq;
      await rm(files.image);
      await expect(reject('ch1/s1/p2')).rejects.toThrow(/its image .* is missing/);
      expect(store.state().seq).toBe(seq);
      expect(store.get('ch1/s1/p2')?.state).toBe('verified');
      await store.close();
    });
  });
});

describe('repairRejection', () => {
  it('finishes a move a crash cut short, file by file, and leaves a finished one alone', async () => {
    await withTempDir(async (dir) => {
      const bookDir = path.join(path.dirname(path.dirname(dir)), 'out', 'book');
      const store = await openJobStore(dir);
      const files = await verifiedImage(store, bookDir, 'ch1/s1/p3');
      const keptAs = await firstFreeKeptAs(bookDir, files.outputPath);
      // The rejection is journalled; the process died before moving anything.
      await store.record({ t: 'job', id: 'ch1/s1/p3', state: 'rejected', conversationUrl: '', rejection: { reason: 'x', at: 'y', keptAs, sha256: 'z' } });
      const record = store.get('ch1/s1/p3')!;
      const moved = await repairRejection(record, files.outputPath);
      expect(moved.map((m) => m.what)).toEqual(['image', 'sidecar', 'evidence']);
      expect(await readFile(keptAs, 'utf8')).toBe('png of ch1/s1/p3');
      expect(existsSync(files.image)).toBe(false);
      expect(await repairRejection(record, files.outputPath)).toEqual([]);
      // A record that is not rejected is never touched.
      await store.record({ t: 'job', id: 'ch1/s1/p3', state: 'started', attempt: 2 });
      await writeFile(files.image, 'a new download');
      expect(await repairRejection(store.get('ch1/s1/p3')!, files.outputPath)).toEqual([]);
      expect(await readFile(files.image, 'utf8')).toBe('a new download');
      await store.close();
    });
  });
});
