import { describe, expect, it } from 'vitest';
import { AttachmentError, UploadError, deserializeError, serializeError } from './errors.js';
import { GenerateRequestSchema, MAX_ATTACHMENT_BYTES, base64Bytes, describeIssues } from './messages.js';

const request = (attachments: unknown) => GenerateRequestSchema.safeParse({ jobId: 'p1', prompt: 'x', timeoutMs: 1000, attachments });
const png = (name: string, bytes: number) => ({ name, type: 'image/png', base64: Buffer.alloc(bytes, 7).toString('base64') });
const problem = (attachments: unknown) => {
  const parsed = request(attachments);
  return parsed.success ? 'accepted' : describeIssues(parsed.error);
};

describe('attachments in a generate request', () => {
  it('takes up to 10 images of PNG, JPEG or WebP with plain names', () => {
    expect(problem([png('mara.png', 10), { ...png('tom.jpg', 3), type: 'image/jpeg' }, { ...png('x.webp', 1), type: 'image/webp' }])).toBe('accepted');
    expect(problem(Array.from({ length: 11 }, (_, i) => png(`${i}.png`, 4)))).toMatch(/^attachments: .*10/);
  });

  it('refuses what the page would not take or a page could be tricked by', () => {
    expect(problem([{ ...png('a.gif', 4), type: 'image/gif' }])).toMatch(/^attachments\.0\.type: /);
    expect(problem([png('../secret.png', 4)])).toBe('attachments.0.name: must be a plain file name');
    expect(problem([png('a\nb.png', 4)])).toBe('attachments.0.name: must be a plain file name');
    expect(problem([{ ...png('a.png', 4), base64: 'not base64!' }])).toMatch(/attachments\.0\.base64: must be base64/);
    expect(problem([{ ...png('a.png', 4), base64: '' }])).toMatch(/attachments\.0\.base64: must decode to 1 byte/);
  });

  it('bounds each image at 20 MiB and all of them at 40 MiB (the browser carries 64 MiB to the page)', () => {
    expect(base64Bytes(Buffer.alloc(MAX_ATTACHMENT_BYTES).toString('base64'))).toBe(MAX_ATTACHMENT_BYTES);
    expect(problem([png('a.png', MAX_ATTACHMENT_BYTES)])).toBe('accepted');
    expect(problem([png('a.png', MAX_ATTACHMENT_BYTES + 1)])).toMatch(/^attachments\.0\.base64: /);
    const third = png('c.png', 2 * 1024 * 1024);
    expect(problem([png('a.png', MAX_ATTACHMENT_BYTES), png('b.png', MAX_ATTACHMENT_BYTES), third])).toBe('attachments: at most 40 MiB in all');
  });

  it('rebuilds the upload and attachment failures by kind on the runner side', () => {
    for (const error of [new UploadError('the page dropped mara.png'), new AttachmentError('reference x changed')]) {
      const back = deserializeError(serializeError(error));
      expect(back).toBeInstanceOf(error.constructor);
      expect([back.kind, back.message]).toEqual([error.kind, error.message]);
    }
  });
});
