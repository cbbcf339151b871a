import { open, readFile, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CheckpointError } from '../protocol/errors.js';
import { openJobStore } from './job-store.js';
import { journalLines, withTempDir } from '../../test/support/store.js';

/** FileHandle's class is not exported; its prototype is reachable from any handle. */
async function fileHandlePrototype(dir: string): Promise<FileHandle> {
  const file = path.join(dir, 'probe');
  await writeFile(file, '');
  const handle = await open(file, 'r');
  await handle.close();
  return Object.getPrototypeOf(handle) as FileHandle;
}

function errno(code: string, syscall: string): NodeJS.ErrnoException {
  const messages: Record<string, string> = { ENOSPC: 'no space left on device', EIO: 'i/o error' };
  return Object.assign(new Error(`${code}: ${messages[code]}, ${syscall}`), { code, syscall });
}

describe('a failed journal write', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('rejects with the disk error and leaves the state as it was (ENOSPC)', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir);
      await store.record({ t: 'job', id: 'p1', state: 'started', attempt: 1 });
      const before = structuredClone(store.state());
      const proto = await fileHandlePrototype(path.dirname(dir));
      vi.spyOn(proto, 'write').mockRejectedValueOnce(errno('ENOSPC', 'write'));

      const error = await store.record({ t: 'job', id: 'p1', state: 'submitted', conversationUrl: 'https://c/1' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CheckpointError);
      expect((error as Error).message).toBe(`could not write ${path.join(dir, 'journal.jsonl')}: ENOSPC: no space left on device, write`);
      expect(((error as Error).cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
      expect(store.state()).toStrictEqual(before);
      await store.close();
    });
  });

  it('leaves no half line behind a write cut short, so the journal stays readable', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir);
      await store.record({ t: 'job', id: 'p1', state: 'started', attempt: 1 });
      const proto = await fileHandlePrototype(path.dirname(dir));
      const write = proto.write as (...args: unknown[]) => Promise<unknown>;
      vi.spyOn(proto, 'write').mockImplementationOnce(async function (this: FileHandle, ...args: unknown[]) {
        const [buffer, offset, length, position] = args as [Buffer, number, number, number];
        await write.call(this, buffer, offset, Math.floor(length / 2), position);
        throw errno('ENOSPC', 'write');
      } as FileHandle['write']);

      await expect(store.record({ t: 'job', id: 'p1', state: 'submitted', conversationUrl: 'https://c/lost' })).rejects.toThrow(CheckpointError);
      expect(store.get('p1')?.state).toBe('started');
      // Space is back: the next event lands right after the last whole line.
      await store.record({ t: 'job', id: 'p1', state: 'submitted', conversationUrl: 'https://c/kept' });
      await store.close();

      expect((await journalLines(dir)).map((l) => [l.seq, l.conversationUrl])).toEqual([
        [1, undefined],
        [2, 'https://c/kept'],
      ]);
    });
  });

  it('takes back a line whose fsync failed (EIO), so disk and memory agree', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir);
      await store.record({ t: 'job', id: 'p1', state: 'started', attempt: 1 });
      const proto = await fileHandlePrototype(path.dirname(dir));
      vi.spyOn(proto, 'datasync').mockRejectedValueOnce(errno('EIO', 'fdatasync'));

      await expect(store.record({ t: 'job', id: 'p1', state: 'verified', path: '/x.png', sha256: 'aa' })).rejects.toThrow(
        /could not write .*journal\.jsonl: EIO/,
      );
      expect(store.get('p1')?.state).toBe('started');
      vi.restoreAllMocks();
      await store.record({ t: 'job', id: 'p1', state: 'failed', failure: { kind: 'transient', message: 'disk trouble' } });
      await store.close();

      const reopened = await openJobStore(dir);
      expect(reopened.get('p1')).toMatchObject({ state: 'failed', failure: { kind: 'transient' } });
      expect(reopened.get('p1')?.path).toBeUndefined();
      expect(reopened.state().seq).toBe(2);
      await reopened.close();
    });
  });

  it('keeps recording when an automatic compaction fails, and compacts later', async () => {
    await withTempDir(async (dir) => {
      let failing = true;
      const store = await openJobStore(dir, {
        compactEvery: 3,
        onCompactionStep: (step) => {
          if (failing && step === 'snapshot-temp-written') throw errno('ENOSPC', 'write');
        },
      });
      for (let i = 1; i <= 4; i++) await store.record({ t: 'job', id: `p${i}`, state: 'started', attempt: 1 });
      expect(await readFile(path.join(dir, 'snapshot.json')).catch(() => null)).toBeNull();
      failing = false;
      for (let i = 5; i <= 6; i++) await store.record({ t: 'job', id: `p${i}`, state: 'started', attempt: 1 });
      expect(JSON.parse(await readFile(path.join(dir, 'snapshot.json'), 'utf8')).seq).toBe(6);
      await store.close();
    });
  });
});
