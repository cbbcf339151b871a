// A panel's shape (ARCHITECTURE §8): the words the prompt uses for each aspect, and the check that
// a saved image has the shape its panel asked for. Pure: no Node, no image decoding.
import type { Aspect } from '../protocol/messages.js';

/** Every aspect except `auto`, which asks for no particular shape. */
export type FixedAspect = Exclude<Aspect, 'auto'>;

/** Width and height terms of each ratio, and the words for its shape. */
export const ASPECT_SHAPES: Readonly<Record<FixedAspect, { width: number; height: number; name: string }>> = {
  '1:1': { width: 1, height: 1, name: 'square' },
  '3:4': { width: 3, height: 4, name: 'portrait' },
  '9:16': { width: 9, height: 16, name: 'tall portrait' },
  '4:3': { width: 4, height: 3, name: 'landscape' },
  '16:9': { width: 16, height: 9, name: 'wide landscape' },
};

/**
 * How far the image's width/height may be from the wanted one, as a fraction: the larger of the two
 * ratios divided by the smaller, minus 1, so a tall and a wide image are judged alike. 6 % allows
 * the few pixels sites round sizes to (e.g. 1024×1792 for 9:16 is 1.6 % off) and rejects the
 * neighbouring shapes (3:4 and 9:16 are 33 % apart, 1:1 and 3:4 are 33 %).
 */
export const ASPECT_TOLERANCE = 0.06;

/** Float slack so a ratio exactly on the tolerance (1060×1000 against 1:1) passes. */
const EPSILON = 1e-9;

export type AspectCheck = { ok: true } | { ok: false; message: string };

/** `9:16 (tall portrait)`; `auto` for auto. */
export function describeAspect(aspect: Aspect): string {
  return aspect === 'auto' ? 'auto' : `${aspect} (${ASPECT_SHAPES[aspect].name})`;
}

/** The relative distance between two width/height ratios, symmetric: 0 = the same shape. */
function distance(a: number, b: number): number {
  return Math.max(a / b, b / a) - 1;
}

/** The known aspect closest to width/height, if it is within the tolerance. */
export function nearestAspect(width: number, height: number, tolerance = ASPECT_TOLERANCE): FixedAspect | undefined {
  const ratio = width / height;
  let best: { aspect: FixedAspect; off: number } | undefined;
  for (const [aspect, shape] of Object.entries(ASPECT_SHAPES) as [FixedAspect, (typeof ASPECT_SHAPES)[FixedAspect]][]) {
    const off = distance(ratio, shape.width / shape.height);
    if (off <= tolerance + EPSILON && (!best || off < best.off)) best = { aspect, off };
  }
  return best?.aspect;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** `1:1, square` for a known shape; else the reduced ratio when it is short (`2:3, portrait`) or just the orientation. */
function describeSize(width: number, height: number, tolerance: number): string {
  const known = nearestAspect(width, height, tolerance);
  if (known) return `${known}, ${ASPECT_SHAPES[known].name}`;
  const orientation = width > height ? 'landscape' : width < height ? 'portrait' : 'square';
  const d = Number.isInteger(width) && Number.isInteger(height) ? gcd(width, height) : 0;
  return d && width / d <= 32 && height / d <= 32 ? `${width / d}:${height / d}, ${orientation}` : orientation;
}

/**
 * Whether a `width`×`height` image has the shape its panel asked for. `auto` and no aspect always
 * pass; otherwise the ratio must be within `tolerance` (default ASPECT_TOLERANCE) of the wanted one.
 * The message names both shapes, e.g.
 * `the image is 512×512 (1:1, square) but the panel asks for 9:16 (tall portrait)`.
 */
export function checkAspect(width: number, height: number, aspect: Aspect | undefined, tolerance = ASPECT_TOLERANCE): AspectCheck {
  if (aspect === undefined || aspect === 'auto') return { ok: true };
  const wanted = describeAspect(aspect);
  if (!(width > 0 && height > 0 && Number.isFinite(width) && Number.isFinite(height))) {
    return { ok: false, message: `the image size ${width}×${height} is not a real size, so it cannot be checked against the panel's ${wanted}` };
  }
  const shape = ASPECT_SHAPES[aspect];
  if (distance(width / height, shape.width / shape.height) <= tolerance + EPSILON) return { ok: true };
  return { ok: false, message: `the image is ${width}×${height} (${describeSize(width, height, tolerance)}) but the panel asks for ${wanted}` };
}
