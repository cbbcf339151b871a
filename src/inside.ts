// The one answer to "is this path inside that folder?" (ARCHITECTURE §12). Two checks, for two uses:
// - `isInsideLexically` / `joinInside`: on the names only, for a file about to be written (it may not
//   exist yet); the write itself must then refuse to follow links (see writeFileDurably).
// - `realPathInside` / `openInside`: on real paths, for a file about to be served or read: a symlink
//   inside the folder that points out of it is outside, whatever its name says.
import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** True when `target` names something strictly below `root` (names only, no I/O). */
export function isInsideLexically(root: string, target: string): boolean {
  const relative = path.relative(path.resolve(root), path.resolve(target));
  return relative !== '' && !relative.startsWith(`..${path.sep}`) && relative !== '..' && !path.isAbsolute(relative);
}

/** Resolves `relative` under `root`; throws `refuse(message)` if the name would escape it. */
export function joinInside(root: string, relative: string, refuse: (message: string) => Error = (m) => new Error(m)): string {
  const resolved = path.resolve(root, relative);
  if (!isInsideLexically(root, resolved)) throw refuse(`refusing a path outside ${root}: ${relative}`);
  return resolved;
}

/** The real path of `target` when it exists and, links resolved, lies strictly below the real `root`; else undefined. */
export async function realPathInside(root: string, target: string): Promise<string | undefined> {
  try {
    const [realRoot, realTarget] = await Promise.all([realpath(root), realpath(target)]);
    return isInsideLexically(realRoot, realTarget) ? realTarget : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Opens a regular file for reading only if its real path is inside `root`. The real path is opened
 * with O_NOFOLLOW, so a link swapped in after the check is refused rather than followed.
 */
export async function openInside(root: string, target: string): Promise<{ handle: FileHandle; size: number } | undefined> {
  const real = await realPathInside(root, target);
  if (!real) return undefined;
  const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
  if (!handle) return undefined;
  const info = await handle.stat().catch(() => undefined);
  if (!info?.isFile()) {
    await handle.close();
    return undefined;
  }
  return { handle, size: info.size };
}
