// First half of "proof for every image": the saved bytes are a complete, decodable, non-blank picture.
// Every refusal is a VerificationError whose message a human can act on; the attempt is then retried.
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { VerificationError } from '../protocol/errors.js';

export interface ImageExpectations {
  /** Smallest acceptable width in pixels (default 64). */
  minWidth?: number;
  /** Smallest acceptable height in pixels (default 64). */
  minHeight?: number;
  /** Largest acceptable max(w/h, h/w) (default 4). */
  maxAspect?: number;
}

export interface ImageFacts {
  format: 'png' | 'jpeg' | 'webp';
  /** Displayed size, i.e. after any EXIF rotation, as the browser shows it. */
  width: number;
  height: number;
  bytes: number;
  sha256: string;
  /** Luminance standard deviation (0..255) of the downscaled greyscale image. */
  stdev: number;
}

type ImageFormat = ImageFacts['format'];

const DEFAULTS: Required<ImageExpectations> = { minWidth: 64, minHeight: 64, maxAspect: 4 };

/** Side of the greyscale thumbnail the blank check looks at; big enough to keep thin ink lines visible. */
const STATS_SIZE = 128;
/** Below this luminance spread an image is flat (white, black, grey, or one colour with codec noise). */
const BLANK_STDEV = 2;
/**
 * Share of thumbnail pixels within ±2 levels of the most common level above which the image is
 * "nearly blank" (a lone dot or watermark on a flat field). A sparse line drawing keeps well under
 * it: at 128 px every 1024 px line still touches a one-pixel-wide trail of thumbnail pixels.
 */
const BLANK_DOMINANT_SHARE = 0.995;

/** Checks that `bytes` is a whole, decodable, plausibly-sized, non-blank PNG/JPEG/WebP image. */
export async function inspectImage(bytes: Buffer, expect: ImageExpectations = {}): Promise<ImageFacts> {
  const want = { ...DEFAULTS, ...expect };
  if (bytes.length === 0) throw new VerificationError('the image file is empty (0 bytes)');

  const format = sniffFormat(bytes);
  checkContainer(format, bytes);

  let width: number;
  let height: number;
  try {
    const meta = await sharp(bytes, { failOn: 'error' }).metadata();
    if (meta.format !== format) throw new Error(`header says ${format}, decoder says ${meta.format}`);
    ({ width, height } = meta.autoOrient ?? meta);
  } catch (error) {
    throw new VerificationError(`the ${format.toUpperCase()} header is corrupt: ${reason(error)}`);
  }

  // Size checks come before the full decode, so a 1×1 pixel tracker costs nothing.
  if (width < want.minWidth || height < want.minHeight) {
    throw new VerificationError(`the image is too small: ${width}×${height} px, expected at least ${want.minWidth}×${want.minHeight}`);
  }
  const aspect = Math.max(width / height, height / width);
  if (aspect > want.maxAspect) {
    throw new VerificationError(`the image has an implausible shape: ${width}×${height} px (aspect ${aspect.toFixed(1)}:1, at most ${want.maxAspect}:1 expected)`);
  }

  const grey = await decodeGrey(bytes, format);
  const { stdev, dominantShare } = luminanceStats(grey);
  if (stdev < BLANK_STDEV) {
    throw new VerificationError(`the image is blank: one flat tone (luminance spread ${stdev.toFixed(2)} < ${BLANK_STDEV})`);
  }
  if (dominantShare > BLANK_DOMINANT_SHARE) {
    throw new VerificationError(`the image is nearly blank: ${(dominantShare * 100).toFixed(1)}% of it is a single tone`);
  }

  return { format, width, height, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), stdev };
}

/** Identifies the format by magic bytes; the file name and Content-Type are not trusted. */
function sniffFormat(bytes: Buffer): ImageFormat {
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  const head = bytes.subarray(0, 16);
  const text = head.toString('latin1').trimStart();
  // A login wall or error page saved in place of the image is the usual culprit.
  const hint = text.startsWith('<') || text.startsWith('{') ? ' (it looks like an HTML/JSON page)' : '';
  throw new VerificationError(`the file is not a PNG, JPEG or WebP image${hint}; it starts with ${head.toString('hex').replace(/(..)/g, '$1 ').trim()}`);
}

/**
 * Container-level completeness that decoders forgive: libpng happily returns every row of a PNG
 * whose IEND chunk is missing, and a WebP's RIFF size tells exactly how many bytes must follow.
 * JPEG needs nothing here: the decoder reports a premature end itself.
 */
function checkContainer(format: ImageFormat, bytes: Buffer): void {
  if (format === 'png') {
    let offset = 8;
    while (offset + 8 <= bytes.length) {
      const length = bytes.readUInt32BE(offset);
      const type = bytes.toString('latin1', offset + 4, offset + 8);
      const end = offset + 12 + length;
      if (end > bytes.length) throw new VerificationError(`the PNG is truncated: chunk ${type} at byte ${offset} needs ${end} bytes, the file has ${bytes.length}`);
      if (type === 'IEND') return;
      offset = end;
    }
    throw new VerificationError(`the PNG is truncated: it has no IEND chunk (${bytes.length} bytes)`);
  }
  if (format === 'webp') {
    const expected = bytes.readUInt32LE(4) + 8;
    if (expected > bytes.length) throw new VerificationError(`the WebP is truncated: its header promises ${expected} bytes, the file has ${bytes.length}`);
  }
}

/** Decodes every pixel (so corruption anywhere is caught) into a small greyscale thumbnail. */
async function decodeGrey(bytes: Buffer, format: ImageFormat): Promise<Buffer> {
  try {
    // failOn 'error' also rejects truncation; 'warning' would refuse harmless quirks such as odd ICC profiles.
    return await sharp(bytes, { failOn: 'error', autoOrient: true })
      // Transparent pixels show the page behind them, which is usually white.
      .flatten({ background: '#ffffff' })
      .greyscale()
      .resize(STATS_SIZE, STATS_SIZE, { fit: 'fill' })
      .raw()
      .toBuffer();
  } catch (error) {
    throw new VerificationError(`the ${format.toUpperCase()} cannot be fully decoded (truncated or corrupt): ${reason(error)}`);
  }
}

function luminanceStats(grey: Buffer): { stdev: number; dominantShare: number } {
  const histogram = new Array<number>(256).fill(0);
  let sum = 0;
  let sumSq = 0;
  for (const v of grey) {
    histogram[v]++;
    sum += v;
    sumSq += v * v;
  }
  const n = grey.length;
  const mean = sum / n;
  const stdev = Math.sqrt(Math.max(0, sumSq / n - mean * mean));
  let mode = 0;
  for (let v = 1; v < 256; v++) if (histogram[v] > histogram[mode]) mode = v;
  let near = 0;
  for (let v = Math.max(0, mode - 2); v <= Math.min(255, mode + 2); v++) near += histogram[v];
  return { stdev, dominantShare: near / n };
}

function reason(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0].trim();
}
