import { createHash } from 'node:crypto';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttachmentError } from '../protocol/errors.js';
import type { Reference } from '../prompts/types.js';
import { readReferences, referencePath, sidecarReferences } from './references.js';

let dir: string;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function reference(name: string, bytes: Buffer, character = 'Mara'): Promise<Reference> {
  const file = path.join(dir, 'refs', name);
  await writeFile(file, bytes);
  return { character, file, name, sha256: sha(bytes), bytes: bytes.length, type: 'image/png' };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'semantest-refs-'));
  await import('node:fs/promises').then((fs) => fs.mkdir(path.join(dir, 'refs')));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('reading a panel\'s references before the send', () => {
  it('sends each file\'s exact bytes under its name and type, in order', async () => {
    const a = await reference('mara.png', Buffer.from('mara-bytes'));
    const b = await reference('tom.png', Buffer.from('tom'), 'Tom');
    const sent = await readReferences([a, b], 'ch1/s1/p1');
    expect(sent.map((s) => [s.name, s.type, Buffer.from(s.base64, 'base64').toString()])).toEqual([['mara.png', 'image/png', 'mara-bytes'], ['tom.png', 'image/png', 'tom']]);
  });

  it('refuses a file changed since load: other size, same size other bytes, gone, or now a folder', async () => {
    const ref = await reference('edit.png', Buffer.from('aaaa'));
    await writeFile(ref.file, Buffer.from('aaaaa'));
    await expect(readReferences([ref], 'p1')).rejects.toThrow(`reference ${ref.file} changed since the prompt file was loaded (4 bytes then, 5 now): run again to load it`);
    await writeFile(ref.file, Buffer.from('bbbb'));
    await expect(readReferences([ref], 'p1')).rejects.toThrow(`reference ${ref.file} changed since the prompt file was loaded (its sha256 differs)`);
    await rm(ref.file);
    await expect(readReferences([ref], 'p1')).rejects.toThrow(/cannot be read \(ENOENT\): was it moved or deleted/);
    await import('node:fs/promises').then((fs) => fs.mkdir(ref.file));
    await expect(readReferences([ref], 'p1')).rejects.toBeInstanceOf(AttachmentError);
  });

  it('never reads past the recorded size: a reference swapped for a link to an endless file is refused', async () => {
    const ref = await reference('link.png', Buffer.from('abc'));
    await rm(ref.file);
    await symlink('/dev/zero', ref.file);
    await expect(readReferences([ref], 'p1')).rejects.toThrow('is no longer a regular file');
  });

  it('refuses too many or too large before reading anything', async () => {
    const ref = await reference('one.png', Buffer.from('x'));
    await expect(readReferences(Array.from({ length: 11 }, () => ref), 'ch1/s1/p1')).rejects.toThrow('ch1/s1/p1 has 11 reference images; the page takes at most 10 per message');
    await expect(readReferences([{ ...ref, bytes: 21 * 1024 * 1024 }], 'p1')).rejects.toThrow(`reference ${ref.file} is 21.0 MiB; the page takes at most 20 MiB per image`);
    const big = { ...ref, bytes: 15 * 1024 * 1024 };
    await expect(readReferences([big, big, big], 'p1')).rejects.toThrow("p1's reference images come to 45.0 MiB; at most 40 MiB go with one prompt");
  });

  it('names a reference relative to the prompt file\'s folder when it lies inside it', () => {
    expect(referencePath('/books/a/refs/mara.png', '/books/a/story.yaml')).toBe('refs/mara.png');
    expect(referencePath('/elsewhere/mara.png', '/books/a/story.yaml')).toBe('/elsewhere/mara.png');
    expect(sidecarReferences([{ character: 'Mara', file: '/books/a/refs/m.png', name: 'm.png', sha256: 'ab', bytes: 1, type: 'image/png' }], '/books/a/s.yaml'))
      .toEqual([{ character: 'Mara', file: 'refs/m.png', sha256: 'ab' }]);
  });
});
