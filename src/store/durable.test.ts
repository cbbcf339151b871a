import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withTempDir } from '../../test/support/store.js';
import { renameDurably, replaceFileDurably, syncDir, writeFileDurably, type DurableStep } from './durable.js';

const STEPS: readonly DurableStep[] = ['temp-written', 'temp-synced', 'renamed', 'dir-synced'];

class SimulatedCrash extends Error {}

describe('writeFileDurably', () => {
  it('creates the missing folders and writes the bytes', async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, 'ch1', 's1', 'p1.png.part');
      await writeFileDurably(file, Buffer.from([0x89, 0x50, 0x4e, 0x47]));
      expect([...(await readFile(file))]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    });
  });

  it('replaces what the file held, leaving no longer tail', async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, 'p1.png.part');
      await writeFileDurably(file, 'a much longer first download');
      await writeFileDurably(file, 'short');
      expect(await readFile(file, 'utf8')).toBe('short');
    });
  });
});

describe('replaceFileDurably', () => {
  it('replaces a link planted at the temp name instead of writing through it', async () => {
    await withTempDir(async (dir) => {
      const victim = path.join(dir, 'victim.txt');
      await mkdir(dir, { recursive: true });
      await writeFile(victim, 'outside the book');
      const file = path.join(dir, 'book', 'p1.json');
      await writeFileDurably(file, '{}');
      await symlink(victim, `${file}.tmp`);
      await replaceFileDurably(file, '{"ok":true}');
      expect(await readFile(victim, 'utf8')).toBe('outside the book');
      expect(await readFile(file, 'utf8')).toBe('{"ok":true}');
    });
  });

  it('writes the new bytes under the name and leaves no temp file', async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, 'p1.json');
      await replaceFileDurably(file, '{"v":1}\n');
      await replaceFileDurably(file, '{"v":2}\n');
      expect(await readFile(file, 'utf8')).toBe('{"v":2}\n');
      expect(await readdir(dir)).toEqual(['p1.json']);
    });
  });

  for (const [i, crashAt] of STEPS.entries()) {
    it(`leaves the old or the new file whole when the process dies after ${crashAt}`, async () => {
      await withTempDir(async (dir) => {
        const file = path.join(dir, 'snapshot.json');
        await replaceFileDurably(file, 'old');
        const seen: DurableStep[] = [];
        const write = replaceFileDurably(file, 'new', {
          onStep: (step) => {
            seen.push(step);
            if (step === crashAt) throw new SimulatedCrash(step);
          },
        });
        await expect(write).rejects.toThrow(SimulatedCrash);
        expect(seen).toEqual(STEPS.slice(0, i + 1));
        expect(await readFile(file, 'utf8')).toBe(STEPS.indexOf('renamed') <= i ? 'new' : 'old');
      });
    });
  }
});

describe('renameDurably', () => {
  it('moves a file into another folder', async () => {
    await withTempDir(async (dir) => {
      await writeFileDurably(path.join(dir, 'a', 'p1.png.part'), 'png');
      await writeFileDurably(path.join(dir, 'b', 'keep'), '');
      await renameDurably(path.join(dir, 'a', 'p1.png.part'), path.join(dir, 'b', 'p1.png'));
      expect(await readdir(path.join(dir, 'a'))).toEqual([]);
      expect(await readFile(path.join(dir, 'b', 'p1.png'), 'utf8')).toBe('png');
    });
  });

  it('rejects when the source is missing, creating nothing', async () => {
    await withTempDir(async (dir) => {
      await writeFileDurably(path.join(dir, 'x'), '');
      await expect(renameDurably(path.join(dir, 'missing'), path.join(dir, 'y'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await readdir(dir)).toEqual(['x']);
    });
  });
});

describe('syncDir', () => {
  it('rejects for a folder that does not exist', async () => {
    await withTempDir(async (dir) => {
      await expect(syncDir(path.join(dir, 'nowhere'))).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });
});
