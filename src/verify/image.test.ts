import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { VerificationError } from '../protocol/errors.js';
import { inspectImage } from './image.js';
import { darkDrawing, inkSketch, makePanels, type Panel } from '../../test/support/images.js';

/** Expects a VerificationError whose message matches `message`. */
async function refused(bytes: Buffer, message: RegExp, expectations = {}): Promise<void> {
  const error = await inspectImage(bytes, expectations).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(VerificationError);
  expect((error as Error).message).toMatch(message);
}

function flat(colour: string, width = 512, height = 512): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: colour } }).png().toBuffer();
}

/** Offset of the IEND chunk (its length field), i.e. where a cut drops exactly that chunk. */
function iendOffset(png: Buffer): number {
  return png.lastIndexOf(Buffer.from('IEND', 'latin1')) - 4;
}

describe('inspectImage', () => {
  let panel: Panel;
  beforeAll(async () => {
    [panel] = await makePanels();
  });

  it.each(['png', 'jpeg', 'webp'] as const)('decodes a %s and reports its facts', async (format) => {
    const bytes = await sharp(panel.png).resize(768, 512, { fit: 'fill' }).toFormat(format).toBuffer();
    const facts = await inspectImage(bytes);
    expect(facts).toMatchObject({ format, width: 768, height: 512, bytes: bytes.length });
    expect(facts.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(facts.stdev).toBeGreaterThan(10);
  });

  it('reports the displayed size of an EXIF-rotated JPEG', async () => {
    const bytes = await sharp(panel.png).resize(600, 300, { fit: 'fill' }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    expect(await inspectImage(bytes)).toMatchObject({ width: 300, height: 600 });
  });

  it('refuses an empty buffer', async () => {
    await refused(Buffer.alloc(0), /empty/);
  });

  it('refuses bytes that are not an image, and says when they look like a web page', async () => {
    await refused(Buffer.from('\x00\x01garbage bytes that are no image at all'), /not a PNG, JPEG or WebP/);
    await refused(Buffer.from('<!DOCTYPE html><html><body>Log in</body></html>'), /HTML\/JSON page/);
  });

  it('refuses a PNG cut at 60% of its bytes', async () => {
    await refused(panel.png.subarray(0, Math.floor(panel.png.length * 0.6)), /PNG is truncated/);
  });

  it('refuses a PNG cut just before IEND, even though every pixel row is present', async () => {
    await refused(panel.png.subarray(0, iendOffset(panel.png)), /no IEND chunk/);
  });

  it('refuses a PNG whose pixel data is corrupt but whose chunks are intact', async () => {
    const bytes = Buffer.from(panel.png);
    const middle = Math.floor(bytes.length / 2);
    for (let i = middle; i < middle + 64; i++) bytes[i] ^= 0x5a;
    await refused(bytes, /cannot be fully decoded/);
  });

  it.each(['jpeg', 'webp'] as const)('refuses a %s cut at 60%% of its bytes', async (format) => {
    const bytes = await sharp(panel.png).toFormat(format).toBuffer();
    await refused(bytes.subarray(0, Math.floor(bytes.length * 0.6)), /truncated/);
  });

  it.each([
    ['white', '#ffffff'],
    ['black', '#000000'],
    ['grey', '#808080'],
  ])('refuses a blank %s image', async (_name, colour) => {
    await refused(await flat(colour), /blank/);
  });

  it('refuses a blank image even after JPEG noise', async () => {
    await refused(await sharp(await flat('#7a7a7a')).jpeg({ quality: 40 }).toBuffer(), /blank/);
  });

  it('refuses a flat image with only a tiny mark in it', async () => {
    const dot = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="1024" height="1024"><rect width="1024" height="1024" fill="#fff"/><circle cx="900" cy="900" r="20"/></svg>');
    await refused(await sharp(dot).png().toBuffer(), /nearly blank/);
  });

  it('refuses a 10×10 image and one with a 10:1 aspect', async () => {
    await refused(await sharp(panel.png).resize(10, 10).png().toBuffer(), /too small: 10×10/);
    await refused(await sharp(panel.png).resize(1000, 100, { fit: 'fill' }).png().toBuffer(), /implausible shape: 1000×100/);
  });

  it('honours custom expectations', async () => {
    const small = await sharp(panel.png).resize(48, 48).png().toBuffer();
    await expect(inspectImage(small, { minWidth: 32, minHeight: 32 })).resolves.toMatchObject({ width: 48 });
    const wide = await sharp(panel.png).resize(1000, 100, { fit: 'fill' }).png().toBuffer();
    await expect(inspectImage(wide, { maxAspect: 12 })).resolves.toMatchObject({ width: 1000, height: 100 });
    await refused(panel.png, /too small/, { minWidth: 2048 });
  });

  it('accepts a sparse black-ink sketch on a white page', async () => {
    const facts = await inspectImage(await inkSketch());
    expect(facts.format).toBe('png');
    expect(facts.stdev).toBeGreaterThan(2);
  });

  it('accepts a dark but detailed drawing', async () => {
    const facts = await inspectImage(await darkDrawing());
    expect(facts).toMatchObject({ width: 768, height: 768 });
  });

  it('accepts every test panel and a transparent-background PNG', async () => {
    for (const p of await makePanels()) await expect(inspectImage(p.png)).resolves.toMatchObject({ width: 1024, height: 1024 });
    // No background at all: ink on transparency, which the page shows on white.
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512"><circle cx="256" cy="256" r="150" fill="none" stroke="#000" stroke-width="12"/></svg>';
    const cutout = await sharp(Buffer.from(svg)).png().toBuffer();
    expect((await sharp(cutout).metadata()).hasAlpha).toBe(true);
    await expect(inspectImage(cutout)).resolves.toMatchObject({ format: 'png' });
  });
});
