// Thumbnails are written into the book folder only: a planted link at the temp name or in place of
// `.thumbs` makes no write land outside it (real files and links in a temp folder).
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { THUMBS_DIR, ThumbnailCache } from './thumbnails.js';

let dir: string;
let bookDir: string;
let image: string;
const precious = 'the user file the link points at\n';

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'thumbs-'));
  bookDir = path.join(dir, 'book');
  image = path.join(bookDir, 'ch1', 'p1.png');
  await mkdir(path.dirname(image), { recursive: true });
  await writeFile(image, await sharp({ create: { width: 40, height: 30, channels: 3, background: '#123456' } }).png().toBuffer());
});

afterEach(() => rm(dir, { recursive: true, force: true }));

it('replaces a link planted at the temp names of the thumbnail and the index instead of writing through it', async () => {
  const victim = path.join(dir, 'victim.txt');
  await writeFile(victim, precious);
  const thumbDir = path.join(bookDir, THUMBS_DIR, 'ch1');
  await mkdir(thumbDir, { recursive: true });
  await symlink(victim, path.join(thumbDir, `p1.jpg.${process.pid}.tmp`));
  await symlink(victim, path.join(bookDir, THUMBS_DIR, `index.json.${process.pid}.tmp`));

  const cache = await ThumbnailCache.open(bookDir);
  const thumb = await cache.thumbnailFor(image);
  await cache.save();
  expect(await readFile(victim, 'utf8')).toBe(precious);
  expect((await sharp(thumb.file).metadata()).width).toBe(40);
  expect(JSON.parse(await readFile(path.join(bookDir, THUMBS_DIR, 'index.json'), 'utf8')).entries['ch1/p1.png'].src).toBe(thumb.src);
});

it('refuses to make a thumbnail when .thumbs is a link out of the book, and writes nothing there', async () => {
  const elsewhere = path.join(dir, 'elsewhere');
  await mkdir(elsewhere);
  await symlink(elsewhere, path.join(bookDir, THUMBS_DIR));
  const cache = await ThumbnailCache.open(bookDir);
  await expect(cache.thumbnailFor(image)).rejects.toThrow(`${path.join(bookDir, THUMBS_DIR)} is not a folder (a link?): no thumbnail is written through it`);
  expect(await readdir(elsewhere)).toEqual([]);
});
