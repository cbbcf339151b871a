// A `.part` planted as a symlink in the book folder (real files and links in a temp folder): the
// image write replaces the link instead of writing through it, and the clean-up of a killed run's
// leftovers removes such a link without touching what it points at.
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileDurably } from '../store/durable.js';
import { removePartFiles } from './run-book.js';
import { safeJoin } from './save-image.js';

let dir: string;
let bookDir: string;
let victim: string;
const precious = 'a file of the user outside the book folder\n'.repeat(100);

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'part-'));
  bookDir = path.join(dir, 'out', 'book');
  await mkdir(path.join(bookDir, 'ch1', 's1'), { recursive: true });
  victim = path.join(dir, 'victim.txt');
  await writeFile(victim, precious);
});

afterEach(() => rm(dir, { recursive: true, force: true }));

describe('the image write', () => {
  it('replaces a planted .part link with a new file and leaves its target as it was', async () => {
    const part = `${safeJoin(bookDir, 'ch1/s1/p1.png')}.part`;
    await symlink(victim, part);
    await writeFileDurably(part, Buffer.from('PNG bytes'));
    expect(await readFile(victim, 'utf8')).toBe(precious);
    expect((await lstat(part)).isSymbolicLink()).toBe(false);
    expect(await readFile(part, 'utf8')).toBe('PNG bytes');
  });

  it('does not create the missing target of a dangling .part link', async () => {
    const target = path.join(dir, 'created-by-the-write');
    const part = path.join(bookDir, 'ch1', 's1', 'p2.png.part');
    await symlink(target, part);
    await writeFileDurably(part, 'PNG bytes');
    await expect(lstat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readFile(part, 'utf8')).toBe('PNG bytes');
  });

  it('refuses an output path whose name leaves the book folder', () => {
    expect(() => safeJoin(bookDir, '../../victim.txt')).toThrow(`refusing to write outside ${bookDir}: ../../victim.txt`);
    expect(safeJoin(bookDir, '..p1.png')).toBe(path.join(bookDir, '..p1.png'));
  });
});

describe('removePartFiles', () => {
  it('removes .part files and .part links, never what a link points at, and keeps a .part folder', async () => {
    await writeFile(path.join(bookDir, 'ch1', 's1', 'p1.png.part'), 'half');
    await symlink(victim, path.join(bookDir, 'ch1', 's1', 'p2.png.part'));
    await symlink(path.join(dir, 'nowhere'), path.join(bookDir, 'p3.png.part'));
    await mkdir(path.join(bookDir, 'odd.part'));
    await writeFile(path.join(bookDir, 'ch1', 's1', 'p4.png'), 'whole');

    expect(await removePartFiles(bookDir)).toBe(3);
    for (const gone of ['ch1/s1/p1.png.part', 'ch1/s1/p2.png.part', 'p3.png.part']) {
      await expect(lstat(path.join(bookDir, gone)), gone).rejects.toMatchObject({ code: 'ENOENT' });
    }
    expect(await readFile(victim, 'utf8')).toBe(precious);
    expect((await lstat(path.join(bookDir, 'odd.part'))).isDirectory()).toBe(true);
    expect(await readFile(path.join(bookDir, 'ch1', 's1', 'p4.png'), 'utf8')).toBe('whole');
  });

  it('does not descend into a linked folder', async () => {
    const elsewhere = path.join(dir, 'elsewhere');
    await mkdir(elsewhere);
    await writeFile(path.join(elsewhere, 'keep.part'), 'not ours');
    await symlink(elsewhere, path.join(bookDir, 'linked'));
    expect(await removePartFiles(bookDir)).toBe(0);
    expect(await readFile(path.join(elsewhere, 'keep.part'), 'utf8')).toBe('not ours');
    expect(await readlink(path.join(bookDir, 'linked'))).toBe(elsewhere);
  });
});
