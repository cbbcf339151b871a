import { open, readdir, readFile, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CheckpointError, DiskFullError } from '../protocol/errors.js';
import { renameDurably, replaceFileDurably, writeFileDurably } from './durable.js';

/** The next rename fails with this error (a rename may need a block for the folder's new entry). */
const renameFault = vi.hoisted(() => ({ next: undefined as NodeJS.ErrnoException | undefined }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const rename: typeof real.rename = async (from, to) => {
    const error = renameFault.next;
    renameFault.next = undefined;
    if (error) throw error;
    return real.rename(from, to);
  };
  return { ...real, rename, default: { ...real, rename } };
});
import { openJobStore } from './job-store.js';
import { journalLines, withTempDir } from '../../test/support/store.js';

/** FileHandle's class is not exported; its prototype is reachable from any handle. */
async function fileHandlePrototype(dir: string): Promise<FileHandle> {
  const file = path.join(dir, `probe-${process.pid}`);
  await writeFile(file, '');
  const handle = await open(file, 'r');
  await handle.close();
  await unlink(file);
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
      expect(error).toBeInstanceOf(DiskFullError);
      expect(error).toBeInstanceOf(CheckpointError);
      expect((error as CheckpointError).exitCode).toBe(2);
      expect((error as Error).message).toBe(`disk full while writing ${path.join(dir, 'journal.jsonl')}: free space and run again with --resume`);
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
      // The half-written temp snapshot is not left for anyone to trust.
      expect(await readdir(dir)).not.toContain('snapshot.json.tmp');
      failing = false;
      for (let i = 5; i <= 6; i++) await store.record({ t: 'job', id: `p${i}`, state: 'started', attempt: 1 });
      expect(JSON.parse(await readFile(path.join(dir, 'snapshot.json'), 'utf8')).seq).toBe(6);
      await store.close();
    });
  });
});

describe('a full disk at each file write', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** The first write of a handle's data fails with ENOSPC after half the bytes reached the file. */
  async function diskFillsOnNextWrite(): Promise<void> {
    const proto = await fileHandlePrototype(tmpdir());
    const writeFileOf = proto.writeFile as (this: FileHandle, data: string | Uint8Array) => Promise<void>;
    vi.spyOn(proto, 'writeFile').mockImplementationOnce(async function (this: FileHandle, data: string | Uint8Array) {
      const bytes = Buffer.from(data);
      await writeFileOf.call(this, bytes.subarray(0, bytes.length >> 1));
      throw errno('ENOSPC', 'write');
    } as FileHandle['writeFile']);
  }

  it('an image .part: DiskFullError naming the file, and no half .part left', async () => {
    await withTempDir(async (dir) => {
      await diskFillsOnNextWrite();
      const part = path.join(dir, 'ch1', '001.png.part');
      const error = await writeFileDurably(part, Buffer.alloc(4096, 7)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DiskFullError);
      expect((error as Error).message).toBe(`disk full while writing ${part}: free space and run again with --resume`);
      expect(((error as Error).cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
      expect(await readdir(path.dirname(part))).toEqual([]);
      // Space is back: the same write goes through.
      await writeFileDurably(part, Buffer.alloc(4096, 7));
      expect((await readFile(part)).length).toBe(4096);
    });
  });

  it('the rename of a checked .part to its final name: the .part kept whole, no final name', async () => {
    await withTempDir(async (dir) => {
      const part = path.join(dir, '001.png.part');
      await writeFileDurably(part, Buffer.alloc(2048, 3));
      renameFault.next = errno('ENOSPC', 'rename');
      const error = await renameDurably(part, path.join(dir, '001.png')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DiskFullError);
      expect((error as Error).message).toBe(`disk full while writing ${path.join(dir, '001.png')}: free space and run again with --resume`);
      expect(await readdir(dir)).toEqual(['001.png.part']);
      expect((await readFile(part)).length).toBe(2048);
    });
  });

  it('a sidecar (or any file replaced whole): the old file kept intact, no temp left', async () => {
    await withTempDir(async (dir) => {
      const sidecar = path.join(dir, '001.json');
      await replaceFileDurably(sidecar, '{"sha256":"old"}\n');
      await diskFillsOnNextWrite();
      const error = await replaceFileDurably(sidecar, `${JSON.stringify({ sha256: 'new', pad: 'x'.repeat(2000) })}\n`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DiskFullError);
      expect((error as Error).message).toBe(`disk full while writing ${sidecar}: free space and run again with --resume`);
      expect(await readFile(sidecar, 'utf8')).toBe('{"sha256":"old"}\n');
      expect(await readdir(dir)).toEqual(['001.json']);
    });
  });

  it('other write errors pass through as they are (EIO is not a full disk)', async () => {
    await withTempDir(async (dir) => {
      await replaceFileDurably(path.join(dir, 'a.json'), '{}');
      const proto = await fileHandlePrototype(tmpdir());
      vi.spyOn(proto, 'writeFile').mockRejectedValueOnce(errno('EIO', 'write'));
      const error = await replaceFileDurably(path.join(dir, 'a.json'), '[]').catch((e: unknown) => e);
      expect(error).not.toBeInstanceOf(DiskFullError);
      expect((error as NodeJS.ErrnoException).code).toBe('EIO');
    });
  });

  it('the snapshot during a compaction: the store goes on from the journal and reopens whole', async () => {
    await withTempDir(async (dir) => {
      const store = await openJobStore(dir, { compactEvery: 1000 });
      for (let i = 1; i <= 3; i++) await store.record({ t: 'job', id: `p${i}`, state: 'started', attempt: 1 });
      const expected = structuredClone(store.state());
      await diskFillsOnNextWrite();
      await expect(store.compact()).rejects.toThrow(`disk full while writing ${path.join(dir, 'snapshot.json')}: free space and run again with --resume`);
      await store.close();
      expect(await readdir(dir)).toEqual(['journal.jsonl']);
      const reopened = await openJobStore(dir);
      expect(reopened.state()).toStrictEqual(expected);
      await reopened.close();
    });
  });
});
