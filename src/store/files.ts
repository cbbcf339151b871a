// What the run, the plan, rejections and `status` all say about an image file: its hash and where
// its sidecar is. One definition each, so the places that read them cannot drift apart.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** The sha256 (hex) of a file's bytes, read as a stream; undefined when there is no such file. */
export async function sha256OfFile(file: string): Promise<string | undefined> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return hash.digest('hex');
}

/** The sha256 (hex) of bytes in memory. */
export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** An image's metadata sidecar: `p3.png` → `p3.json` (DESIGN §7). */
export function sidecarOf(image: string): string {
  return image.replace(/\.png$/, '.json');
}
