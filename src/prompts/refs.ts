// A character's reference images (ARCHITECTURE §8, "References"): each file read once when the prompt
// file loads, checked (a regular file, PNG/JPEG/WebP by its bytes, at most 20 MB) and recorded with
// its sha256, which goes into the prompt hash of every panel that sends it. Synchronous, like the
// rest of parsing, so the report's parse of the same file gives the same hashes.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { MAX_ATTACHMENT_BYTES } from '../protocol/messages.js';
import { sha256Of } from '../store/files.js';
import type { Reference } from './types.js';

const MIB = 1024 * 1024;

/** What a file is by its first bytes; the extension says nothing the page will believe. */
export function imageType(head: Uint8Array): Reference['type'] | undefined {
  const at = (offset: number, ascii: string) => Buffer.from(head.subarray(offset, offset + ascii.length)).toString('latin1') === ascii;
  if (at(0, '\x89PNG\r\n\x1a\n')) return 'image/png';
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (at(0, 'RIFF') && at(8, 'WEBP')) return 'image/webp';
  return undefined;
}

const OPEN_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  ENOTDIR: 'no such file (a folder in its path is a file)',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ELOOP: 'too many symbolic links',
};

/** A reference that cannot be used; the caller adds the file and position. */
export class ReferenceProblem extends Error {}

/**
 * Reads `file` once and describes it. Opened non-blocking and measured on the open descriptor, so a
 * FIFO or a device is refused without a read that could hang, and what is hashed is what was measured.
 */
export function readReference(character: string, file: string): Reference {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new ReferenceProblem(`${(code && OPEN_ERRORS[code]) ?? message}${code ? ` (${code})` : ''}`);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new ReferenceProblem('is a folder, not an image file');
    if (!stat.isFile()) throw new ReferenceProblem('is not a regular file (a device, pipe or socket)');
    if (stat.size === 0) throw new ReferenceProblem('is empty');
    if (stat.size > MAX_ATTACHMENT_BYTES) {
      throw new ReferenceProblem(`is ${(stat.size / MIB).toFixed(1)} MB; the page takes images of at most ${MAX_ATTACHMENT_BYTES / MIB} MB`);
    }
    const bytes = Buffer.alloc(stat.size);
    let read = 0;
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, read);
      if (n === 0) break;
      read += n;
    }
    if (read !== bytes.length) throw new ReferenceProblem('changed while it was being read');
    const type = imageType(bytes);
    if (!type) throw new ReferenceProblem('is not a PNG, JPEG or WebP image (judged by its bytes, not its name)');
    return { character, file, name: path.basename(file), sha256: sha256Of(bytes), bytes: bytes.length, type };
  } finally {
    closeSync(fd);
  }
}

/** A path from the prompt file, relative to its folder (an absolute path stays as written). */
export function resolveReference(promptFile: string, written: string): string {
  return path.resolve(path.dirname(path.resolve(promptFile)), written);
}
