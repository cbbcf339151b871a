// Near-duplicate panels for the contact sheet (ARCHITECTURE §9, "Near-duplicates"): a repeated
// picture is a stale page saved twice or the model repeating itself. Each verified image gets a
// 128-bit fingerprint from the verification's own difference hash (src/verify/compare.ts), kept in
// the thumbnail index, and all pairs are compared with popcounts: 4.5 M pairs of a 3,000-panel
// book take about 0.2 s (bench/near-duplicates.ts measures it and the threshold).
import { dHash, thumbnail } from '../verify/compare.js';

/** Prefix of a fingerprint string; a changed recipe changes it, so cached ones are remade. */
export const FINGERPRINT_METHOD = 'dh3';

/**
 * Largest distance (in dHash cells, see `fingerprintDistance`) reported as a near-duplicate.
 * Measured by bench/near-duplicates.ts on 300 mock panels of 768 px (src/mock/render.ts) and
 * 1,200 altered copies of them:
 *   copy vs its original: JPEG q80 max 2, resized −10 % max 2, noise sd 6 max 1.5,
 *     2 % cropped from each side max 8 (p99 6.5)
 *   distinct panels, 44,850 pairs: min 11.5, p0.1 14, median 26.5
 * 9.5 catches every copy and no distinct pair, near the middle of the gap [8, 11.5). A false flag
 * costs a look at two thumbnails; a missed one leaves a repeated page in the book.
 */
export const NEAR_DUPLICATE_THRESHOLD = 9.5;

/**
 * The soft dHash cut to three values per cell: +1 / −1 where one neighbour is clearly brighter,
 * 0 where the two are within half the hash's dead zone (flat sky or paper, where JPEG or noise
 * flips a hard bit at random). Stored as two 64-bit planes, "brighter" and "darker", in hex.
 */
export async function fingerprintOf(bytes: Buffer): Promise<string> {
  const soft = dHash(await thumbnail(bytes, 'image'));
  let brighter = 0n;
  let darker = 0n;
  for (let i = 0; i < 64; i++) {
    if (soft[i] >= 0.5) brighter |= 1n << BigInt(i);
    else if (soft[i] <= -0.5) darker |= 1n << BigInt(i);
  }
  return `${FINGERPRINT_METHOD}:${brighter.toString(16).padStart(16, '0')}${darker.toString(16).padStart(16, '0')}`;
}

const PATTERN = new RegExp(`^${FINGERPRINT_METHOD}:([0-9a-f]{32})$`);

/**
 * A fingerprint as four 32-bit words (brighter hi, lo, darker hi, lo), or undefined for anything
 * else: the index is a file on disk, so a damaged or planted value is ignored, never trusted.
 */
export function parseFingerprint(value: unknown): Uint32Array | undefined {
  if (typeof value !== 'string') return undefined;
  const hex = PATTERN.exec(value)?.[1];
  if (!hex) return undefined;
  const words = Uint32Array.from([0, 8, 16, 24], (at) => Number.parseInt(hex.slice(at, at + 8), 16));
  // A cell cannot be both brighter and darker.
  if ((words[0] & words[2]) !== 0 || (words[1] & words[3]) !== 0) return undefined;
  return words;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * The verification's soft Hamming distance on the three-valued cells: 1 per cell where one image
 * is brighter and the other darker, ½ where only one of them is flat. 0 (same) … 64.
 * `a` and `b` are word arrays of `parseFingerprint`, read at offsets `i` and `j` (so a whole book
 * fits in one array).
 */
export function fingerprintDistance(a: Uint32Array, b: Uint32Array, i = 0, j = 0): number {
  let opposite = 0;
  let half = 0;
  for (let w = 0; w < 2; w++) {
    const ab = a[i + w];
    const ad = a[i + 2 + w];
    const bb = b[j + w];
    const bd = b[j + 2 + w];
    opposite += popcount((ab & bd) | (ad & bb));
    half += popcount((ab | ad) ^ (bb | bd));
  }
  return opposite + half / 2;
}

export interface Fingerprinted {
  id: string;
  fingerprint: string;
}

export interface NearDuplicatePair {
  a: string;
  b: string;
  distance: number;
}

/**
 * Every pair within `threshold`, closest first (then in the order given). Items whose fingerprint
 * does not parse are left out. `skip` says which pairs are expected to look alike.
 */
export function findNearDuplicates(items: readonly Fingerprinted[], threshold = NEAR_DUPLICATE_THRESHOLD, skip: (a: string, b: string) => boolean = () => false): NearDuplicatePair[] {
  const ids: string[] = [];
  const words = new Uint32Array(items.length * 4);
  for (const item of items) {
    const parsed = parseFingerprint(item.fingerprint);
    if (!parsed) continue;
    words.set(parsed, ids.length * 4);
    ids.push(item.id);
  }
  const pairs: Array<NearDuplicatePair & { order: number }> = [];
  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      const distance = fingerprintDistance(words, words, i * 4, j * 4);
      if (distance <= threshold && !skip(ids[i], ids[j])) pairs.push({ a: ids[i], b: ids[j], distance, order: pairs.length });
    }
  }
  return pairs.sort((x, y) => x.distance - y.distance || x.order - y.order).map(({ a, b, distance }) => ({ a, b, distance }));
}
