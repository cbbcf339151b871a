// The one durable write, for the journal, the snapshot and the images. lowdb's TextFile renames a
// temp file without fsync, so a power cut can leave the new name pointing at no data; here the
// bytes are fsynced before the rename and the folder after it.
import { constants } from 'node:fs';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { DiskFullError, isDiskFull } from '../protocol/errors.js';

/** The steps of a replace, in order; a crash between any two leaves the old file or the new one. */
export type DurableStep = 'temp-written' | 'temp-synced' | 'renamed' | 'dir-synced';

export interface ReplaceOptions {
  /** Test hook between the system calls; throwing there leaves the files as a crash would. */
  readonly onStep?: (step: DurableStep) => void | Promise<void>;
}

/**
 * Writes `file` (an image's `.part`) as a new file and fsyncs it and its folder entry, creating the
 * folder if needed. Whatever was under that name is unlinked first, never written through: a link
 * planted there cannot make the write land outside the folder.
 */
export async function writeFileDurably(file: string, data: string | Uint8Array): Promise<void> {
  await stopIfDiskFull(file, async () => {
    await makeDirDurably(path.dirname(file));
    const handle = await createFresh(file);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await syncDir(path.dirname(file));
  });
}

/**
 * Runs a write of `file`; a full disk (ENOSPC, EDQUOT) becomes a DiskFullError naming the file and
 * what to do, and the half-written `partial` (the file itself, or a temp file; none for a rename) is
 * removed so nothing half-made lies around. Any other error passes through untouched (the crash tests throw their own).
 */
async function stopIfDiskFull(file: string, write: () => Promise<void>, partial: string | undefined = file): Promise<void> {
  try {
    await write();
  } catch (error) {
    if (!isDiskFull(error)) throw error;
    if (partial !== undefined) await unlink(partial).catch(() => undefined);
    throw new DiskFullError(file, { cause: error });
  }
}

/** O_EXCL refuses an existing name, link or not; O_NOFOLLOW says the same where the OS has it. */
const FRESH = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | (constants.O_NOFOLLOW ?? 0);

async function createFresh(file: string): Promise<FileHandle> {
  try {
    return await open(file, FRESH, 0o666);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // A leftover (or a planted link): remove the entry itself, then create it again, exclusively.
    await unlink(file);
    return await open(file, FRESH, 0o666);
  }
}

/** Replaces `file` atomically: temp file → fsync → rename → fsync(dir). Readers see the old or the new bytes. */
export async function replaceFileDurably(file: string, data: string | Uint8Array, opts: ReplaceOptions = {}): Promise<void> {
  const step = opts.onStep ?? (() => undefined);
  const temp = `${file}.tmp`;
  // Only the temp file can be half-written: the old `file` stays whole until the rename.
  await stopIfDiskFull(file, async () => {
    await makeDirDurably(path.dirname(file));
    await writeAndSync(temp, data, step);
  }, temp);
  await step('temp-synced');
  await rename(temp, file);
  await step('renamed');
  await syncDir(path.dirname(file));
  await step('dir-synced');
}

/** Renames `from` to `to` and makes the rename survive power loss. */
export async function renameDurably(from: string, to: string): Promise<void> {
  // A rename needs no new blocks on most file systems, but a full folder may need one: `from` stays whole.
  await stopIfDiskFull(to, () => rename(from, to), undefined);
  // A move across folders also unlinks the old name; syncing its folder keeps it from coming back.
  if (path.dirname(from) !== path.dirname(to)) await syncDir(path.dirname(from));
  await syncDir(path.dirname(to));
}

/** Creates `dir` and whatever parents are missing, syncing each new folder's entry in its parent. */
export async function makeDirDurably(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  const top = path.resolve(first);
  for (let created = path.resolve(dir); ; created = path.dirname(created)) {
    await syncDir(path.dirname(created));
    if (created === top || path.dirname(created) === created) return;
  }
}

/** Makes a rename or a new file in `dir` survive power loss. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeAndSync(file: string, data: string | Uint8Array, step?: (step: DurableStep) => void | Promise<void>): Promise<void> {
  // A temp file (sidecar, snapshot) is created afresh too: a link planted at `<file>.tmp` is replaced, not written through.
  const handle = await createFresh(file);
  try {
    await handle.writeFile(data);
    await step?.('temp-written');
    await handle.sync();
  } finally {
    await handle.close();
  }
}
