// Where a downloaded image may be written, and how (ARCHITECTURE §7): `.part` → fsync → checks →
// rename → fsync(dir), then the sidecar replaced atomically, so a file under its final name is whole.
// The durable steps themselves live once, in src/store/durable.ts.
import { rm } from 'node:fs/promises';
import { FatalError } from '../protocol/errors.js';
import { joinInside } from '../inside.js';
import { replaceFileDurably } from '../store/durable.js';

/** Resolves `relative` under `root`, refusing a name that would escape it (links are the writer's
 * business: the `.part` is created without following one, see writeFileDurably). */
export function safeJoin(root: string, relative: string): string {
  return joinInside(root, relative, () => new FatalError(`refusing to write outside ${root}: ${relative}`));
}

export { sha256Of as sha256 } from '../store/files.js';

/** Writes JSON through a temp file so a reader never sees half a sidecar. */
export function writeJsonAtomically(file: string, data: unknown): Promise<void> {
  return replaceFileDurably(file, `${JSON.stringify(data, null, 2)}\n`);
}

export async function removeQuietly(file: string): Promise<void> {
  await rm(file, { force: true });
}
