// A lowdb adapter that survives power loss: lowdb's own JSONFile renames without fsync, and its
// JSONFilePreset keeps data in memory when NODE_ENV=test. Writes go through replaceFileDurably.
import { readFile } from 'node:fs/promises';
import type { Adapter } from 'lowdb';
import { replaceFileDurably, type ReplaceOptions } from './durable.js';

// Re-exported for src/run/save-image.ts until it imports ./durable.js.
export { syncDir } from './durable.js';

export interface DurableJsonFileOptions<T> extends ReplaceOptions {
  /** Checks the parsed JSON; throws (any error, its message is the reason) if the shape is wrong. */
  readonly parse: (value: unknown) => T;
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
  readonly #opts: DurableJsonFileOptions<T>;

  constructor(file: string, opts: DurableJsonFileOptions<T>) {
    this.#file = file;
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
      // A file cut short (a copy or a disk that filled up) says where it ends, so the user knows it is not a typo.
      const cut = /end of JSON input|Unterminated/i.test((error as Error).message) ? `, truncated at byte ${Buffer.byteLength(text)}` : '';
      throw new UnreadableFileError(this.#file, `not valid JSON${cut}: ${(error as Error).message}`);
    }
    try {
      return this.#opts.parse(value);
    } catch (error) {
      throw new UnreadableFileError(this.#file, `unexpected content: ${(error as Error).message}`);
    }
  }

  async write(data: T): Promise<void> {
    await replaceFileDurably(this.#file, `${JSON.stringify(data)}\n`, this.#opts);
  }
}
