// Writes a downloaded image the crash-safe way (DESIGN §7): `.part` → fsync → checks → rename →
// fsync(dir), then the sidecar through its own temp file, so a file under its final name is whole.
import { createHash } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { FatalError } from '../protocol/errors.js';
import { syncDir } from '../store/durable-json-file.js';

/** Resolves `relative` under `root`, refusing anything that would escape it. */
export function safeJoin(root: string, relative: string): string {
  const resolved = path.resolve(root, relative);
  if (!resolved.startsWith(path.resolve(root) + path.sep)) throw new FatalError(`refusing to write outside ${root}: ${relative}`);
  return resolved;
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function writeDurably(file: string, bytes: Buffer | string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const handle = await open(file, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Moves a checked `.part` file to its final name and makes the rename itself durable. */
export async function commitFile(partFile: string, finalFile: string): Promise<void> {
  await rename(partFile, finalFile);
  await syncDir(path.dirname(finalFile));
}

/** Writes JSON through a temp file so a reader never sees half a sidecar. */
export async function writeJsonAtomically(file: string, data: unknown): Promise<void> {
  const temp = `${file}.tmp`;
  await writeDurably(temp, `${JSON.stringify(data, null, 2)}\n`);
  await commitFile(temp, file);
}

export async function removeQuietly(file: string): Promise<void> {
  await rm(file, { force: true });
}
