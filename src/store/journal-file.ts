// The journal's write side: one open handle, one write + fdatasync per event, and a fresh segment
// swapped in by rename when the state has been compacted into snapshot.json.
import { constants, type FileHandle, open } from 'node:fs/promises';
import path from 'node:path';
import { CheckpointError } from '../protocol/errors.js';
import { replaceFileDurably, syncDir, type DurableStep } from './durable.js';

export class JournalFile {
  readonly #file: string;
  #handle: FileHandle | undefined;
  /** Where the next line goes: the end of the last line known to be whole and durable. */
  #size: number;
  /** Bytes may lie past #size (a torn tail, a failed write) and must go before the next append. */
  #dirty = true;
  /** The file's directory entry may not be durable yet (just created or just renamed). */
  #dirUnsynced = true;

  constructor(file: string, validBytes: number) {
    this.#file = file;
    this.#size = validBytes;
  }

  async append(text: string): Promise<void> {
    const handle = await this.#open();
    const bytes = Buffer.from(text);
    try {
      if (this.#dirty) {
        await handle.truncate(this.#size);
        await handle.datasync();
        this.#dirty = false;
      }
      if (this.#dirUnsynced) {
        await syncDir(path.dirname(this.#file));
        this.#dirUnsynced = false;
      }
      this.#dirty = true;
      // Positional, so a failed write is overwritten by the next one after the truncate above.
      for (let done = 0; done < bytes.length; ) {
        const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, this.#size + done);
        if (bytesWritten === 0) throw new Error('the write made no progress');
        done += bytesWritten;
      }
      await handle.datasync();
      this.#dirty = false;
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
    this.#size += bytes.length;
  }

  /** Replaces the file with one holding only `header`; a crash at any step leaves the old or the new file. */
  async startSegment(header: string, step: (step: DurableStep) => void | Promise<void>): Promise<void> {
    await replaceFileDurably(this.#file, header, {
      onStep: async (s) => {
        // The rename has happened: the old handle points at an unlinked file, appends must reopen.
        if (s === 'renamed') await this.#switchTo(Buffer.byteLength(header));
        if (s === 'dir-synced') this.#dirUnsynced = false;
        await step(s);
      },
    });
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }

  async #switchTo(size: number): Promise<void> {
    const old = this.#handle;
    this.#handle = undefined;
    this.#size = size;
    this.#dirty = false;
    this.#dirUnsynced = true;
    await old?.close().catch(() => undefined);
  }

  async #open(): Promise<FileHandle> {
    if (this.#handle) return this.#handle;
    // Neither O_TRUNC (the file is the history) nor O_APPEND (writes are positional, see append).
    const handle = await open(this.#file, constants.O_WRONLY | constants.O_CREAT);
    const { size } = await handle.stat();
    if (size < this.#size) {
      await handle.close();
      throw new CheckpointError(`${this.#file} shrank from ${this.#size} to ${size} bytes while it was open; another process is writing it`);
    }
    this.#handle = handle;
    return handle;
  }
}
