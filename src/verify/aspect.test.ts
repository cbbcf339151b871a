import { describe, expect, it } from 'vitest';
import { ASPECTS } from '../protocol/messages.js';
import { ASPECT_SHAPES, ASPECT_TOLERANCE, checkAspect, describeAspect, nearestAspect } from './aspect.js';

describe('checkAspect', () => {
  it('knows a shape for every aspect but auto', () => {
    expect(Object.keys(ASPECT_SHAPES).sort()).toEqual(ASPECTS.filter((a) => a !== 'auto').sort());
  });

  it('accepts anything for auto and for no aspect', () => {
    for (const [w, h] of [[512, 512], [1024, 1792], [2000, 100], [0, 0]]) {
      expect(checkAspect(w, h, 'auto')).toEqual({ ok: true });
      expect(checkAspect(w, h, undefined)).toEqual({ ok: true });
    }
  });

  it.each([
    ['1:1', 1024, 1024],
    ['3:4', 768, 1024],
    ['3:4', 1536, 2048],
    ['9:16', 576, 1024],
    ['9:16', 1024, 1792],
    ['9:16', 1080, 1920],
    ['4:3', 1024, 768],
    ['16:9', 1792, 1024],
    ['16:9', 1920, 1080],
  ] as const)('accepts a %s image of %i×%i', (aspect, w, h) => {
    expect(checkAspect(w, h, aspect)).toEqual({ ok: true });
  });

  it.each([
    ['1:1', 768, 1024],
    ['3:4', 1024, 1024],
    ['3:4', 576, 1024],
    ['9:16', 768, 1024],
    ['4:3', 1024, 1024],
    ['4:3', 1024, 576],
    ['16:9', 1024, 768],
    ['16:9', 576, 1024],
  ] as const)('refuses a %s panel drawn %i×%i', (aspect, w, h) => {
    expect(checkAspect(w, h, aspect)).toMatchObject({ ok: false });
  });

  it('allows 6 % either way, measured alike for wide and tall images', () => {
    expect(ASPECT_TOLERANCE).toBe(0.06);
    // 1:1 — exactly on the edge passes, one pixel beyond fails, in both orientations.
    expect(checkAspect(1060, 1000, '1:1')).toEqual({ ok: true });
    expect(checkAspect(1000, 1060, '1:1')).toEqual({ ok: true });
    expect(checkAspect(1061, 1000, '1:1').ok).toBe(false);
    expect(checkAspect(1000, 1061, '1:1').ok).toBe(false);
    // 16:9 = 1.7778: 1.06 × that is 1.8844, 1 / 1.06 of it 1.6771.
    expect(checkAspect(1884, 1000, '16:9').ok).toBe(true);
    expect(checkAspect(1885, 1000, '16:9').ok).toBe(false);
    expect(checkAspect(1678, 1000, '16:9').ok).toBe(true);
    expect(checkAspect(1677, 1000, '16:9').ok).toBe(false);
    // 9:16 is the same edge turned upright.
    expect(checkAspect(1000, 1884, '9:16').ok).toBe(true);
    expect(checkAspect(1000, 1885, '9:16').ok).toBe(false);
    // 3:4 = 0.75: 0.795 and 0.7075 are the edges.
    expect(checkAspect(795, 1000, '3:4').ok).toBe(true);
    expect(checkAspect(796, 1000, '3:4').ok).toBe(false);
    expect(checkAspect(708, 1000, '3:4').ok).toBe(true);
    expect(checkAspect(707, 1000, '3:4').ok).toBe(false);
  });

  it('takes another tolerance when asked', () => {
    expect(checkAspect(1100, 1000, '1:1').ok).toBe(false);
    expect(checkAspect(1100, 1000, '1:1', 0.1)).toEqual({ ok: true });
  });

  it('names both shapes in the message', () => {
    expect(checkAspect(512, 512, '9:16')).toEqual({ ok: false, message: 'the image is 512×512 (1:1, square) but the panel asks for 9:16 (tall portrait)' });
    expect(checkAspect(1792, 1024, '9:16')).toEqual({
      ok: false,
      message: 'the image is 1792×1024 (16:9, wide landscape) but the panel asks for 9:16 (tall portrait)',
    });
    expect(checkAspect(768, 1024, '4:3')).toEqual({ ok: false, message: 'the image is 768×1024 (3:4, portrait) but the panel asks for 4:3 (landscape)' });
    expect(checkAspect(1024, 1024, '16:9')).toEqual({ ok: false, message: 'the image is 1024×1024 (1:1, square) but the panel asks for 16:9 (wide landscape)' });
    expect(checkAspect(1024, 768, '1:1')).toEqual({ ok: false, message: 'the image is 1024×768 (4:3, landscape) but the panel asks for 1:1 (square)' });
    expect(checkAspect(1024, 576, '3:4')).toEqual({ ok: false, message: 'the image is 1024×576 (16:9, wide landscape) but the panel asks for 3:4 (portrait)' });
  });

  it('gives a shape no known ratio is close to as its own ratio, or only its orientation', () => {
    expect(checkAspect(1024, 1536, '3:4')).toEqual({ ok: false, message: 'the image is 1024×1536 (2:3, portrait) but the panel asks for 3:4 (portrait)' });
    expect(checkAspect(1536, 1024, '4:3')).toEqual({ ok: false, message: 'the image is 1536×1024 (3:2, landscape) but the panel asks for 4:3 (landscape)' });
    expect(checkAspect(1000, 301, '16:9')).toEqual({ ok: false, message: 'the image is 1000×301 (landscape) but the panel asks for 16:9 (wide landscape)' });
    expect(checkAspect(333, 1001, '9:16')).toEqual({ ok: false, message: 'the image is 333×1001 (portrait) but the panel asks for 9:16 (tall portrait)' });
  });

  it('refuses a size that is not a size', () => {
    expect(checkAspect(0, 512, '1:1')).toEqual({ ok: false, message: "the image size 0×512 is not a real size, so it cannot be checked against the panel's 1:1 (square)" });
    expect(checkAspect(Number.NaN, 512, '1:1').ok).toBe(false);
  });
});

describe('describeAspect and nearestAspect', () => {
  it('words every aspect', () => {
    expect(ASPECTS.map(describeAspect)).toEqual(['auto', '1:1 (square)', '3:4 (portrait)', '9:16 (tall portrait)', '4:3 (landscape)', '16:9 (wide landscape)']);
  });

  it('finds the closest known ratio within the tolerance, or none', () => {
    expect(nearestAspect(1024, 1024)).toBe('1:1');
    expect(nearestAspect(1024, 1792)).toBe('9:16');
    expect(nearestAspect(1080, 1440)).toBe('3:4');
    expect(nearestAspect(1024, 1536)).toBeUndefined();
    expect(nearestAspect(1024, 1536, 0.15)).toBe('3:4');
  });
});
