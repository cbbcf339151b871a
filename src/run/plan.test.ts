// The plan for a book with rejected panels (issue 11): a rejected panel is generated again on
// --resume (with a note), a plain run still needs --resume, a rejection a crash cut short is
// finished before anything runs, and the regenerating attempts go on counting.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../protocol/errors.js';
import { loadPromptFile } from '../prompts/index.js';
import type { PromptBook } from '../prompts/types.js';
import { RunEvents } from '../events.js';
import { loadProvider } from '../providers/index.js';
import { firstFreeKeptAs, openJobStore, rejectImage } from '../store/index.js';
import { withTempDir } from '../../test/support/store.js';
import { JobLifecycle } from './job-lifecycle.js';
import { planJobs, type PlanOptions } from './plan.js';

const RESUME: PlanOptions = { resume: true, retryFailed: false, regenerateChanged: false };

async function setup(dir: string) {
  const root = path.dirname(path.dirname(dir));
  const file = path.join(root, 'harbour.yaml');
  await writeFile(file, 'book: harbour\nprompts:\n  - "the harbour, view 1"\n  - "the harbour, view 2"\n  - "the harbour, view 3"\n');
  const book = await loadPromptFile(file);
  const bookDir = path.join(root, 'out', 'harbour');
  const store = await openJobStore(dir);
  for (const job of book.jobs) {
    const image = path.join(bookDir, job.outputPath);
    await mkdir(path.dirname(image), { recursive: true });
    await writeFile(image, `png of ${job.id}`);
    await writeFile(image.replace(/\.png$/, '.json'), '{}');
    await store.record({ t: 'job', id: job.id, state: 'started', attempt: 1, promptHash: job.promptHash });
    await store.record({ t: 'job', id: job.id, state: 'submitted', conversationUrl: `https://chat.example/c/${job.order}` });
    await store.record({ t: 'job', id: job.id, state: 'verified', path: image, sha256: createHash('sha256').update(`png of ${job.id}`).digest('hex'), fileId: `file_${job.order}` });
  }
  return { book, bookDir, store };
}

const ids = (jobs: Array<{ id: string }>) => jobs.map((j) => j.id);

describe('plan with rejected panels', () => {
  it('generates a rejected panel again on --resume, with a note, and skips the rest', async () => {
    await withTempDir(async (dir) => {
      const { book, bookDir, store } = await setup(dir);
      await rejectImage(store, { id: 'ch1/s1/p2', bookDir, outputPath: 'ch1/s1/p2.png', reason: 'wrong hat' });
      const plan = await planJobs(book, store, RESUME);
      expect(ids(plan.toRun)).toEqual(['ch1/s1/p2']);
      expect(ids(plan.skipped)).toEqual(['ch1/s1/p1', 'ch1/s1/p3']);
      expect(plan.notes).toEqual(['ch1/s1/p2: rejected (wrong hat), generating it again']);
      // --only that leaves it out leaves it rejected.
      expect(ids((await planJobs(book, store, { ...RESUME, only: 'ch1/s1/p[13]' })).toRun)).toEqual([]);
      await store.close();
    });
  });

  it('still refuses a plain run on the checkpoint, counting the rejected panels', async () => {
    await withTempDir(async (dir) => {
      const { book, bookDir, store } = await setup(dir);
      await rejectImage(store, { id: 'ch1/s1/p1', bookDir, outputPath: 'ch1/s1/p1.png', reason: '' });
      const error = await planJobs(book, store, { ...RESUME, resume: false }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toContain('(2 verified, 1 rejected, 0 unfinished): add --resume');
      expect((await planJobs(book, store, RESUME)).notes).toEqual(['ch1/s1/p1: rejected (no reason given), generating it again']);
      await store.close();
    });
  });

  it('regenerates a rejected panel whose prompt has changed since, rather than calling it stale', async () => {
    await withTempDir(async (dir) => {
      const { book, bookDir, store } = await setup(dir);
      await rejectImage(store, { id: 'ch1/s1/p3', bookDir, outputPath: 'ch1/s1/p3.png', reason: 'x' });
      const changed: PromptBook = { ...book, jobs: book.jobs.map((j) => (j.id === 'ch1/s1/p3' ? { ...j, promptHash: 'changed' } : j)) };
      const plan = await planJobs(changed, store, RESUME);
      expect(ids(plan.toRun)).toEqual(['ch1/s1/p3']);
      expect(plan.stale).toEqual([]);
      await store.close();
    });
  });

  it('finishes moving the files of a rejection that stopped after its journal line', async () => {
    await withTempDir(async (dir) => {
      const { book, bookDir, store } = await setup(dir);
      const image = path.join(bookDir, 'ch1/s1/p2.png');
      const keptAs = await firstFreeKeptAs(bookDir, 'ch1/s1/p2.png');
      await store.record({ t: 'job', id: 'ch1/s1/p2', state: 'rejected', conversationUrl: '', rejection: { reason: 'blurry', at: new Date().toISOString(), keptAs, sha256: 'x' } });
      expect(existsSync(image)).toBe(true);

      const plan = await planJobs(book, store, RESUME);
      expect(existsSync(image)).toBe(false);
      expect(await readFile(keptAs, 'utf8')).toBe('png of ch1/s1/p2');
      expect(await readFile(keptAs.replace(/\.png$/, '.json'), 'utf8')).toBe('{}');
      expect(plan.notes[0]).toBe(`ch1/s1/p2: moved its rejected image, sidecar aside to ${keptAs} (the rejection had stopped before moving them)`);
      expect(plan.notes[1]).toBe('ch1/s1/p2: rejected (blurry), generating it again');
      expect(ids(plan.toRun)).toEqual(['ch1/s1/p2']);
      await store.close();
    });
  });

  it('lets the next attempts count on and keeps the rejection until the new image is verified', async () => {
    await withTempDir(async (dir) => {
      const { book, bookDir, store } = await setup(dir);
      const { rejection } = await rejectImage(store, { id: 'ch1/s1/p1', bookDir, outputPath: 'ch1/s1/p1.png', reason: 'too dark' });
      const lifecycle = new JobLifecycle(book.jobs[0], store, new RunEvents());
      // The conversation that gave the rejected image is not looked in again: the prompt is sent afresh.
      expect(store.get('ch1/s1/p1')?.conversationUrl).toBe('');
      expect(lifecycle.conversationToRevisit(loadProvider('chatgpt', 'https://chat.example/'))).toBeUndefined();
      expect(await lifecycle.start()).toBe(2);
      await lifecycle.submitted('https://chat.example/c/2');
      await lifecycle.downloaded('/x.part', 'new', 'file_new');
      // What saveImage reads for the sidecar's `replaces`, just before `verified`.
      expect(lifecycle.record?.rejection).toEqual(rejection);
      await lifecycle.verified(path.join(bookDir, 'ch1/s1/p1.png'), 'new', 'file_new');
      expect(lifecycle.record).toMatchObject({ state: 'verified', attempts: 2 });
      expect(lifecycle.record).not.toHaveProperty('rejection');
      await store.close();
    });
  });
});
