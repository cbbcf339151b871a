import { beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { VerificationError } from '../protocol/errors.js';
import { COMPARE_THRESHOLD, compareWithScreenshot } from './compare.js';
import { calibrateCompare, extreme, makePanels, type Calibration } from './test-support.js';

describe('compareWithScreenshot against real Chromium screenshots', () => {
  let calibration: Calibration;

  beforeAll(async () => {
    calibration = await calibrateCompare(compareWithScreenshot);
    const maxSame = extreme(calibration.same, 'max');
    const minDifferent = extreme(calibration.different, 'min');
    const minPartial = extreme(calibration.partial, 'min');
    console.log(
      `compare calibration (threshold ${COMPARE_THRESHOLD}, ${calibration.same.length} same / ${calibration.different.length} different / ${calibration.partial.length} partial pairs):\n` +
        `  max same      ${maxSame.distance.toFixed(4)}  (${maxSame.what})\n` +
        `  min different ${minDifferent.distance.toFixed(4)}  (${minDifferent.what})\n` +
        `  min partial   ${minPartial.distance.toFixed(4)}  (${minPartial.what})`,
    );
  }, 180_000);

  it('matches the same picture, with margin, however the browser or codec resampled it', () => {
    expect(calibration.same.length).toBeGreaterThan(150);
    const over = calibration.same.filter((p) => p.distance >= 0.6 * COMPARE_THRESHOLD);
    expect(over).toEqual([]);
  });

  it('rejects every different panel, with margin, including a mirrored twin', () => {
    const under = calibration.different.filter((p) => p.distance <= 1.5 * COMPARE_THRESHOLD);
    expect(under).toEqual([]);
  });

  it('rejects a picture that is still loading (bottom half grey, top half blurred)', () => {
    const under = calibration.partial.filter((p) => p.distance <= 1.5 * COMPARE_THRESHOLD);
    expect(under).toEqual([]);
  });
});

describe('compareWithScreenshot', () => {
  it('reports its method, threshold and the two component distances', async () => {
    const [panel] = await makePanels();
    const result = await compareWithScreenshot(panel.png, await sharp(panel.png).resize(384, 384).png().toBuffer());
    expect(result).toMatchObject({ method: 'dhash64+mae32', threshold: COMPARE_THRESHOLD, match: true });
    expect(result.detail.size).toBe(32);
    expect(result.distance).toBeCloseTo((result.detail.hashDistance + result.detail.meanAbsDiff) / 2, 10);
  });

  it('does not match a blank screenshot', async () => {
    const [panel] = await makePanels();
    const white = await sharp({ create: { width: 384, height: 384, channels: 3, background: '#ffffff' } }).png().toBuffer();
    const result = await compareWithScreenshot(panel.png, white);
    expect(result.match).toBe(false);
  });

  it('throws a VerificationError when the screenshot cannot be decoded', async () => {
    const [panel] = await makePanels();
    await expect(compareWithScreenshot(panel.png, Buffer.from('not a png'))).rejects.toBeInstanceOf(VerificationError);
  });
});
