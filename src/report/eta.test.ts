import { describe, expect, it } from 'vitest';
import { imagesPerHour, RATE_WINDOW } from './eta.js';

const NOW = 1_000_000_000_000;
const S = 1000;
const MIN = 60 * S;

describe('imagesPerHour', () => {
  it('is unknown before the first image', () => {
    expect(imagesPerHour([], NOW, NOW + MIN)).toBeUndefined();
  });

  it('counts from the first start while the window is not full', () => {
    expect(imagesPerHour([NOW + 10 * MIN, NOW + 20 * MIN, NOW + 30 * MIN], NOW, NOW + 30 * MIN)).toBe(6);
  });

  it('counts the last images only, and falls while nothing ends', () => {
    // Slow at first (one every 10 min), then one a minute.
    const slow = Array.from({ length: 10 }, (_, i) => NOW + (i + 1) * 10 * MIN);
    const last = slow.at(-1)!;
    const fast = Array.from({ length: RATE_WINDOW + 5 }, (_, i) => last + (i + 1) * MIN);
    const end = fast.at(-1)!;
    expect(imagesPerHour([...slow, ...fast], NOW, end)).toBe(60);
    expect(imagesPerHour([...slow, ...fast], NOW, end + 20 * MIN)).toBe(30);
  });
});
