// Clearing a scratch folder (trace scratch files, caches) must never end a run: something may still
// be writing into it (a Chromium child not yet reaped), which makes a recursive rm fail with ENOTEMPTY
// or EBUSY. See docs/ARCHITECTURE.md §2.
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

export interface ScratchFs {
  rm: typeof rm;
  rename: typeof rename;
}

/** Tries of fs.rm before giving up; it retries EBUSY, EMFILE, ENFILE, ENOTEMPTY and EPERM itself. */
const RM_RETRIES = 5;

/**
 * Removes `dir` and everything in it. If that keeps failing, renames it aside (`<dir>.stale-<pid>-<ms>`,
 * cleared by a later call) so the caller gets an empty name to recreate; if even that fails, leaves it.
 * Never throws: returns a note for the user when the folder could not be removed, else undefined.
 */
export async function clearScratchDir(dir: string, fs: ScratchFs = { rm, rename }): Promise<string | undefined> {
  await removeOldAsides(dir, fs);
  try {
    await fs.rm(dir, { recursive: true, force: true, maxRetries: RM_RETRIES, retryDelay: 50 });
    return undefined;
  } catch (error) {
    const why = describe(error);
    const aside = `${dir}.stale-${process.pid}-${Date.now()}`;
    try {
      await fs.rename(dir, aside);
      return `could not clear ${dir} (${why}); moved it aside to ${path.basename(aside)}, the next launch removes it`;
    } catch (renameError) {
      return `could not clear ${dir} (${why}) nor move it aside (${describe(renameError)}); going on with it as it is`;
    }
  }
}

/** Folders an earlier call moved aside: removed best-effort, a failure waits for the next launch. */
async function removeOldAsides(dir: string, fs: ScratchFs): Promise<void> {
  let names: string[];
  try {
    names = await readdir(path.dirname(dir));
  } catch {
    return;
  }
  const prefix = `${path.basename(dir)}.stale-`;
  for (const name of names.filter((n) => n.startsWith(prefix))) {
    await fs.rm(path.join(path.dirname(dir), name), { recursive: true, force: true, maxRetries: RM_RETRIES, retryDelay: 50 }).catch(() => undefined);
  }
}

function describe(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  return code ?? message;
}
