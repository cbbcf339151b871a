// The contact sheet (`semantest-run report`): one static HTML page per book laid out like the book
// (chapter → strip → panels in reading order, a panel's locales and variants side by side), each
// image as a thumbnail with its caption, failed, rejected and not-yet-run panels marked, and a
// tick-and-copy builder for the `semantest-run reject` command. The page opens from disk: every
// path is relative to `<out>/<book>/`, CSS and JS are inline, nothing is fetched.
//
// Three steps, so each can be tested and reused: `layoutSheet` (pure: prompt file + checkpoint →
// the book's structure), `attachImages` (I/O: which files exist, their thumbnails), `renderContactSheet`
// (pure: structure → HTML). `writeContactSheet` runs the three for a prompt file.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CheckpointError } from '../protocol/errors.js';
import { parseBookFor, readPromptText } from '../prompts/index.js';
import type { Job, PromptBook } from '../prompts/types.js';
import { isSheetId, SHEET_CHAPTER, withSheets } from '../prompts/sheets.js';
import { sidecarOf } from '../store/files.js';
import { openJobStore, replaceFileDurably } from '../store/index.js';
import type { JobRecord } from '../store/types.js';
import { findNearDuplicates, NEAR_DUPLICATE_THRESHOLD, type NearDuplicatePair } from './near-duplicates.js';
import { ThumbnailCache, type ThumbnailOptions } from './thumbnails.js';

export const CONTACT_SHEET_FILE = 'contact-sheet.html';

/** What a take (one job: a panel in one locale and variant) shows. */
export type TakeStatus =
  /** verified, its image on disk */
  | 'verified'
  /** verified in the checkpoint, but the file is not in the output folder */
  | 'missing'
  | 'failed'
  | 'rejected'
  /** started, submitted or downloaded: an attempt is under way or was cut off */
  | 'running'
  /** no record yet */
  | 'pending';

export interface TakeImage {
  /** Absolute path of the image file. */
  file: string;
  /** Link to the full image, relative to the book folder and URL-encoded. */
  href: string;
  /** The sha256 the checkpoint recorded, if any. */
  sha256?: string;
  thumb?: { src: string; width: number; height: number };
  /** Why no thumbnail could be made (unreadable file). */
  problem?: string;
  /** Near-duplicate fingerprint (near-duplicates.ts), when the thumbnails were asked for one. */
  fingerprint?: string;
}

/** A character's reference image as the page shows it (the References block at the top). */
export interface ReferenceImage {
  /** The file's name (its basename). */
  name: string;
  /** Absolute path of the image file. */
  file: string;
  /** Link to it, relative to the book folder (with `..` when it lies elsewhere) and URL-encoded. */
  href: string;
  /** The sha256 the prompt file's load recorded. */
  sha256: string;
  thumb?: { src: string; width: number; height: number };
  /** Why no thumbnail could be made (gone since, unreadable). */
  problem?: string;
}

/** A character of the book that has references: its image files, or `refs: sheet`. */
export interface SheetCharacter {
  name: string;
  /** `refs: sheet`: its sheet is its reference (shown in the Characters row, not repeated). */
  sheet: boolean;
  /** The files listed under `refs:` (none for a sheet). */
  refs: ReferenceImage[];
}

/** The references that went, or will go, with a take. */
export interface TakeReferences {
  /** `sent`: the verified image's sidecar says what went with the prompt; `planned`: the job's
   * references from the prompt file (what a run will send), when there is no sidecar to read. */
  from: 'sent' | 'planned';
  refs: Array<{ character: string; name: string; sheet: boolean; file: string }>;
}

export interface SheetTake {
  job: Job;
  status: TakeStatus;
  /** The record's state as journalled (`pending` when there is none). */
  state: string;
  attempts: number;
  /** The speech-bubble text of this take's locale, as written. */
  bubble?: string;
  /** A verified image whose prompt has changed since it was made. */
  stale: boolean;
  failure?: { kind: string; message: string; final: boolean; evidence: Array<{ name: string; href: string }> };
  rejection?: { reason: string; at?: string; keptAs?: string };
  /** The verified image, or the one a rejection kept. */
  image?: TakeImage;
  /** Who made it, or is making it (a fleet's worker and profile, src/report/fleet-sheet.ts). */
  madeBy?: string;
  /** Which character references went with it; absent when the panel names no character that has any. */
  references?: TakeReferences;
}

export interface SheetPanel {
  /** `ch1/s1/p3`: the job id without locale and variant. */
  key: string;
  id: string;
  /** The panel prompt as written (the same for all its takes). */
  prompt: string;
  takes: SheetTake[];
}

export interface SheetStrip {
  id: string;
  title?: string;
  panels: SheetPanel[];
}

export interface SheetChapter {
  id: string;
  title?: string;
  strips: SheetStrip[];
}

export interface SheetLayout {
  book: string;
  /** The prompt file as the user named it; the reject command repeats it. */
  file: string;
  chapters: SheetChapter[];
  /** The characters that have references, in file order (the References block at the top). */
  characters: SheetCharacter[];
  counts: Record<TakeStatus, number>;
  /** Checkpoint records of jobs that are no longer in the prompt file. */
  orphans: string[];
  /** Verified images that look alike (`attachImages` fills it): how many were compared, and the pairs. */
  nearDuplicates: { compared: number; threshold: number; pairs: NearDuplicatePair[] };
}

/** Titles and speech-bubble texts: what the prompt file says that jobs do not carry. */
export interface BookExtras {
  chapterTitles: Map<string, string>;
  /** Keyed `chapter/strip`. */
  stripTitles: Map<string, string>;
  /** Keyed `chapter/strip/panel`; a plain string, or text per locale. */
  texts: Map<string, string | Record<string, string>>;
}

export const NO_EXTRAS: BookExtras = { chapterTitles: new Map(), stripTitles: new Map(), texts: new Map() };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Reads chapter and strip titles and panels' `text` from a prompt file already validated by the loader. */
export function readBookExtras(text: string): BookExtras {
  const extras: BookExtras = { chapterTitles: new Map(), stripTitles: new Map(), texts: new Map() };
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch {
    return extras;
  }
  if (!isRecord(data) || !Array.isArray(data.chapters)) return extras;
  for (const chapter of data.chapters) {
    if (!isRecord(chapter) || typeof chapter.id !== 'string') continue;
    if (str(chapter.title)) extras.chapterTitles.set(chapter.id, String(chapter.title));
    for (const strip of Array.isArray(chapter.strips) ? chapter.strips : []) {
      if (!isRecord(strip) || typeof strip.id !== 'string') continue;
      if (str(strip.title)) extras.stripTitles.set(`${chapter.id}/${strip.id}`, String(strip.title));
      for (const panel of Array.isArray(strip.panels) ? strip.panels : []) {
        if (!isRecord(panel) || typeof panel.id !== 'string') continue;
        const key = `${chapter.id}/${strip.id}/${panel.id}`;
        if (typeof panel.text === 'string') extras.texts.set(key, panel.text);
        else if (isRecord(panel.text)) extras.texts.set(key, Object.fromEntries(Object.entries(panel.text).filter((e): e is [string, string] => typeof e[1] === 'string')));
      }
    }
  }
  return extras;
}

function bubbleOf(job: Job, extras: BookExtras): string | undefined {
  const key = `${job.chapter}/${job.strip}/${job.panel}`;
  const text = extras.texts.get(key);
  if (typeof text === 'string') return text;
  if (text && job.locale && Object.hasOwn(text, job.locale)) return text[job.locale];
  return undefined;
}

/**
 * A record's rejection, read defensively (older stores have none). It is set by a `rejected` line
 * and kept through the attempts that regenerate the panel, until the next verified image.
 */
function rejectionOf(record: JobRecord | undefined): SheetTake['rejection'] {
  const loose = record as unknown as { state?: unknown; rejection?: unknown } | undefined;
  if (loose?.state !== 'rejected' && !isRecord(loose?.rejection)) return undefined;
  if (loose?.state === 'verified') return undefined;
  const r = isRecord(loose?.rejection) ? loose.rejection : {};
  return { reason: str(r.reason) ?? '', ...(str(r.at) ? { at: str(r.at) } : {}), ...(str(r.keptAs) ? { keptAs: str(r.keptAs) } : {}) };
}

function statusOf(record: JobRecord | undefined): TakeStatus {
  const state = (record?.state as string | undefined) ?? 'pending';
  switch (state) {
    case 'verified':
      return 'verified';
    case 'failed':
      return 'failed';
    case 'rejected':
      return 'rejected';
    case 'pending':
      return 'pending';
    default:
      return 'running';
  }
}

/** A path relative to the book folder as a URL path: `/` separators, each segment encoded. */
export function hrefFrom(bookDir: string, file: string): string {
  return path
    .relative(bookDir, file)
    .split(path.sep)
    .map((segment) => (segment === '..' || segment === '.' ? segment : encodeURIComponent(segment)))
    .join('/');
}

/** `file` as written (absolute, or relative to the working folder), or relative to the book folder if it is there. */
function locate(bookDir: string, file: string): string {
  if (path.isAbsolute(file)) return file;
  const inBook = path.join(bookDir, file);
  return existsSync(inBook) || !existsSync(file) ? inBook : path.resolve(file);
}

/**
 * The book's structure in reading order, each job with its state from the checkpoint. Pure, but
 * for the `existsSync` deciding where a relative evidence or kept path lies. `bookDir` is
 * `<out>/<book>`; images are expected at `<bookDir>/<job.outputPath>`.
 */
export function layoutSheet(book: PromptBook, recordOf: (id: string) => JobRecord | undefined, bookDir: string, extras: BookExtras = NO_EXTRAS, allRecordIds: Iterable<string> = []): SheetLayout {
  const absBookDir = path.resolve(bookDir);
  const counts: Record<TakeStatus, number> = { verified: 0, missing: 0, failed: 0, rejected: 0, running: 0, pending: 0 };
  const chapters: SheetChapter[] = [];
  const chapterById = new Map<string, SheetChapter>();
  const stripByKey = new Map<string, SheetStrip>();
  const panelByKey = new Map<string, SheetPanel>();
  const characters: SheetCharacter[] = (book.characters ?? [])
    .filter((c) => c.sheet || c.refs.length > 0)
    .map((c) => ({
      name: c.name,
      sheet: c.sheet,
      refs: c.sheet ? [] : c.refs.map((r) => ({ name: r.name, file: r.file, href: hrefFrom(absBookDir, r.file), sha256: r.sha256 })),
    }));
  const usesSheet = new Set(characters.filter((c) => c.sheet).map((c) => c.name));
  // Jobs come in book order; grouping by first appearance keeps it.
  for (const job of [...book.jobs].sort((a, b) => a.order - b.order)) {
    let chapter = chapterById.get(job.chapter);
    if (!chapter) {
      chapter = { id: job.chapter, ...(extras.chapterTitles.has(job.chapter) ? { title: extras.chapterTitles.get(job.chapter) } : {}), strips: [] };
      chapterById.set(job.chapter, chapter);
      chapters.push(chapter);
    }
    const stripKey = `${job.chapter}/${job.strip}`;
    let strip = stripByKey.get(stripKey);
    if (!strip) {
      strip = { id: job.strip, ...(extras.stripTitles.has(stripKey) ? { title: extras.stripTitles.get(stripKey) } : {}), panels: [] };
      stripByKey.set(stripKey, strip);
      chapter.strips.push(strip);
    }
    const panelKey = `${stripKey}/${job.panel}`;
    let panel = panelByKey.get(panelKey);
    if (!panel) {
      panel = { key: panelKey, id: job.panel, prompt: job.prompt, takes: [] };
      panelByKey.set(panelKey, panel);
      strip.panels.push(panel);
    }
    const record = recordOf(job.id);
    const status = statusOf(record);
    const take: SheetTake = {
      job,
      status,
      state: (record?.state as string | undefined) ?? 'pending',
      attempts: record?.attempts ?? 0,
      stale: status === 'verified' && !!record?.promptHash && record.promptHash !== job.promptHash,
    };
    const bubble = bubbleOf(job, extras);
    if (bubble !== undefined) take.bubble = bubble;
    // What the prompt file says goes with it; attachImages puts the sidecar's record in its place.
    if (job.refs?.length) take.references = { from: 'planned', refs: job.refs.map((r) => ({ character: r.character, name: r.name, sheet: usesSheet.has(r.character), file: r.file })) };
    if (status === 'verified') {
      const file = path.join(absBookDir, job.outputPath);
      take.image = { file, href: hrefFrom(absBookDir, file), ...(record?.sha256 ? { sha256: record.sha256 } : {}) };
    }
    if (status === 'failed' && record?.failure) {
      const evidence = (record.failure.evidence ?? []).map((e) => {
        const file = locate(absBookDir, e);
        return { name: path.basename(e), href: hrefFrom(absBookDir, file) };
      });
      take.failure = { kind: record.failure.kind, message: record.failure.message, final: record.failure.final !== false, evidence };
    }
    const rejection = rejectionOf(record);
    if (rejection) {
      take.rejection = rejection;
      if (status === 'rejected' && rejection.keptAs) {
        const file = locate(absBookDir, rejection.keptAs);
        take.image = { file, href: hrefFrom(absBookDir, file) };
      }
    }
    counts[status] += 1;
    panel.takes.push(take);
  }
  const known = new Set(book.jobs.map((job) => job.id));
  const orphans = [...allRecordIds].filter((id) => !known.has(id)).sort();
  return { book: book.book, file: book.file, chapters, characters, counts, orphans, nearDuplicates: { compared: 0, threshold: NEAR_DUPLICATE_THRESHOLD, pairs: [] } };
}

export function* takesOf(sheet: SheetLayout): Generator<SheetTake> {
  for (const chapter of sheet.chapters) for (const strip of chapter.strips) for (const panel of strip.panels) yield* panel.takes;
}

/**
 * Checks each image is on disk and gives it a thumbnail (made once, see thumbnails.ts). A verified
 * take whose file is gone becomes `missing`; an unreadable image keeps its status with a `problem`.
 */
export async function attachImages(sheet: SheetLayout, thumbs: ThumbnailCache, concurrency = 4): Promise<void> {
  const work = [...takesOf(sheet)].filter((take) => take.image);
  let next = 0;
  const worker = async () => {
    while (next < work.length) {
      const take = work[next++];
      const image = take.image!;
      if (!existsSync(image.file)) {
        if (take.status === 'verified') {
          sheet.counts.verified -= 1;
          sheet.counts.missing += 1;
          take.status = 'missing';
        }
        delete take.image;
        continue;
      }
      try {
        const thumb = await thumbs.thumbnailFor(image.file, image.sha256 ? { sha256: image.sha256 } : {});
        image.thumb = { src: thumb.src.split('/').map(encodeURIComponent).join('/'), width: thumb.width, height: thumb.height };
        if (thumb.fingerprint) image.fingerprint = thumb.fingerprint;
      } catch (error) {
        image.problem = `cannot read the image: ${(error as Error).message}`;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  await attachReferenceThumbnails(sheet, thumbs);
  await thumbs.save();
  flagNearDuplicates(sheet);
  await readSentReferences(sheet);
}

/** Thumbnails of the characters' reference files, in the same `.thumbs/` (outside files under `_outside/`). */
async function attachReferenceThumbnails(sheet: SheetLayout, thumbs: ThumbnailCache): Promise<void> {
  for (const ref of sheet.characters.flatMap((c) => c.refs)) {
    if (!existsSync(ref.file)) {
      ref.problem = 'no such file';
      continue;
    }
    try {
      const thumb = await thumbs.thumbnailFor(ref.file, { sha256: ref.sha256 });
      ref.thumb = { src: thumb.src.split('/').map(encodeURIComponent).join('/'), width: thumb.width, height: thumb.height };
    } catch (error) {
      ref.problem = `cannot read the image: ${(error as Error).message}`;
    }
  }
}

/**
 * For each verified image on disk, the references its sidecar says went with the prompt (what was
 * sent, which the prompt file may since have changed). A sidecar without a list means none went; a
 * missing or unreadable one leaves what the prompt file says, marked as such.
 */
async function readSentReferences(sheet: SheetLayout): Promise<void> {
  const usesSheet = new Set(sheet.characters.filter((c) => c.sheet).map((c) => c.name));
  for (const take of takesOf(sheet)) {
    if (take.status !== 'verified' || !take.image) continue;
    let sidecar: unknown;
    try {
      sidecar = JSON.parse(await readFile(sidecarOf(take.image.file), 'utf8'));
    } catch {
      continue;
    }
    if (!isRecord(sidecar)) continue;
    if (!Array.isArray(sidecar.references)) {
      if (take.references) take.references = { from: 'sent', refs: [] };
      continue;
    }
    // Written relative to the prompt file's folder when inside it (src/run/references.ts).
    const source = isRecord(sidecar.source) ? str(sidecar.source.file) : undefined;
    const base = path.dirname(path.resolve(source ?? take.job.source.file));
    const refs = sidecar.references
      .filter(isRecord)
      .map((r) => ({ character: str(r.character) ?? '?', written: str(r.file) ?? '' }))
      .map(({ character, written }) => ({ character, name: path.basename(written), sheet: usesSheet.has(character), file: path.resolve(base, written) }));
    take.references = { from: 'sent', refs };
  }
}

/**
 * Fills `sheet.nearDuplicates` from the verified images' fingerprints. The locales of one panel
 * (same variant) are meant to be one picture with other words, so they are not compared; its
 * variants are meant to differ, so they are.
 */
export function flagNearDuplicates(sheet: SheetLayout, threshold = NEAR_DUPLICATE_THRESHOLD): void {
  const takes = [...takesOf(sheet)].filter((take) => take.status === 'verified' && take.image?.fingerprint);
  const byId = new Map(takes.map((take) => [take.job.id, take.job]));
  const sameShot = (a: string, b: string) => {
    const x = byId.get(a)!;
    const y = byId.get(b)!;
    return x.chapter === y.chapter && x.strip === y.strip && x.panel === y.panel && x.variant === y.variant;
  };
  const pairs = findNearDuplicates(
    takes.map((take) => ({ id: take.job.id, fingerprint: take.image!.fingerprint! })),
    threshold,
    sameShot,
  );
  sheet.nearDuplicates = { compared: takes.length, threshold, pairs };
}

// ─── HTML ────────────────────────────────────────────────────────────────────────────────────

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for HTML content or a quoted attribute value. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/**
 * The one shell-quoting rule, as JavaScript source: the page embeds it, and Node gets it below, so
 * what the tests check is what the page runs. Plain words stay bare; text without `$`, backquote,
 * `"`, `\` or `!` goes in double quotes; anything else in single quotes.
 */
const SHELL_WORD_SOURCE = String.raw`function shellWord(s) {
  s = String(s);
  if (/^[A-Za-z0-9_@%+=:,.\/-]+$/.test(s)) return s;
  if (!/[$\x60"\\!\n\r]/.test(s)) return '"' + s + '"';
  return "'" + s.replace(/'/g, "'\\''") + "'";
}`;

export const shellWord = new Function(`${SHELL_WORD_SOURCE}\nreturn shellWord;`)() as (s: string) => string;

/** The command the page builds for ticked ids (an empty reason leaves `"…"` to fill in). */
export function rejectCommand(file: string, ids: readonly string[], reason = ''): string {
  const because = reason.trim() ? shellWord(reason.trim()) : '"…"';
  return ['semantest-run', 'reject', shellWord(file), ...ids.map(shellWord), '--reason', because].join(' ');
}

const STATUS_LABEL: Record<TakeStatus, string> = {
  verified: 'verified',
  missing: 'file missing',
  failed: 'failed',
  rejected: 'rejected',
  running: 'in progress',
  pending: 'not run yet',
};

const ASPECT_RATIO: Record<string, string> = { '1:1': '1 / 1', '3:4': '3 / 4', '9:16': '9 / 16', '4:3': '4 / 3', '16:9': '16 / 9' };

function takeLabel(job: Job): string {
  return [job.locale, job.variant ? `~${job.variant}` : undefined].filter(Boolean).join(' ');
}

function renderTake(take: SheetTake): string {
  const { job } = take;
  const classes = ['take', take.status, ...(take.stale ? ['stale'] : [])];
  const ratio = ASPECT_RATIO[job.aspect ?? ''] ?? '1 / 1';
  const attrs = [
    `class="${classes.join(' ')}"`,
    `data-id="${escapeHtml(job.id)}"`,
    `data-order="${job.order}"`,
    `data-status="${take.status}"`,
    ...(take.failure ? [`data-kind="${escapeHtml(take.failure.kind)}"`] : []),
  ];
  const tip = escapeHtml(job.prompt);
  let frame: string;
  if (take.image?.thumb) {
    const { thumb } = take.image;
    frame = `<a class="frame" href="${escapeHtml(take.image.href)}" title="${tip}"><img src="${escapeHtml(thumb.src)}" width="${thumb.width}" height="${thumb.height}" alt="${escapeHtml(`${job.id}: ${job.prompt}`)}" loading="lazy" decoding="async"></a>`;
  } else {
    const why = take.image?.problem ?? STATUS_LABEL[take.status];
    frame = `<div class="frame slot" style="aspect-ratio: ${ratio}" title="${tip}"><span>${escapeHtml(why)}</span></div>`;
  }
  const badges: string[] = [];
  if (take.status === 'failed' && take.failure) {
    badges.push(`<span class="badge failed">failed · <b class="kind">${escapeHtml(take.failure.kind)}</b>${take.failure.final ? '' : ' (will retry)'}</span>`);
  } else if (take.status !== 'verified') {
    badges.push(`<span class="badge ${take.status}">${escapeHtml(STATUS_LABEL[take.status])}${take.status === 'running' ? ` (${escapeHtml(take.state)})` : ''}</span>`);
  }
  if (take.stale) badges.push('<span class="badge stale" title="the prompt changed since this image was made: --resume --regenerate-changed redoes it">prompt changed</span>');
  const lines: string[] = [];
  if (take.madeBy) lines.push(`<p class="made-by">${escapeHtml(take.madeBy)}</p>`);
  if (take.bubble !== undefined) lines.push(`<q class="bubble">${escapeHtml(take.bubble)}</q>`);
  if (take.references) lines.push(renderTakeReferences(take));
  if (take.failure) {
    lines.push(`<p class="words" title="the page's words">${escapeHtml(take.failure.message)}</p>`);
    if (take.failure.evidence.length) lines.push(`<p class="evidence">evidence: ${take.failure.evidence.map((e) => `<a href="${escapeHtml(e.href)}">${escapeHtml(e.name)}</a>`).join(', ')}</p>`);
  }
  if (take.rejection) {
    const why = escapeHtml(take.rejection.reason || '(no reason given)');
    lines.push(take.status === 'rejected' ? `<p class="words reason" title="why it was rejected">${why}</p>` : `<p class="words reason" title="this panel is being made again">redoing a rejected image: ${why}</p>`);
  }
  const pick = take.status === 'verified' ? `<label class="pick-label"><input type="checkbox" class="pick" value="${escapeHtml(job.id)}"> reject</label>` : '';
  const label = takeLabel(job);
  return `<figure ${attrs.join(' ')}>${frame}<figcaption title="${tip}"><div class="id-line"><code class="id">${escapeHtml(job.id)}</code>${label ? ` <span class="tag">${escapeHtml(label)}</span>` : ''}</div>${badges.join('')}${lines.join('')}${pick}</figcaption></figure>`;
}

/** `with: mara (mara-front.png, mara-side.jpg), tom (sheet)`: each character once, its files in the order sent. */
function renderTakeReferences(take: SheetTake): string {
  const { from, refs } = take.references!;
  const byCharacter = new Map<string, { sheet: boolean; names: string[]; files: string[] }>();
  for (const ref of refs) {
    const entry = byCharacter.get(ref.character) ?? { sheet: ref.sheet, names: [], files: [] };
    entry.names.push(ref.name);
    entry.files.push(ref.file);
    byCharacter.set(ref.character, entry);
  }
  const list = [...byCharacter]
    .map(([character, { sheet, names, files }]) => `<span class="ref" data-character="${escapeHtml(character)}" title="${escapeHtml(files.join('\n'))}">${escapeHtml(character)} (${escapeHtml(sheet ? 'sheet' : names.join(', '))})</span>`)
    .join(', ');
  if (from === 'sent') {
    if (refs.length === 0) return `<p class="refs" data-from="sent" title="its sidecar lists no references">sent without references</p>`;
    return `<p class="refs" data-from="sent" title="what went with the prompt, from the image's sidecar">with: ${list}</p>`;
  }
  if (take.status === 'verified') return `<p class="refs" data-from="planned" title="the image has no readable sidecar: these are the prompt file's references, not a record of what was sent">with (per the prompt file): ${list}</p>`;
  return `<p class="refs" data-from="planned" title="from the prompt file: what the next run sends">will go with: ${list}</p>`;
}

function renderPanel(panel: SheetPanel): string {
  const statuses = new Set(panel.takes.map((t) => t.status));
  const problem = [...statuses].some((s) => s !== 'verified');
  return `<li class="panel${problem ? ' has-problem' : ''}" data-panel="${escapeHtml(panel.key)}"><header title="${escapeHtml(panel.prompt)}"><span class="panel-id">${escapeHtml(panel.id)}</span><span class="prompt">${escapeHtml(panel.prompt)}</span></header><div class="takes">${panel.takes.map(renderTake).join('')}</div></li>`;
}

/** One image of a near-duplicate pair: thumbnail, id, prompt, and the same tick box as in the book below. */
function renderDuplicateSide(take: SheetTake): string {
  const { job, image } = take;
  const tip = escapeHtml(job.prompt);
  const thumb = image?.thumb
    ? `<a class="frame" href="${escapeHtml(image.href)}" title="${tip}"><img src="${escapeHtml(image.thumb.src)}" width="${image.thumb.width}" height="${image.thumb.height}" alt="${escapeHtml(`${job.id}: ${job.prompt}`)}" loading="lazy" decoding="async"></a>`
    : `<div class="frame slot" title="${tip}"><span>no thumbnail</span></div>`;
  return `<figure class="dup" data-id="${escapeHtml(job.id)}">${thumb}<figcaption title="${tip}"><div class="id-line"><code class="id">${escapeHtml(job.id)}</code></div><span class="prompt">${escapeHtml(job.prompt)}</span><label class="pick-label"><input type="checkbox" class="pick" value="${escapeHtml(job.id)}"> reject</label></figcaption></figure>`;
}

/** The "Near-duplicates" section at the top of the page: each pair side by side, closest first. */
function renderNearDuplicates(sheet: SheetLayout): string {
  const { compared, threshold, pairs } = sheet.nearDuplicates;
  const takeById = new Map([...takesOf(sheet)].map((take) => [take.job.id, take]));
  const rows = pairs
    .filter((pair) => takeById.has(pair.a) && takeById.has(pair.b))
    .map(
      (pair) =>
        `<li class="dup-pair" data-a="${escapeHtml(pair.a)}" data-b="${escapeHtml(pair.b)}" data-distance="${pair.distance}">${renderDuplicateSide(takeById.get(pair.a)!)}<span class="distance" title="differing cells of the 64-cell difference hash; ${threshold} or less is flagged">distance ${pair.distance}</span>${renderDuplicateSide(takeById.get(pair.b)!)}</li>`,
    );
  const what = `${compared} verified image${compared === 1 ? '' : 's'} compared`;
  const body = rows.length
    ? `<p class="meta">${rows.length} pair${rows.length === 1 ? '' : 's'} of panels look alike (${what}; distance ${threshold} or less of 64): a stale page saved twice, or the model repeating itself. Tick the one to make again; the reject command above collects it.</p><ol class="dup-pairs">${rows.join('')}</ol>`
    : `<p class="meta">no near-duplicates (${what}).</p>`;
  return `<section class="near-duplicates" id="near-duplicates" data-pairs="${rows.length}"><h2>Near-duplicates</h2>${body}</section>`;
}

/** The "References" block at the top: each character's reference images; a sheet user points to the Characters row. */
function renderReferences(sheet: SheetLayout): string {
  if (sheet.characters.length === 0) return '';
  const sheetsShown = sheet.chapters.some((c) => c.id === SHEET_CHAPTER);
  const rows = sheet.characters.map((character) => {
    const name = `<b class="name">${escapeHtml(character.name)}</b>`;
    if (character.sheet) {
      const where = sheetsShown ? `<a href="#chapter-${escapeHtml(encodeURIComponent(SHEET_CHAPTER))}">Characters</a> row` : `not made yet: <code>semantest-run characters</code>`;
      return `<li class="character uses-sheet" data-character="${escapeHtml(character.name)}">${name} uses its sheet (${where})</li>`;
    }
    const images = character.refs
      .map((ref) => {
        const frame = ref.thumb
          ? `<a class="frame" href="${escapeHtml(ref.href)}" title="${escapeHtml(ref.file)}"><img src="${escapeHtml(ref.thumb.src)}" width="${ref.thumb.width}" height="${ref.thumb.height}" alt="${escapeHtml(`${character.name}: ${ref.name}`)}" loading="lazy" decoding="async"></a>`
          : `<div class="frame slot" title="${escapeHtml(ref.file)}"><span>${escapeHtml(ref.problem ?? 'no thumbnail')}</span></div>`;
        return `<figure class="ref-image">${frame}<figcaption><a href="${escapeHtml(ref.href)}">${escapeHtml(ref.name)}</a></figcaption></figure>`;
      })
      .join('');
    return `<li class="character" data-character="${escapeHtml(character.name)}">${name}<div class="ref-images">${images}</div></li>`;
  });
  return `<section class="references" id="references"><h2>References</h2><ul class="characters">${rows.join('')}</ul></section>`;
}

function heading(id: string, title?: string): string {
  return `<span class="sid">${escapeHtml(id)}</span>${title ? ` ${escapeHtml(title)}` : ''}`;
}

const CSS = `
:root{color-scheme:light dark;--bg:#f3f0e8;--card:#fffdf8;--ink:#1f1d1a;--muted:#6d675d;--line:#d8d1c2;--ok:#2e7d32;--bad:#b3261e;--warn:#8a5a00;--info:#1f5fbf;--pick:#1f5fbf;--slot:#ebe6da}
@media (prefers-color-scheme:dark){:root{--bg:#181715;--card:#22201d;--ink:#ece7dd;--muted:#a39c8f;--line:#3a3631;--ok:#81c784;--bad:#ff8a80;--warn:#ffcc80;--info:#90caf9;--pick:#90caf9;--slot:#2c2925}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;background:var(--bg);color:var(--ink)}
header.book{padding:18px 24px 6px}
header.book h1{margin:0 0 4px;font-size:22px}
header.book .meta{color:var(--muted);margin:0}
.counts>span{margin-right:14px}
.filters{margin:4px 0 0;color:var(--muted)}
.counts .n{font-weight:600}
nav.toc{margin:6px 0 0;display:flex;flex-wrap:wrap;gap:4px 14px}
nav.toc a{color:var(--info)}
.toolbar{position:sticky;top:0;z-index:2;background:var(--card);border-bottom:1px solid var(--line);box-shadow:0 2px 6px rgba(0,0,0,.06);padding:8px 24px;display:flex;flex-wrap:wrap;gap:8px 12px;align-items:center}
.toolbar textarea{flex:1 1 460px;min-height:2.6em;height:2.6em;resize:vertical;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;padding:5px 7px;border:1px solid var(--line);border-radius:4px;background:var(--bg);color:var(--ink)}
.toolbar input[type=text]{width:220px;padding:4px 6px;border:1px solid var(--line);border-radius:4px;background:var(--bg);color:var(--ink)}
.toolbar button{padding:5px 12px;border:1px solid var(--line);border-radius:4px;background:var(--bg);color:var(--ink);cursor:pointer}
.toolbar button:disabled{opacity:.5;cursor:default}
.toolbar .hint{color:var(--muted);font-size:12px;flex-basis:100%}
#copy-status{color:var(--ok);font-size:12px;min-width:6em}
main{padding:4px 24px 48px}
section.chapter>h2{font-size:18px;margin:22px 0 6px;padding-bottom:4px;border-bottom:2px solid var(--line)}
section.strip>h3{font-size:14px;margin:14px 0 8px;color:var(--muted);font-weight:600}
.sid{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--muted);font-weight:500}
ol.panels{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
li.panel{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px;max-width:100%}
li.panel>header{display:flex;gap:8px;align-items:baseline;margin-bottom:6px;width:0;min-width:100%}
li.panel>header .panel-id{font-weight:700}
li.panel>header .prompt{color:var(--muted);font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;min-width:0}
.takes{display:flex;gap:10px;align-items:flex-start}
figure.take{margin:0;width:180px;display:flex;flex-direction:column;gap:4px}
.frame{display:block;width:180px;border-radius:3px;overflow:hidden;background:var(--slot)}
.frame img{display:block;width:100%;height:auto}
.slot{display:flex;align-items:center;justify-content:center;border:2px dashed var(--line);color:var(--muted);font-size:12px;text-align:center;padding:8px}
.take.failed .frame{border-color:var(--bad);color:var(--bad)}
.take.rejected .frame img{opacity:.45;filter:grayscale(1)}
.take.picked .frame{outline:3px solid var(--pick);outline-offset:2px}
figcaption{font-size:12px;display:flex;flex-direction:column;gap:3px;min-width:0}
.id-line{display:flex;gap:6px;align-items:baseline;flex-wrap:wrap}
code.id{font-size:11.5px;word-break:break-all}
.tag{font-size:11px;padding:0 5px;border:1px solid var(--line);border-radius:8px;color:var(--muted)}
.badge{align-self:flex-start;font-size:11px;font-weight:600;padding:1px 6px;border-radius:8px;border:1px solid currentColor}
.badge.failed,.badge.missing{color:var(--bad)}
.badge.rejected{color:var(--warn)}
.badge.running{color:var(--info)}
.badge.pending{color:var(--muted)}
.badge.stale{color:var(--warn)}
q.bubble{font-style:italic;white-space:pre-wrap;overflow-wrap:anywhere}
.words{margin:0;padding:3px 6px;border-left:3px solid var(--bad);background:var(--slot);white-space:pre-wrap;overflow-wrap:anywhere;max-height:9em;overflow:auto}
.words.reason{border-left-color:var(--warn)}
.made-by{margin:0;color:var(--muted);overflow-wrap:anywhere}
.refs{margin:0;color:var(--muted);overflow-wrap:anywhere}
.refs[data-from=planned]{font-style:italic}
section.references>h2{font-size:18px;margin:16px 0 6px;padding-bottom:4px;border-bottom:2px solid var(--line)}
ul.characters{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
li.character{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px;display:flex;flex-direction:column;gap:6px}
li.character.uses-sheet{color:var(--muted)}
li.character a{color:var(--info)}
.ref-images{display:flex;flex-wrap:wrap;gap:10px}
figure.ref-image{margin:0;width:120px;display:flex;flex-direction:column;gap:3px;font-size:12px;overflow-wrap:anywhere}
figure.ref-image .frame{width:120px}
.evidence{margin:0;color:var(--muted);overflow-wrap:anywhere}
.evidence a{color:var(--info)}
.pick-label{cursor:pointer;user-select:none;color:var(--muted)}
section.near-duplicates>h2{font-size:18px;margin:16px 0 6px;padding-bottom:4px;border-bottom:2px solid var(--line)}
ol.dup-pairs{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:12px}
li.dup-pair{background:var(--card);border:1px solid var(--warn);border-radius:6px;padding:8px;display:flex;gap:10px;align-items:flex-start}
li.dup-pair .distance{align-self:center;font-size:12px;color:var(--warn);font-weight:600;white-space:nowrap}
figure.dup{margin:0;width:180px;display:flex;flex-direction:column;gap:4px}
figure.dup .prompt{color:var(--muted);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
figure.dup.picked .frame{outline:3px solid var(--pick);outline-offset:2px}
body.problems-only li.panel:not(.has-problem){display:none}
body.problems-only section.strip:not(:has(li.has-problem)),body.problems-only section.chapter:not(:has(li.has-problem)){display:none}
footer{padding:0 24px 24px;color:var(--muted);font-size:12px}
`;

const SCRIPT = `
(function () {
  'use strict';
  ${SHELL_WORD_SOURCE}
  var form = document.getElementById('reject');
  var file = form.getAttribute('data-file');
  var command = document.getElementById('reject-command');
  var reason = document.getElementById('reject-reason');
  var copy = document.getElementById('copy');
  var clear = document.getElementById('clear');
  var count = document.getElementById('picked-count');
  var status = document.getElementById('copy-status');
  var problems = document.getElementById('problems-only');
  function picked() { return Array.prototype.slice.call(document.querySelectorAll('input.pick:checked')); }
  function update() {
    var boxes = picked();
    // An image can have several boxes (in the book and in near-duplicate pairs): its id goes in once.
    var ids = boxes.map(function (b) { return b.value; }).filter(function (id, i, all) { return all.indexOf(id) === i; });
    var why = reason.value.trim();
    command.value = ids.length ? ['semantest-run', 'reject', shellWord(file)].concat(ids.map(shellWord), ['--reason', why ? shellWord(why) : '"\\u2026"']).join(' ') : '';
    command.style.height = 'auto';
    if (command.value) command.style.height = command.scrollHeight + 2 + 'px';
    copy.disabled = ids.length === 0;
    clear.disabled = ids.length === 0;
    count.textContent = ids.length === 1 ? '1 image ticked' : ids.length + ' images ticked';
    Array.prototype.forEach.call(document.querySelectorAll('figure.take, figure.dup'), function (f) {
      var box = f.querySelector('input.pick');
      f.classList.toggle('picked', !!(box && box.checked));
    });
    status.textContent = '';
  }
  document.addEventListener('change', function (e) {
    var box = e.target;
    if (!(box && box.classList && box.classList.contains('pick'))) return;
    // Every box of the same image follows the one clicked, so unticking it anywhere drops it.
    Array.prototype.forEach.call(document.querySelectorAll('input.pick'), function (other) { if (other.value === box.value) other.checked = box.checked; });
    update();
  });
  reason.addEventListener('input', update);
  form.addEventListener('submit', function (e) { e.preventDefault(); });
  clear.addEventListener('click', function () { picked().forEach(function (b) { b.checked = false; }); update(); });
  function selectAll() {
    command.focus();
    command.select();
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
    status.textContent = ok ? 'Copied.' : 'Selected: press Ctrl+C (\\u2318C) to copy.';
  }
  copy.addEventListener('click', function () {
    if (!command.value) return;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(command.value).then(function () { status.textContent = 'Copied.'; }, selectAll);
    } else {
      selectAll();
    }
  });
  problems.addEventListener('change', function () { document.body.classList.toggle('problems-only', problems.checked); });
  document.body.classList.toggle('problems-only', problems.checked);
  update();
})();
`;

export interface RenderOptions {
  /** When the page was made (shown in its header). */
  generatedAt?: Date;
  /** The folder the reject command is to be run from (shown under it). */
  cwd?: string;
}

/** The contact sheet as one self-contained HTML document. Every text from the prompt file or the checkpoint is escaped. */
export function renderContactSheet(sheet: SheetLayout, opts: RenderOptions = {}): string {
  const total = Object.values(sheet.counts).reduce((a, b) => a + b, 0);
  const order: TakeStatus[] = ['verified', 'failed', 'rejected', 'missing', 'running', 'pending'];
  const counts = order
    .filter((s) => sheet.counts[s] > 0)
    .map((s) => `<span class="c-${s}"><span class="n">${sheet.counts[s]}</span> ${escapeHtml(STATUS_LABEL[s])}</span>`)
    .join('');
  const generated = opts.generatedAt ?? new Date();
  const toc = sheet.chapters.length > 1 ? `<nav class="toc">${sheet.chapters.map((c) => `<a href="#chapter-${escapeHtml(encodeURIComponent(c.id))}">${heading(c.id, c.title)}</a>`).join('')}</nav>` : '';
  const body = sheet.chapters
    .map(
      (chapter) =>
        `<section class="chapter" id="chapter-${escapeHtml(encodeURIComponent(chapter.id))}" data-chapter="${escapeHtml(chapter.id)}"><h2>${heading(chapter.id, chapter.title)}</h2>${chapter.strips
          .map(
            (strip) =>
              `<section class="strip" data-strip="${escapeHtml(`${chapter.id}/${strip.id}`)}"><h3>${heading(strip.id, strip.title)}</h3><ol class="panels">${strip.panels.map(renderPanel).join('')}</ol></section>`,
          )
          .join('')}</section>`,
    )
    .join('\n');
  const orphans = sheet.orphans.length
    ? `<p>${sheet.orphans.length} job${sheet.orphans.length === 1 ? '' : 's'} in the checkpoint ${sheet.orphans.length === 1 ? 'is' : 'are'} no longer in the prompt file: ${sheet.orphans.map((id) => `<code>${escapeHtml(id)}</code>`).join(', ')}</p>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' data: file:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>${escapeHtml(sheet.book)} — contact sheet</title>
<style>${CSS}</style>
</head>
<body>
<header class="book">
<h1>${escapeHtml(sheet.book)}</h1>
<p class="meta">${escapeHtml(sheet.file)} · ${total} image${total === 1 ? '' : 's'} · made ${escapeHtml(generated.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))}</p>
<p class="meta counts">${counts}</p>
${toc}
<p class="filters"><label><input type="checkbox" id="problems-only" form="reject"> only panels with a problem</label></p>
</header>
<form class="toolbar" id="reject" data-file="${escapeHtml(sheet.file)}" autocomplete="off">
<span id="picked-count">0 images ticked</span>
<label>reason <input type="text" id="reject-reason" placeholder="what is wrong with them"></label>
<textarea id="reject-command" readonly spellcheck="false" aria-label="reject command" placeholder="Tick images to build a semantest-run reject command for them"></textarea>
<button type="button" id="copy" disabled>Copy</button>
<button type="button" id="clear" disabled>Clear</button>
<span id="copy-status" role="status"></span>
${opts.cwd ? `<span class="hint">Run the command in ${escapeHtml(opts.cwd)}. Hover a caption for the prompt as written; click a thumbnail for the full image.</span>` : ''}
</form>
<main>
${renderReferences(sheet)}
${renderNearDuplicates(sheet)}
${body}
</main>
<footer>${orphans}<p>Made by <code>semantest-run report</code>. Thumbnails in <code>.thumbs/</code>; nothing on this page is loaded from the network.</p></footer>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

// ─── for a prompt file ───────────────────────────────────────────────────────────────────────

export interface ContactSheetOptions {
  /** The prompt file. */
  file: string;
  /** Output folder; when absent, the one the checkpoint's verified images are in, else `output`. */
  out?: string;
  /** @default 'checkpoints' */
  checkpointsDir?: string;
  thumbnails?: ThumbnailOptions;
  generatedAt?: Date;
}

export interface ContactSheetResult {
  /** The written page. */
  path: string;
  /** `<out>/<book>`. */
  bookDir: string;
  sheet: SheetLayout;
  thumbnails: { made: number; reused: number; fingerprinted: number };
}

/** `<out>` from where verified images were recorded, when they are all under one `<out>/<book>/`. */
function outFromRecords(book: PromptBook, recordOf: (id: string) => JobRecord | undefined): string | undefined {
  for (const job of book.jobs) {
    const record = recordOf(job.id);
    if (record?.state !== 'verified' || !record.path) continue;
    const recorded = path.resolve(record.path);
    const tail = path.join(book.book, ...job.outputPath.split('/'));
    if (recorded.endsWith(path.sep + tail)) return recorded.slice(0, -(tail.length + 1));
  }
  return undefined;
}

/** Reads the prompt file and its checkpoint, makes the thumbnails and writes `<out>/<book>/contact-sheet.html`. */
export async function writeContactSheet(opts: ContactSheetOptions): Promise<ContactSheetResult> {
  const text = await readPromptText(opts.file);
  // `refs: sheet` characters read their sheets where the run wrote them (the report's --out, else output).
  const book = parseBookFor(text, opts.file, opts.out);
  const checkpointDir = path.join(opts.checkpointsDir ?? 'checkpoints', book.book);
  if (!existsSync(checkpointDir)) {
    throw new CheckpointError(`no checkpoint for book "${book.book}" in ${checkpointDir}: no run has happened yet, so there is nothing to report (run semantest-run ${opts.file} first)`);
  }
  const store = await openJobStore(checkpointDir);
  try {
    const recordOf = (id: string) => store.get(id);
    const out = opts.out ?? outFromRecords(book, recordOf) ?? 'output';
    const bookDir = path.resolve(out, book.book);
    const ids = Object.keys(store.state().jobs);
    // Character sheets, once any was made, come first in a "Characters" row (src/prompts/sheets.ts).
    const extras = readBookExtras(text);
    const shown = ids.some(isSheetId) ? withSheets(book) : book;
    if (shown !== book && !extras.chapterTitles.has(SHEET_CHAPTER)) extras.chapterTitles.set(SHEET_CHAPTER, 'Characters');
    const sheet = layoutSheet(shown, recordOf, bookDir, extras, ids);
    const thumbs = await ThumbnailCache.open(bookDir, { ...opts.thumbnails, fingerprints: true });
    await attachImages(sheet, thumbs);
    const html = renderContactSheet(sheet, { generatedAt: opts.generatedAt, cwd: process.cwd() });
    const page = path.join(bookDir, CONTACT_SHEET_FILE);
    await replaceFileDurably(page, html);
    return { path: page, bookDir, sheet, thumbnails: { ...thumbs.stats } };
  } finally {
    await store.close();
  }
}
