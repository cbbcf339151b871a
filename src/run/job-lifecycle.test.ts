import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAILURE_KINDS } from '../protocol/errors.js';
import { loadProvider } from '../providers/index.js';
import type { Job } from '../prompts/types.js';
import { RunEvents, type RunEvent } from '../events.js';
import { openJobStore } from '../store/index.js';
import { withTempDir } from '../../test/support/store.js';
import { JobLifecycle, LifecycleError } from './job-lifecycle.js';
import type { CrashPoint } from './hooks.js';

const provider = loadProvider('chatgpt', 'http://127.0.0.1:9/');
const url = 'http://127.0.0.1:9/c/abc-123';

function job(promptHash = 'h1'): Job {
  return {
    id: 'ch1/s1/p1', order: 0, chapter: 'ch1', strip: 's1', panel: 'p1', prompt: 'a lighthouse', finalPrompt: 'a lighthouse. Style: ink.',
    promptHash, outputPath: 'ch1/s1/p1.png', source: { file: 'book.yaml', line: 1, column: 1 },
  } as unknown as Job;
}

async function journal(dir: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(path.join(dir, 'journal.jsonl'), 'utf8');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.t === 'job');
}

async function setup(dir: string, hooks: { crashPoint?: (p: CrashPoint) => void } = {}) {
  const store = await openJobStore(dir);
  const events = new RunEvents();
  const seen: RunEvent[] = [];
  events.on('event', (e) => seen.push(e));
  return { store, seen, lifecycle: new JobLifecycle(job(), store, events, hooks) };
}

describe('job lifecycle', () => {
  it('journals started → submitted → downloaded → verified, each fsynced before its event', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir);
      const events = new RunEvents();
      const seen: RunEvent[] = [];
      const lastStateOnDisk: unknown[] = [];
      events.on('event', (e) => {
        seen.push(e);
        // When the event is emitted, its line is already in the file.
        const lines = readFileSync(path.join(dir, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean);
        lastStateOnDisk.push(JSON.parse(lines.at(-1)!).state);
      });
      const lifecycle = new JobLifecycle(job(), store, events);
      expect(await lifecycle.start()).toBe(1);
      await lifecycle.submitted(url);
      await lifecycle.downloaded('/out/p1.png.part', 'sha', 'file_1');
      await lifecycle.verified('/out/p1.png', 'sha', 'file_1');
      expect((await journal(dir)).map((l) => l.state)).toEqual(['started', 'submitted', 'downloaded', 'verified']);
      expect(store.get('ch1/s1/p1')).toMatchObject({ state: 'verified', attempts: 1, conversationUrl: url, sha256: 'sha', fileId: 'file_1', path: '/out/p1.png' });
      expect(seen.filter((e) => e.type === 'job-state').map((e) => (e as { state: string }).state)).toEqual(['started', 'submitted', 'downloaded', 'verified']);
      expect(lastStateOnDisk).toEqual(['started', 'submitted', 'downloaded', 'verified']);
      await store.close();
    });
  });

  it('journals a conversation URL once, however often the page reports it', async () => {
    await withTempDir(async (dir) => {
      const { store, lifecycle } = await setup(dir);
      await lifecycle.start();
      await Promise.all([lifecycle.submitted(url), lifecycle.submitted(url), lifecycle.submitted(url)]);
      await lifecycle.settle();
      expect((await journal(dir)).map((l) => l.state)).toEqual(['started', 'submitted']);
      await store.close();
    });
  });

  it('ignores a conversation reported after the attempt ended', async () => {
    await withTempDir(async (dir) => {
      const { store, lifecycle } = await setup(dir);
      await lifecycle.start();
      await lifecycle.failed('timeout', 'no image', { final: false });
      await lifecycle.submitted(url);
      expect((await journal(dir)).map((l) => l.state)).toEqual(['started', 'failed']);
      await store.close();
    });
  });

  it('records every failure kind with its message and whether it is final, then starts the next attempt', async () => {
    await withTempDir(async (dir) => {
      const { store, lifecycle } = await setup(dir);
      for (const kind of FAILURE_KINDS) {
        await lifecycle.start();
        await lifecycle.failed(kind, `it was ${kind}`, { final: kind === 'policy' });
        expect(store.get('ch1/s1/p1')).toMatchObject({ state: 'failed', failure: { kind, message: `it was ${kind}`, final: kind === 'policy' } });
      }
      expect(lifecycle.attempt).toBe(FAILURE_KINDS.length);
      await store.close();
    });
  });

  it('keeps the conversation for a late image, or forgets it when its answer is spent', async () => {
    await withTempDir(async (dir) => {
      const { store, lifecycle } = await setup(dir);
      await lifecycle.start();
      await lifecycle.submitted(url);
      await lifecycle.failed('timeout', 'no image yet', { final: false });
      expect(lifecycle.conversationToRevisit(provider)).toBe(url);
      await lifecycle.start();
      await lifecycle.failed('quota', 'limit', { final: false, forgetConversation: true });
      expect(lifecycle.conversationToRevisit(provider)).toBeUndefined();
      await store.close();
    });
  });

  it('forgets the conversation of a verified image or of an older prompt when a new attempt starts', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir);
      await store.record({ t: 'job', id: 'ch1/s1/p1', state: 'submitted', promptHash: 'old', conversationUrl: url });
      const lifecycle = new JobLifecycle(job('new'), store, new RunEvents());
      await lifecycle.start();
      expect(lifecycle.conversationToRevisit(provider)).toBeUndefined();
      await store.close();
    });
  });

  it('does not revisit a conversation on another site', async () => {
    await withTempDir(async (dir) => {
      const { store, lifecycle } = await setup(dir);
      await lifecycle.start();
      await lifecycle.submitted('http://127.0.0.1:8/c/abc');
      expect(lifecycle.conversationToRevisit(provider)).toBeUndefined();
      await store.close();
    });
  });

  it('refuses transitions out of order', async () => {
    await withTempDir(async (dir) => {
      const { store, lifecycle } = await setup(dir);
      await expect(lifecycle.downloaded('p', 's', 'f')).rejects.toThrow(LifecycleError);
      await lifecycle.start();
      await expect(lifecycle.start()).rejects.toThrow('attempt 1 is still under way');
      await expect(lifecycle.verified('p', 's', 'f')).rejects.toThrow('cannot go from started to verified');
      await lifecycle.downloaded('p', 's', 'f');
      await lifecycle.verified('p', 's', 'f');
      await expect(lifecycle.failed('transient', 'x', { final: false })).rejects.toThrow('cannot go from verified to failed');
      await store.close();
    });
  });

  it('passes the crash points it owns to the injected hook, after the step is on disk', async () => {
    await withTempDir(async (dir) => {
      const points: string[] = [];
      const { store, lifecycle } = await setup(dir, {
        crashPoint: (p) => points.push(`${p}:${store.get('ch1/s1/p1')?.state}`),
      });
      await lifecycle.start();
      await lifecycle.submitted(url);
      expect(points).toEqual(['after-started:started', 'after-submit:submitted']);
      await store.close();
    });
  });

  it('surfaces a failed conversation write at the next step instead of swallowing it', async () => {
    await withTempDir(async (dir) => {
      const { store, lifecycle } = await setup(dir);
      await lifecycle.start();
      await store.close(); // every later write fails
      await expect(lifecycle.submitted(url)).rejects.toThrow(/closed/);
      await expect(lifecycle.downloaded('p', 's', 'f')).rejects.toThrow(/closed/);
    });
  });
});
