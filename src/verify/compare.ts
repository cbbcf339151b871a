// Second half of "proof for every image": the saved file is the picture the page displayed.
// The page's <img> is screenshotted, so the two sides differ in size (CSS px × device scale),
// browser resampling and colour management; both are reduced to a tiny greyscale thumbnail where
// those differences vanish but a different picture, or one still loading, does not.
import sharp from 'sharp';
import { VerificationError } from '../protocol/errors.js';

export interface CompareResult {
  method: string;
  /** 0 = identical thumbnails, 1 = nothing in common; the mean of the two detail distances. */
  distance: number;
  threshold: number;
  /** The limit on `detail.worstBand`. */
  bandThreshold: number;
  match: boolean;
  detail: {
    /** Differing dHash cells / 64 (soft bits, see dHash). */
    hashDistance: number;
    /** Mean |a − b| of the contrast-normalised thumbnails / MAE_SCALE, capped at 1. */
    meanAbsDiff: number;
    /** The pixel difference of the worst of 8 horizontal bands (a strip still loading). */
    worstBand: number;
    /** Side of the thumbnail the pixel difference is taken on. */
    size: number;
  };
}

/**
 * Measured by src/verify/compare.test.ts (it prints these) on 12 synthetic 1024 px panels: ten
 * line-art comic panels on one paper colour with one frame (incl. a mirrored twin and a "second
 * take" of the same face), plus two painted textures from one recipe with different seeds.
 *   same picture, 192 pairs: real Chromium <img> screenshots at 384 CSS px ×1, ×2 (also with
 *     rounded corners) and 200 px, file as JPEG q80, resized to 384/256, brightness ×1.05/×0.95,
 *     gamma 1.1 and 1/1.1                                       max 0.027 (brightness ×1.05, clipped paper)
 *   different panel, 528 pairs vs those screenshots            min 0.172 (face vs its second take)
 *   still loading (bottom half grey, top half blurred), 24     min 0.329
 * 0.08 sits near the geometric mean of 0.027 and 0.172: ~3× above the worst resampling/colour noise
 * and ~2× below the closest different picture. A false reject costs a retry; a false accept would
 * break the proof, so the threshold leans towards the same-picture side.
 */
export const COMPARE_THRESHOLD = 0.08;

/**
 * The whole-picture distance averages a thin strip away: a screenshot whose bottom 10% is still
 * grey scored 0.06 and matched. So the worst of 8 horizontal bands is held to its own threshold.
 * Measured: same picture max 0.098 on the 12 test panels (brightness ×1.05) but 0.137 on a mock
 * panel with a caption strip, as the browser rescales small text; different panels min 0.306; a
 * grey strip over the bottom 5% / 10% / 25% min 0.167 / 0.480 / 0.642. 0.25 keeps captions 1.8×
 * below it and catches a 10% strip with 1.9× margin; a 5% strip is not caught.
 */
export const BAND_THRESHOLD = 0.25;

const METHOD = 'dhash64+mae32+band8';
const BASE = 64;
const MAE_SIZE = 32;
const BANDS = 8;
/**
 * Divisor that maps the z-score MAE onto 0..1: two unrelated pictures give about 1.1 (the mean
 * |a − b| of two independent unit normals), so unrelated pictures land near 0.5 like the hash does.
 */
const MAE_SCALE = 2;
/** Hash dead zone as a fraction of the thumbnail's luminance spread. */
const HASH_DEAD_ZONE = 0.05;

/** Compares the downloaded file with a PNG screenshot of the `<img>` element that showed it. */
export async function compareWithScreenshot(fileBytes: Buffer, screenshotPng: Buffer): Promise<CompareResult> {
  const [file, shot] = await Promise.all([thumbnail(fileBytes, 'downloaded file'), thumbnail(screenshotPng, 'page screenshot')]);
  const hashDistance = hamming(dHash(file), dHash(shot)) / 64;
  const a = standardise(areaResample(file, BASE, BASE, MAE_SIZE, MAE_SIZE));
  const b = standardise(areaResample(shot, BASE, BASE, MAE_SIZE, MAE_SIZE));
  let sum = 0;
  const bandSums = new Float64Array(BANDS);
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    bandSums[Math.floor(Math.floor(i / MAE_SIZE) / (MAE_SIZE / BANDS))] += d;
  }
  const meanAbsDiff = Math.min(1, sum / a.length / MAE_SCALE);
  const worstBand = Math.min(1, Math.max(...bandSums) / (a.length / BANDS) / MAE_SCALE);
  const distance = (hashDistance + meanAbsDiff) / 2;
  return {
    method: METHOD,
    distance,
    threshold: COMPARE_THRESHOLD,
    bandThreshold: BAND_THRESHOLD,
    match: distance <= COMPARE_THRESHOLD && worstBand <= BAND_THRESHOLD,
    detail: { hashDistance, meanAbsDiff, worstBand, size: MAE_SIZE },
  };
}

/** Decodes to a BASE×BASE greyscale thumbnail as the browser would show it: rotated, on white. */
export async function thumbnail(bytes: Buffer, what: string): Promise<Float64Array> {
  try {
    const raw = await sharp(bytes, { autoOrient: true })
      .flatten({ background: '#ffffff' })
      .greyscale()
      .resize(BASE, BASE, { fit: 'fill' })
      .raw()
      .toBuffer();
    return Float64Array.from(raw);
  } catch (error) {
    throw new VerificationError(`the ${what} cannot be decoded for comparison: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Box-filters a greyscale grid to a smaller one with fractional pixel coverage, so the 9×8 hash
 * grid and the 32×32 grid come from one decode and neither depends on a resampling kernel.
 */
function areaResample(src: ArrayLike<number>, sw: number, sh: number, dw: number, dh: number): Float64Array {
  const out = new Float64Array(dw * dh);
  const fx = sw / dw;
  const fy = sh / dh;
  for (let dy = 0; dy < dh; dy++) {
    const y0 = dy * fy;
    const y1 = y0 + fy;
    for (let dx = 0; dx < dw; dx++) {
      const x0 = dx * fx;
      const x1 = x0 + fx;
      let sum = 0;
      for (let sy = Math.floor(y0); sy < Math.ceil(y1); sy++) {
        const wy = Math.min(y1, sy + 1) - Math.max(y0, sy);
        for (let sx = Math.floor(x0); sx < Math.ceil(x1); sx++) {
          const wx = Math.min(x1, sx + 1) - Math.max(x0, sx);
          sum += src[sy * sw + sx] * wx * wy;
        }
      }
      out[dy * dw + dx] = sum / (fx * fy);
    }
  }
  return out;
}

/**
 * Difference hash over a 9×8 grid: each of the 64 cells says whether it is brighter than its right
 * neighbour. Flat paper makes neighbours nearly equal, and then 8-bit rounding alone flips the bit;
 * so each "bit" is soft, ±1 beyond a small dead zone and proportional inside it. Two hashes then
 * differ by 1 per opposite cell and ½ where one side is flat, and resampling noise costs ~nothing.
 */
export function dHash(base: Float64Array): Float64Array {
  const grid = areaResample(base, BASE, BASE, 9, 8);
  const deadZone = Math.max(0.5, HASH_DEAD_ZONE * spread(base));
  const bits = new Float64Array(64);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      const d = (grid[y * 9 + x] - grid[y * 9 + x + 1]) / deadZone;
      bits[y * 8 + x] = Math.max(-1, Math.min(1, d));
    }
  }
  return bits;
}

/** Hamming distance generalised to soft bits: 1 per fully opposite cell. */
function hamming(a: Float64Array, b: Float64Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) n += Math.abs(a[i] - b[i]) / 2;
  return n;
}

function spread(v: Float64Array): number {
  let mean = 0;
  for (const x of v) mean += x;
  mean /= v.length;
  let variance = 0;
  for (const x of v) variance += (x - mean) ** 2;
  return Math.sqrt(variance / v.length);
}

/**
 * Zero mean, unit spread: cancels brightness, contrast and most of a gamma shift, so what remains is
 * where the ink is. A flat input keeps spread 1 (no amplification of its codec noise), so it stays
 * far from any detailed picture.
 */
function standardise(v: Float64Array): Float64Array {
  let mean = 0;
  for (const x of v) mean += x;
  mean /= v.length;
  const sd = Math.max(1, spread(v));
  return v.map((x) => (x - mean) / sd);
}
