import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withTempDir } from '../../test/support/store.js';
import { clearScratchDir } from './scratch.js';

function errno(code: string, syscall: string, file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: directory not empty, ${syscall} '${file}'`), { code, syscall, path: file });
}

describe('clearScratchDir', () => {
  it('empties the folder when nothing is in the way', async () => {
    await withTempDir(async (root) => {
      await mkdir(root, { recursive: true });
      const dir = path.join(root, '.traces');
      await mkdir(path.join(dir, 'resources'), { recursive: true });
      await writeFile(path.join(dir, 'resources', 'a.dat'), 'x');
      expect(await clearScratchDir(dir)).toBeUndefined();
      expect(await readdir(root)).toEqual([]);
    });
  });

  it('moves an unremovable folder aside (ENOTEMPTY, as seen on a live profile) and removes it on the next call', async () => {
    await withTempDir(async (root) => {
      await mkdir(root, { recursive: true });
      const dir = path.join(root, '.traces');
      await mkdir(dir);
      await writeFile(path.join(dir, 'trace.network'), 'x');
      const failing = { rm: (async (target: string) => {
        if (target === dir) throw errno('ENOTEMPTY', 'rmdir', dir);
        return rm(target, { recursive: true, force: true });
      }) as typeof rm, rename };

      const note = await clearScratchDir(dir, failing);
      expect(note).toMatch(new RegExp(`^could not clear ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(ENOTEMPTY\\); moved it aside to \\.traces\\.stale-\\d+-\\d+, the next launch removes it$`));
      const names = await readdir(root);
      expect(names).toHaveLength(1);
      expect(names[0]).toMatch(/^\.traces\.stale-/);

      // The next launch: the folder is free again and the aside goes.
      await mkdir(dir);
      expect(await clearScratchDir(dir)).toBeUndefined();
      expect(await readdir(root)).toEqual([]);
    });
  });

  it('goes on with a note when the folder can be neither removed nor renamed', async () => {
    await withTempDir(async (root) => {
      await mkdir(root, { recursive: true });
      const dir = path.join(root, '.traces');
      await mkdir(dir);
      const stuck = {
        rm: (async () => { throw errno('ENOTEMPTY', 'rmdir', dir); }) as unknown as typeof rm,
        rename: (async () => { throw errno('EBUSY', 'rename', dir); }) as unknown as typeof rename,
      };
      expect(await clearScratchDir(dir, stuck)).toBe(`could not clear ${dir} (ENOTEMPTY) nor move it aside (EBUSY); going on with it as it is`);
      expect(await readdir(root)).toEqual(['.traces']);
    });
  });

  it('never throws while another process keeps writing into the folder', async () => {
    await withTempDir(async (root) => {
      await mkdir(root, { recursive: true });
      const dir = path.join(root, '.traces');
      await mkdir(path.join(dir, 'deep', 'er'), { recursive: true });
      let writing = true;
      let written = 0;
      // A dying Chromium child still flushing trace chunks: new files appear while rm walks the tree.
      const writer = (async () => {
        while (writing) {
          await mkdir(path.join(dir, 'deep', 'er'), { recursive: true }).catch(() => undefined);
          await writeFile(path.join(dir, 'deep', 'er', `chunk-${written++}`), 'x'.repeat(1024)).catch(() => undefined);
        }
      })();
      const notes: (string | undefined)[] = [];
      for (let i = 0; i < 5; i++) notes.push(await clearScratchDir(dir));
      writing = false;
      await writer;
      expect(written).toBeGreaterThan(5);
      for (const note of notes) if (note !== undefined) expect(note).toMatch(/^could not clear .*(moved it aside|going on)/);
    });
  });
  it('a parent folder it cannot list is said in the note; a missing one is nothing to say', async () => {
    await withTempDir(async (root) => {
      await mkdir(root, { recursive: true });
      const dir = path.join(root, '.traces');
      await mkdir(dir);
      const denied = { rm, rename, readdir: async (target: string): Promise<string[]> => { throw errno('EACCES', 'scandir', target); } };
      expect(await clearScratchDir(dir, denied)).toBe(`could not look for folders an earlier launch moved aside next to ${dir} (EACCES); they stay until a later launch`);
      expect(await readdir(root)).toEqual([]);
      expect(await clearScratchDir(path.join(root, 'gone', '.traces'))).toBeUndefined();
    });
  });
});
