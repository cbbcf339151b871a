// Rejecting a verified image (issue 11, "review and regenerate"). A person says an image is not
// right; the job becomes `rejected` and the next run (or --resume) generates it again.
//
// Order: the rejection is journalled first (fsynced, with the place the file will be kept already
// decided), then the image, its sidecar and its evidence screenshot are moved aside under
// `<out>/<book>/.rejected/`, never overwritten or deleted:
//
//   <book>/ch1/s1/p2.png            → <book>/.rejected/ch1/s1/p2.<n>.png   (n = 1, 2, … first free)
//   <book>/ch1/s1/p2.json           → <book>/.rejected/ch1/s1/p2.<n>.json
//   <book>/.evidence/ch1/s1/p2.png  → <book>/.rejected/.evidence/ch1/s1/p2.<n>.png
//
// A crash between the two leaves a `rejected` record whose files still sit at their old paths:
// `repairRejection` finishes the move. Callers hold the book's lock (`reject`, the plan of a run,
// a run's own dashboard), so nothing else writes these files meanwhile.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../protocol/errors.js';
import { joinInside } from '../inside.js';
import { makeDirDurably, renameDurably } from './durable.js';
import { sha256OfFile, sidecarOf } from './files.js';

export { sidecarOf } from './files.js';
import type { JobRecord, JobRejection, JobStore } from './types.js';

export const REJECTED_DIR = '.rejected';
const EVIDENCE_DIR = '.evidence';

/** A job that cannot be rejected (not verified, its image missing or elsewhere); the message says why. */
export class NotRejectableError extends UsageError {}

/** One file of a rejected image and where it is kept. */
export interface RejectionMove {
  readonly what: 'image' | 'sidecar' | 'evidence';
  readonly from: string;
  readonly to: string;
}

export interface RejectRequest {
  readonly id: string;
  /** `<out>/<book>`, the folder the run wrote the image under; by default where the record says it is. */
  readonly bookDir?: string;
  /** The job's image path relative to `bookDir` (`Job.outputPath`, `ch1/s1/p2.png`). */
  readonly outputPath: string;
  readonly reason: string;
  /** @default new Date() */
  readonly at?: Date;
}

export interface RejectResult {
  readonly rejection: JobRejection;
  /** The image as it was before: its path, now vacated. */
  readonly from: string;
  readonly moved: RejectionMove[];
}

/** Journals the rejection of a verified job, then moves its files aside. */
export async function rejectImage(store: JobStore, request: RejectRequest): Promise<RejectResult> {
  const { id, outputPath, reason } = request;
  const record = store.get(id);
  if (record?.state !== 'verified') throw new NotRejectableError(`${id} is not verified (${describeState(record)}), nothing to reject`);
  const bookDir = request.bookDir ?? bookDirOf(record, outputPath);
  if (bookDir === undefined) throw new NotRejectableError(`${id}: its checkpoint does not say where its image is (${record.path ?? 'no path'}); pass the run's --out`);
  const image = inside(bookDir, outputPath);
  if (record.path !== undefined && path.resolve(record.path) !== image) {
    throw new NotRejectableError(`${id}: its image is ${record.path}, not under ${path.resolve(bookDir)} (pass the run's --out)`);
  }
  const sha256 = await sha256OfFile(image);
  if (sha256 === undefined) throw new NotRejectableError(`${id}: its image ${image} is missing, nothing to move aside (--resume generates it again)`);
  const keptAs = await firstFreeKeptAs(bookDir, outputPath);
  const rejection: JobRejection = { reason, at: (request.at ?? new Date()).toISOString(), keptAs, sha256 };
  // The conversation gave the rejected image: the next attempt sends afresh instead of looking there.
  await store.record({ t: 'job', id, state: 'rejected', conversationUrl: '', rejection });
  const moved = await moveAside(rejectionMoves(bookDir, outputPath, keptAs));
  return { rejection, from: image, moved };
}

/**
 * Finishes the move of a rejection a crash cut short: for a `rejected` record, each of its files
 * still at its old path is moved to where the rejection keeps it. Returns what it moved.
 */
export async function repairRejection(record: JobRecord, outputPath: string): Promise<RejectionMove[]> {
  if (record.state !== 'rejected' || record.rejection === undefined || record.path === undefined) return [];
  const keptAs = record.rejection.keptAs;
  const bookDir = bookDirOf(record, outputPath);
  if (bookDir === undefined) {
    // The record's image is not where the prompt file would put it now: move what it names.
    const image = path.resolve(record.path);
    return moveAside([
      { what: 'image', from: image, to: keptAs },
      { what: 'sidecar', from: sidecarOf(image), to: sidecarOf(keptAs) },
    ]);
  }
  return moveAside(rejectionMoves(bookDir, outputPath, keptAs));
}

/** The book folder a record's image was written under (`path` = `<bookDir>/<outputPath>`), if it was. */
export function bookDirOf(record: JobRecord, outputPath: string): string | undefined {
  if (record.path === undefined) return undefined;
  const image = path.resolve(record.path);
  const relative = path.normalize(outputPath);
  return image.endsWith(path.sep + relative) ? image.slice(0, -(relative.length + 1)) : undefined;
}

/** The three files of one image and where a rejection kept as `keptAs` puts each. */
export function rejectionMoves(bookDir: string, outputPath: string, keptAs: string): RejectionMove[] {
  const image = inside(bookDir, outputPath);
  const rejectedDir = path.resolve(bookDir, REJECTED_DIR);
  return [
    { what: 'image', from: image, to: keptAs },
    { what: 'sidecar', from: sidecarOf(image), to: sidecarOf(keptAs) },
    { what: 'evidence', from: inside(path.join(bookDir, EVIDENCE_DIR), outputPath), to: path.join(rejectedDir, EVIDENCE_DIR, path.relative(rejectedDir, keptAs)) },
  ];
}

/** `<bookDir>/.rejected/<outputPath without .png>.<n>.png`, n the first for which none of the three files exists. */
export async function firstFreeKeptAs(bookDir: string, outputPath: string): Promise<string> {
  const base = inside(path.join(bookDir, REJECTED_DIR), outputPath).replace(/\.png$/, '');
  for (let n = 1; ; n++) {
    const keptAs = `${base}.${n}.png`;
    const taken = await Promise.all(rejectionMoves(bookDir, outputPath, keptAs).map((move) => exists(move.to)));
    if (!taken.some(Boolean)) return keptAs;
  }
}


/** Moves each file still at its old path and not yet at its new one; a file already moved, or never written, is skipped. */
async function moveAside(moves: RejectionMove[]): Promise<RejectionMove[]> {
  const moved: RejectionMove[] = [];
  for (const move of moves) {
    if (!(await exists(move.from))) continue;
    // Never overwrite a kept file: a clash is left as it is for a person to look at.
    if (await exists(move.to)) continue;
    await makeDirDurably(path.dirname(move.to));
    await renameDurably(move.from, move.to);
    moved.push(move);
  }
  return moved;
}

function describeState(record: JobRecord | undefined): string {
  return record?.state ?? 'pending';
}

/** Resolves `relative` under `root`, refusing anything that would escape it. */
function inside(root: string, relative: string): string {
  return joinInside(root, relative, () => new NotRejectableError(`refusing to move a file outside ${root}: ${relative}`));
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

