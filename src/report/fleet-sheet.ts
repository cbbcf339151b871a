// `semantest-run report <file> --redis URL` (issue 17, "Watching a fleet"): the contact sheet of a
// book made by a fleet of workers. It is the local contact sheet (contact-sheet.ts) fed from the
// fleet's Redis instead of a checkpoint: `fleetRecords` turns the fleet's view (src/fleet/view.ts)
// into the journal records `layoutSheet` takes, and each take says which worker and profile made
// it. An image is shown when its file can be read from this machine (the worker's path, on a
// shared --out mount, or the same image under this machine's `<out>/<book>/`); else its caption
// says where it is: "on <host> at <path>".
import { existsSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../protocol/errors.js';
import { parseBookFor, readPromptText } from '../prompts/index.js';
import type { PromptBook } from '../prompts/types.js';
import type { FleetResult } from '../fleet/keys.js';
import { connectRedis, parseRedisUrl } from '../fleet/redis.js';
import { readFleetView, type FleetView } from '../fleet/view.js';
import { replaceFileDurably } from '../store/index.js';
import { sha256OfFile } from '../store/files.js';
import type { JobRecord } from '../store/types.js';
import { attachImages, CONTACT_SHEET_FILE, hrefFrom, layoutSheet, readBookExtras, renderContactSheet, takesOf, type BookExtras, type ContactSheetResult, type SheetTake } from './contact-sheet.js';
import { ThumbnailCache, type ThumbnailOptions } from './thumbnails.js';

export interface FleetSheetOptions {
  /** The prompt file: the book's name, and its titles and speech-bubble texts. */
  file: string;
  /** The fleet's Redis URL (--redis). */
  redis: string;
  /** @default 'output' */
  out?: string;
  thumbnails?: ThumbnailOptions;
  generatedAt?: Date;
}

/** Reads the fleet's book from Redis, makes the thumbnails it can and writes `<out>/<book>/contact-sheet.html`. */
export async function writeFleetContactSheet(opts: FleetSheetOptions): Promise<ContactSheetResult> {
  const text = await readPromptText(opts.file);
  const book = parseBookFor(text, opts.file, opts.out);
  const target = parseRedisUrl(opts.redis);
  const redis = await connectRedis(target);
  let view: FleetView | undefined;
  try {
    view = await readFleetView(redis, target, book.book);
  } finally {
    redis.disconnect();
  }
  if (!view) throw new UsageError(`--redis: book "${book.book}" is not enqueued on ${target.display}, so the fleet has nothing to report (semantest-run enqueue ${opts.file} --redis URL first)`);
  return writeFleetSheet(view, { file: opts.file, out: opts.out ?? 'output', extras: readBookExtras(text), thumbnails: opts.thumbnails, generatedAt: opts.generatedAt });
}

/** A failure as link.ts gives it to BullMQ (`kind: message`), split back. */
function failureOf(reason: string | undefined): { kind: string; message: string } {
  const match = /^([a-z][\w-]*): ([\s\S]*)$/.exec(reason ?? '');
  return match ? { kind: match[1], message: match[2] } : { kind: 'failed', message: reason || 'no reason given' };
}

/**
 * The fleet's view as the journal records the contact sheet reads (keyed by panel id): a result is
 * a verified record (a stale one keeps its older prompt hash, so the page says the prompt changed),
 * BullMQ's failure a final failure, a pin a started attempt, a dashboard rejection a rejection.
 */
export function fleetRecords(view: FleetView): Map<string, JobRecord> {
  const records = new Map<string, JobRecord>();
  for (const panel of view.panels) {
    const { job } = panel;
    const result = panel.state === 'verified' ? panel.result : panel.state === 'stale' ? panel.staleResult : undefined;
    const rejection = panel.rejection ? { reason: panel.rejection.reason, at: new Date(panel.rejection.at).toISOString(), keptAs: '', sha256: panel.rejection.sha256 } : undefined;
    const base = { id: job.id, promptHash: job.promptHash, attempts: 0, updatedAt: new Date(view.now).toISOString(), ...(rejection ? { rejection } : {}) };
    if (result) {
      records.set(job.id, { ...base, state: 'verified', promptHash: result.promptHash, attempts: 1, profile: result.profile, path: result.file, sha256: result.sha256, updatedAt: new Date(result.verifiedAt).toISOString() });
    } else if (panel.state === 'failed') {
      records.set(job.id, { ...base, state: 'failed', attempts: 1, failure: { ...failureOf(panel.failedReason), final: true, evidence: [] } });
    } else if (panel.state === 'in-flight') {
      records.set(job.id, { ...base, state: 'started', attempts: 1, ...(panel.pin ? { profile: panel.pin.profile } : {}) });
    } else if (rejection) {
      records.set(job.id, { ...base, state: 'pending' });
    }
  }
  return records;
}

/** Where this machine can read a result's image: the worker's own path, else the same bytes under `<bookDir>/<outputPath>`. */
async function readableCopy(result: FleetResult, bookDir: string): Promise<string | undefined> {
  // A result comes from the fleet's Redis: a path in it is used only for a PNG whose bytes are the
  // result's, so a forged result cannot pull another file of this machine into the report.
  const theirs = path.isAbsolute(result.file) && result.file.endsWith('.png') && existsSync(result.file);
  if (theirs && (await sha256OfFile(result.file).catch(() => undefined)) === result.sha256) return result.file;
  if (typeof result.outputPath !== 'string' || result.outputPath.split('/').some((part) => part === '..' || part === '') || !result.outputPath.endsWith('.png')) return undefined;
  const here = path.join(bookDir, ...result.outputPath.split('/'));
  // Another image may lie there (a local run's): only the fleet's bytes stand for its result.
  if (existsSync(here) && (await sha256OfFile(here).catch(() => undefined)) === result.sha256) return here;
  return undefined;
}

export async function writeFleetSheet(
  view: FleetView,
  opts: { file: string; out: string; extras?: BookExtras; thumbnails?: ThumbnailOptions; generatedAt?: Date },
): Promise<ContactSheetResult> {
  const bookDir = path.resolve(opts.out, view.book);
  const book: PromptBook = { ...view.fleetBook.book, file: opts.file, jobs: view.fleetBook.jobs };
  const records = fleetRecords(view);
  const sheet = layoutSheet(book, (id) => records.get(id), bookDir, opts.extras);
  const panelOf = new Map(view.panels.map((panel) => [panel.job.id, panel]));
  // Images on other machines get no thumbnail; their caption says where they are, after the thumbnails are made.
  const elsewhere = new Map<SheetTake, FleetResult>();
  for (const take of takesOf(sheet)) {
    const panel = panelOf.get(take.job.id);
    if (!panel) continue;
    const result = panel.state === 'verified' ? panel.result : panel.state === 'stale' ? panel.staleResult : undefined;
    if (result) {
      take.madeBy = `made by profile ${result.profile} on ${result.worker}`;
      const local = await readableCopy(result, bookDir);
      if (local) {
        take.image = { file: local, href: hrefFrom(bookDir, local), sha256: result.sha256 };
      } else {
        delete take.image;
        elsewhere.set(take, result);
      }
    } else if (panel.state === 'in-flight' && panel.pin) {
      take.madeBy = `being made by profile ${panel.pin.profile} on ${panel.pin.worker}`;
    }
  }
  const thumbs = await ThumbnailCache.open(bookDir, { ...opts.thumbnails, fingerprints: true });
  await attachImages(sheet, thumbs);
  for (const [take, result] of elsewhere) take.image = { file: result.file, href: '', sha256: result.sha256, problem: `on ${result.host} at ${result.file}` };
  const html = renderContactSheet(sheet, { generatedAt: opts.generatedAt, cwd: process.cwd() });
  const page = path.join(bookDir, CONTACT_SHEET_FILE);
  await replaceFileDurably(page, html);
  return { path: page, bookDir, sheet, thumbnails: { ...thumbs.stats } };
}
