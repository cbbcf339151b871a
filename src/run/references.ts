// A panel's reference images on their way to the page (docs/ARCHITECTURE.md §4, "Attachments"): read
// right before the send, checked against what the prompt file's load recorded, and turned into the
// generate request's attachments. Nothing is sent when any of them is wrong.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { AttachmentError } from '../protocol/errors.js';
import { MAX_ATTACHMENTS, MAX_ATTACHMENTS_TOTAL_BYTES, MAX_ATTACHMENT_BYTES, type Attachment } from '../protocol/messages.js';
import type { Reference } from '../prompts/types.js';
import { sha256Of } from '../store/files.js';

const MIB = 1024 * 1024;

/**
 * Reads each reference and checks it is still the file the prompt file was loaded with (same size,
 * same sha256): a reference edited mid-run would send a picture the panel's prompt hash never saw.
 * Throws an AttachmentError naming the file; reads no more than the recorded size of any of them.
 */
export async function readReferences(refs: readonly Reference[], jobId: string): Promise<Attachment[]> {
  if (refs.length > MAX_ATTACHMENTS) {
    throw new AttachmentError(`${jobId} has ${refs.length} reference images; the page takes at most ${MAX_ATTACHMENTS} per message`);
  }
  const total = refs.reduce((sum, r) => sum + r.bytes, 0);
  if (total > MAX_ATTACHMENTS_TOTAL_BYTES) {
    throw new AttachmentError(`${jobId}'s reference images come to ${(total / MIB).toFixed(1)} MiB; at most ${MAX_ATTACHMENTS_TOTAL_BYTES / MIB} MiB go with one prompt`);
  }
  const out: Attachment[] = [];
  for (const ref of refs) {
    if (ref.bytes > MAX_ATTACHMENT_BYTES) {
      throw new AttachmentError(`reference ${ref.file} is ${(ref.bytes / MIB).toFixed(1)} MiB; the page takes at most ${MAX_ATTACHMENT_BYTES / MIB} MiB per image`);
    }
    out.push({ name: ref.name, type: ref.type, base64: (await readExactly(ref)).toString('base64') });
  }
  return out;
}

async function readExactly(ref: Reference): Promise<Buffer> {
  const changed = `reference ${ref.file} changed since the prompt file was loaded`;
  let handle;
  try {
    // Non-blocking: a reference swapped for a named pipe must not hang the run on open.
    handle = await open(ref.file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new AttachmentError(`reference ${ref.file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): was it moved or deleted since the prompt file was loaded?`);
  }
  try {
    // fstat of the opened file: what is read is what was measured, even if the path is swapped.
    const stat = await handle.stat();
    if (!stat.isFile()) throw new AttachmentError(`reference ${ref.file} is no longer a regular file`);
    if (stat.size !== ref.bytes) throw new AttachmentError(`${changed} (${ref.bytes} bytes then, ${stat.size} now): run again to load it`);
    const bytes = Buffer.alloc(ref.bytes);
    let read = 0;
    while (read < bytes.length) {
      const { bytesRead } = await handle.read(bytes, read, bytes.length - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    if (read !== ref.bytes || sha256Of(bytes) !== ref.sha256) throw new AttachmentError(`${changed} (its sha256 differs): run again to load it`);
    return bytes;
  } finally {
    await handle.close();
  }
}

/** How a sidecar or a listing names a reference: relative to the prompt file's folder when inside it. */
export function referencePath(file: string, promptFile: string): string {
  const relative = path.relative(path.dirname(path.resolve(promptFile)), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative.split(path.sep).join('/') : file;
}

/** The sidecar's record of what went with the prompt. */
export function sidecarReferences(refs: readonly Reference[], promptFile: string): Array<{ character: string; file: string; sha256: string }> {
  return refs.map((r) => ({ character: r.character, file: referencePath(r.file, promptFile), sha256: r.sha256 }));
}
