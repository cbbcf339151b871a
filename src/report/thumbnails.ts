// Small copies of a book's images for the contact sheet (and the dashboard): made once per image
// with sharp, under `<out>/<book>/.thumbs/<same relative path>.jpg`, and made again only when the
// source changed. A tiny index (`.thumbs/index.json`) remembers each source's size, mtime and
// sha256, so an unchanged image costs one stat; a touched one costs a hash; only new bytes cost a
// resize. Paths handed back are relative to the book folder with `/` separators, ready for a
// relative `src` in a page opened from disk or served from that folder. The report also asks for
// each image's near-duplicate fingerprint (near-duplicates.ts), kept in the same index for the
// same reason: a 3,000-panel book is not decoded again on every report.
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { isInsideLexically } from '../inside.js';
import { fingerprintOf, parseFingerprint } from './near-duplicates.js';

/** The folder under `<out>/<book>/` that holds the thumbnails and their index. */
export const THUMBS_DIR = '.thumbs';
const INDEX_FILE = 'index.json';
const INDEX_VERSION = 1;

export type ThumbnailFormat = 'jpeg' | 'webp';

export interface ThumbnailOptions {
  /** Largest width in pixels; a narrower source is not enlarged. @default 320 */
  readonly width?: number;
  /** @default 'jpeg' */
  readonly format?: ThumbnailFormat;
  /** Encoder quality, 1–100. @default 78 */
  readonly quality?: number;
  /** Also give each image's near-duplicate fingerprint (the report wants it, the dashboard not). @default false */
  readonly fingerprints?: boolean;
}

export interface ThumbnailRequest {
  /** The sha256 the caller expects the source to have (a sidecar's or a job record's). When given,
   * a thumbnail made from other bytes is remade even if the file's size and mtime look unchanged. */
  readonly sha256?: string;
}

/** One thumbnail, ready to put on a page. */
export interface Thumbnail {
  /** Path of the thumbnail relative to the book folder, `/`-separated, e.g. `.thumbs/ch1/s1/p1.en.jpg`. */
  readonly src: string;
  /** Absolute path of the thumbnail file. */
  readonly file: string;
  readonly width: number;
  readonly height: number;
  /** The source image's own size. */
  readonly sourceWidth: number;
  readonly sourceHeight: number;
  /** sha256 of the source bytes the thumbnail was made from. */
  readonly sha256: string;
  /** true when this call wrote the thumbnail, false when an existing one was reused. */
  readonly made: boolean;
  /** The source's near-duplicate fingerprint, when the cache was opened with `fingerprints`. */
  readonly fingerprint?: string;
}

interface IndexEntry {
  /** Thumbnail path relative to the book folder. */
  src: string;
  size: number;
  mtimeMs: number;
  sha256: string;
  width: number;
  height: number;
  sourceWidth: number;
  sourceHeight: number;
  /** The settings it was made with: `<format>@<width>q<quality>`. */
  settings: string;
  /** Near-duplicate fingerprint of the bytes `sha256` names; absent until a report asks. */
  fingerprint?: string;
}

interface IndexFile {
  version: number;
  entries: Record<string, IndexEntry>;
}

const EXTENSIONS: Record<ThumbnailFormat, string> = { jpeg: '.jpg', webp: '.webp' };

/** `a/b/c.png` → `a/b/c`, keeping dots that are part of the name (`p1.en`). */
function withoutImageExtension(relative: string): string {
  return relative.replace(/\.(png|jpe?g|webp)$/i, '');
}

const toPosix = (p: string) => p.split(path.sep).join('/');

/**
 * The thumbnails of one book folder. Open it once per page (or per process, for the dashboard);
 * concurrent requests for the same image share one resize. Call `save()` to keep the index.
 */
export class ThumbnailCache {
  readonly bookDir: string;
  readonly #width: number;
  readonly #format: ThumbnailFormat;
  readonly #quality: number;
  readonly #fingerprints: boolean;
  readonly #index: IndexFile;
  readonly #inFlight = new Map<string, Promise<Thumbnail>>();
  #dirty = false;
  #saving: Promise<unknown> = Promise.resolve();
  /** How many thumbnails were written and reused since the cache was opened. */
  readonly stats = { made: 0, reused: 0, fingerprinted: 0 };

  private constructor(bookDir: string, index: IndexFile, opts: ThumbnailOptions) {
    this.bookDir = path.resolve(bookDir);
    this.#index = index;
    this.#width = opts.width ?? 320;
    this.#format = opts.format ?? 'jpeg';
    this.#quality = opts.quality ?? 78;
    this.#fingerprints = opts.fingerprints === true;
    if (!Number.isInteger(this.#width) || this.#width < 1) throw new TypeError(`Expected \`width\` to be a positive integer, got ${this.#width}.`);
    if (!Number.isInteger(this.#quality) || this.#quality < 1 || this.#quality > 100) throw new TypeError(`Expected \`quality\` to be 1–100, got ${this.#quality}.`);
    if (!(this.#format in EXTENSIONS)) throw new TypeError(`Expected \`format\` to be jpeg or webp, got ${String(this.#format)}.`);
  }

  /** Opens the thumbnails of `bookDir` (`<out>/<book>`), reading its index if there is one. */
  static async open(bookDir: string, opts: ThumbnailOptions = {}): Promise<ThumbnailCache> {
    return new ThumbnailCache(bookDir, await readIndex(path.join(path.resolve(bookDir), THUMBS_DIR, INDEX_FILE)), opts);
  }

  get #settings(): string {
    return `${this.#format}@${this.#width}q${this.#quality}`;
  }

  /** Where the thumbnail of `imagePath` goes, relative to the book folder (no I/O). An image
   * outside the book folder gets a name from its absolute path under `.thumbs/_outside/`. */
  srcFor(imagePath: string): string {
    const stem = isInsideLexically(this.bookDir, imagePath)
      ? toPosix(withoutImageExtension(path.relative(this.bookDir, path.resolve(imagePath))))
      : `_outside/${createHash('sha256').update(path.resolve(imagePath)).digest('hex').slice(0, 24)}`;
    return `${THUMBS_DIR}/${stem}${EXTENSIONS[this.#format]}`;
  }

  /**
   * The thumbnail of `imagePath` (absolute, or relative to the working folder), made if it does not
   * exist yet or the image changed since (newer mtime or another size and other bytes, or bytes
   * other than `request.sha256`). Rejects if the image cannot be read or decoded.
   */
  thumbnailFor(imagePath: string, request: ThumbnailRequest = {}): Promise<Thumbnail> {
    const key = path.resolve(imagePath);
    const pending = this.#inFlight.get(key);
    if (pending) return pending;
    const work = this.#thumbnail(key, request).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, work);
    return work;
  }

  async #thumbnail(source: string, request: ThumbnailRequest): Promise<Thumbnail> {
    const src = this.srcFor(source);
    const file = path.join(this.bookDir, ...src.split('/'));
    const indexKey = toPosix(path.relative(this.bookDir, source));
    const info = await stat(source);
    const entry = Object.hasOwn(this.#index.entries, indexKey) ? this.#index.entries[indexKey] : undefined;
    const reusable = entry !== undefined && entry.src === src && entry.settings === this.#settings && (await exists(file));
    // A fingerprint is trusted only as the index's entry for these bytes, and only in today's format.
    const hasFingerprint = !this.#fingerprints || parseFingerprint(entry?.fingerprint) !== undefined;
    if (reusable && hasFingerprint && entry.size === info.size && entry.mtimeMs === info.mtimeMs && (request.sha256 === undefined || request.sha256 === entry.sha256)) {
      this.stats.reused += 1;
      return this.#result(entry, file, false);
    }
    const bytes = await readFile(source);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (reusable && entry.sha256 === sha256) {
      // Touched or copied, same picture (or only its fingerprint missing): remember the new mtime and keep the thumbnail.
      const kept: IndexEntry = { ...entry, size: info.size, mtimeMs: info.mtimeMs, ...(hasFingerprint ? {} : { fingerprint: await this.#fingerprint(bytes) }) };
      this.#index.entries[indexKey] = kept;
      this.#dirty = true;
      this.stats.reused += 1;
      return this.#result(kept, file, false);
    }
    const made = await this.#make(bytes, file);
    const fresh: IndexEntry = { src, size: info.size, mtimeMs: info.mtimeMs, sha256, settings: this.#settings, ...made, ...(this.#fingerprints ? { fingerprint: await this.#fingerprint(bytes) } : {}) };
    this.#index.entries[indexKey] = fresh;
    this.#dirty = true;
    this.stats.made += 1;
    return this.#result(fresh, file, true);
  }

  async #make(bytes: Buffer, file: string): Promise<Pick<IndexEntry, 'width' | 'height' | 'sourceWidth' | 'sourceHeight'>> {
    // From a buffer, not the path: sharp's cache would hand back the old picture of a replaced file.
    const image = sharp(bytes, { failOn: 'error' });
    const meta = await image.metadata();
    let pipeline = image.rotate().resize({ width: this.#width, withoutEnlargement: true });
    pipeline = this.#format === 'jpeg' ? pipeline.flatten({ background: '#ffffff' }).jpeg({ quality: this.#quality, mozjpeg: true }) : pipeline.webp({ quality: this.#quality });
    const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
    await makeFoldersBelow(this.bookDir, path.dirname(file));
    const temp = `${file}.${process.pid}.tmp`;
    await writeFresh(temp, data);
    await rename(temp, file);
    return { width: info.width, height: info.height, sourceWidth: meta.autoOrient?.width ?? meta.width ?? info.width, sourceHeight: meta.autoOrient?.height ?? meta.height ?? info.height };
  }

  async #fingerprint(bytes: Buffer): Promise<string> {
    const fingerprint = await fingerprintOf(bytes);
    this.stats.fingerprinted += 1;
    return fingerprint;
  }

  #result(entry: IndexEntry, file: string, made: boolean): Thumbnail {
    const fingerprint = this.#fingerprints && parseFingerprint(entry.fingerprint) ? { fingerprint: entry.fingerprint } : {};
    return { src: entry.src, file, width: entry.width, height: entry.height, sourceWidth: entry.sourceWidth, sourceHeight: entry.sourceHeight, sha256: entry.sha256, made, ...fingerprint };
  }

  /** Writes the index if anything changed (temp file and rename: a crash leaves the old one).
   * Calls are queued, so it is safe to call after every thumbnail made. */
  save(): Promise<void> {
    const run = this.#saving.then(() => this.#writeIndex());
    this.#saving = run.catch(() => undefined);
    return run;
  }

  async #writeIndex(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    const file = path.join(this.bookDir, THUMBS_DIR, INDEX_FILE);
    try {
      await mkdir(path.dirname(file), { recursive: true });
      const temp = `${file}.${process.pid}.tmp`;
      await writeFresh(temp, `${JSON.stringify(this.#index)}\n`);
      await rename(temp, file);
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }
}

/**
 * One thumbnail without keeping a cache open: opens `bookDir`'s index, makes or reuses the
 * thumbnail of `imagePath`, saves the index, and returns its path relative to the book folder.
 */
export async function thumbnailFor(imagePath: string, bookDir: string, opts: ThumbnailOptions & ThumbnailRequest = {}): Promise<string> {
  const cache = await ThumbnailCache.open(bookDir, opts);
  const thumbnail = await cache.thumbnailFor(imagePath, opts);
  await cache.save();
  return thumbnail.src;
}

async function readIndex(file: string): Promise<IndexFile> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<IndexFile>;
    if (parsed?.version === INDEX_VERSION && parsed.entries && typeof parsed.entries === 'object') return { version: INDEX_VERSION, entries: parsed.entries };
  } catch (error) {
    // Missing or damaged: thumbnails are remade as needed, nothing is lost.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && !(error instanceof SyntaxError)) throw error;
  }
  return { version: INDEX_VERSION, entries: Object.create(null) as Record<string, IndexEntry> };
}

/** Creates `dir` below `root` one folder at a time, refusing one that is a link (`.thumbs` pointing
 * elsewhere would put thumbnails, and empty folders, outside the book). */
async function makeFoldersBelow(root: string, dir: string): Promise<void> {
  await mkdir(root, { recursive: true });
  let current = root;
  for (const part of path.relative(root, dir).split(path.sep).filter(Boolean)) {
    current = path.join(current, part);
    await mkdir(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    if (!(await lstat(current)).isDirectory()) throw new Error(`${current} is not a folder (a link?): no thumbnail is written through it`);
  }
}

/** Writes a new file under a temp name: a leftover or a planted link there is removed, never written through. */
async function writeFresh(temp: string, data: string | Uint8Array): Promise<void> {
  await rm(temp, { force: true });
  await writeFile(temp, data, { flag: 'wx' });
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
