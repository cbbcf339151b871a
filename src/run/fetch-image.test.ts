// Image bytes are fetched with the profile's cookies, so only from the provider's own origin: an
// image the page puts on any other host is refused before a request leaves (issue 14).
import { describe, expect, it } from 'vitest';
import { VerificationError } from '../protocol/errors.js';
import { fetchImage } from './attempt.js';

const BASE = 'http://127.0.0.1:4100/';

/** A stand-in for the context's request client that records every URL it is asked for. */
function fakeContext() {
  const asked: string[] = [];
  const request = {
    get: async (url: string) => {
      asked.push(url);
      return { status: () => 200, ok: () => true, body: async () => Buffer.from('png bytes') };
    },
  };
  return { asked, context: { request } as never };
}

describe('fetchImage', () => {
  it('fetches an image on the provider origin with the context', async () => {
    const { asked, context } = fakeContext();
    const src = 'http://127.0.0.1:4100/backend-api/estuary/content?id=file_1&sig=abc';
    expect((await fetchImage(context, src, BASE)).toString()).toBe('png bytes');
    expect(asked).toEqual([src]);
  });

  for (const [what, src, host] of [
    ['another host', 'https://images.example.net/file_1.png', 'images.example.net'],
    ['the same host on another port', 'http://127.0.0.1:4101/backend-api/estuary/content?id=file_1', '127.0.0.1:4101'],
    ['another scheme', 'https://127.0.0.1:4100/backend-api/estuary/content?id=file_1', '127.0.0.1:4100'],
    ['a host hidden behind user info', 'http://127.0.0.1:4100@evil.example/x.png', 'evil.example'],
  ] as const) {
    it(`refuses ${what} without sending a request, naming the host`, async () => {
      const { asked, context } = fakeContext();
      const refused = await fetchImage(context, src, BASE).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(VerificationError);
      expect((refused as Error).message).toContain(`another host (${host})`);
      expect(asked).toEqual([]);
    });
  }

  it('refuses an address that does not parse, without a request', async () => {
    const { asked, context } = fakeContext();
    await expect(fetchImage(context, 'http://[bad', BASE)).rejects.toThrow(/no usable address/);
    expect(asked).toEqual([]);
  });
});
