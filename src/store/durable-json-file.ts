// A lowdb adapter that survives power loss: lowdb's own JSONFile renames without fsync, and its
// JSONFilePreset keeps data in memory when NODE_ENV=test. Temp file → fsync → rename → fsync(dir).
import { open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { Adapter } from 'lowdb';

export type WriteStep = 'temp-written' | 'temp-synced' | 'renamed' | 'dir-synced';

export interface DurableJsonFileOptions<T> {
  /** Checks the parsed JSON; throws (any error, its message is the reason) if the shape is wrong. */
  readonly parse: (value: unknown) => T;
  /** Test hook between the write's system calls; throwing there leaves the files as a crash would. */
  readonly onStep?: (step: WriteStep) => void | Promise<void>;
}

/** The file exists but holds nothing usable; `reason` says why in words. */
export class UnreadableFileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file} is unreadable (${reason})`);
    this.name = 'UnreadableFileError';
  }
}

export class DurableJsonFile<T> implements Adapter<T> {
  readonly #file: string;
  readonly #temp: string;
  readonly #opts: DurableJsonFileOptions<T>;

  constructor(file: string, opts: DurableJsonFileOptions<T>) {
    this.#file = file;
    this.#temp = `${file}.tmp`;
    this.#opts = opts;
  }

  /** `null` when the file does not exist; throws UnreadableFileError when it exists but is damaged. */
  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    if (text.length === 0) throw new UnreadableFileError(this.#file, 'empty file');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      // Power loss after a size change but before the data reached the disk leaves NULs.
      if (/^\0+$/.test(text)) throw new UnreadableFileError(this.#file, `${text.length} NUL bytes`);
      throw new UnreadableFileError(this.#file, `invalid JSON: ${(error as Error).message}`);
    }
    try {
      return this.#opts.parse(value);
    } catch (error) {
      throw new UnreadableFileError(this.#file, `unexpected content: ${(error as Error).message}`);
    }
  }

  async write(data: T): Promise<void> {
    const step = this.#opts.onStep ?? (() => undefined);
    const handle = await open(this.#temp, 'w');
    try {
      await handle.writeFile(`${JSON.stringify(data)}\n`);
      await step('temp-written');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await step('temp-synced');
    await rename(this.#temp, this.#file);
    await step('renamed');
    await syncDir(path.dirname(this.#file));
    await step('dir-synced');
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
