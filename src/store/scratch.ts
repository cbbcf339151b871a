// Clearing a scratch folder (trace scratch files, caches) must never end a run: something may still
// be writing into it (a Chromium child not yet reaped), which makes a recursive rm fail with ENOTEMPTY
// or EBUSY. See docs/ARCHITECTURE.md §2.
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

export interface ScratchFs {
  rm: typeof rm;
  rename: typeof rename;
  /** Lists the parent folder for earlier asides; fs.readdir unless a test stands in for it. */
  readdir?: (dir: string) => Promise<string[]>;
}

/** Tries of fs.rm before giving up; it retries EBUSY, EMFILE, ENFILE, ENOTEMPTY and EPERM itself. */
const RM_RETRIES = 5;

/**
 * Removes `dir` and everything in it. If that keeps failing, renames it aside (`<dir>.stale-<pid>-<ms>`,
 * cleared by a later call) so the caller gets an empty name to recreate; if even that fails, leaves it.
 * Never throws: returns a note for the user when the folder could not be removed, else undefined.
 */
export async function clearScratchDir(dir: string, fs: ScratchFs = { rm, rename }): Promise<string | undefined> {
  // Not finding the earlier asides is said, not thrown: the folder itself can still be cleared.
  let unlisted: string | undefined;
  await removeOldAsides(dir, fs).catch((error) => {
    unlisted = `could not look for folders an earlier launch moved aside next to ${dir} (${describe(error)}); they stay until a later launch`;
  });
  try {
    await fs.rm(dir, { recursive: true, force: true, maxRetries: RM_RETRIES, retryDelay: 50 });
    return unlisted;
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
    names = await (fs.readdir ?? readdir)(path.dirname(dir));
  } catch (error) {
    // No parent folder (or a file where it should be): there is nothing aside to remove.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw error;
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
