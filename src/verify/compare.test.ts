import { beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { VerificationError } from '../protocol/errors.js';
import { BAND_THRESHOLD, COMPARE_THRESHOLD, compareWithScreenshot } from './compare.js';
import { renderPanelPng } from '../mock/render.js';
import { SCREENSHOT_SETUPS, bottomStillLoading, browserScreenshots, calibrateCompare, extreme, makePanels, type Calibration } from '../../test/support/images.js';

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
        `  min partial   ${minPartial.distance.toFixed(4)}  (${minPartial.what})\n` +
        `  max same band ${Math.max(...calibration.same.map((p) => p.band ?? 1)).toFixed(4)}  (band threshold ${BAND_THRESHOLD})`,
    );
  }, 180_000);

  it('matches the same picture, with margin, however the browser or codec resampled it', () => {
    expect(calibration.same.length).toBeGreaterThan(150);
    const over = calibration.same.filter((p) => p.distance >= 0.6 * COMPARE_THRESHOLD);
    expect(over).toEqual([]);
    const bandOver = calibration.same.filter((p) => p.band === undefined || p.band >= 0.75 * BAND_THRESHOLD);
    expect(bandOver).toEqual([]);
  });

  it('rejects every different panel, with margin, including a mirrored twin', () => {
    const under = calibration.different.filter((p) => p.distance <= 1.5 * COMPARE_THRESHOLD);
    expect(under).toEqual([]);
  });

  it('rejects a picture that is still loading (bottom half grey, top half blurred)', () => {
    const under = calibration.partial.filter((p) => p.distance <= 1.5 * COMPARE_THRESHOLD);
    expect(under).toEqual([]);
  });

  it('matches the mock site\'s panels, caption strip and all, as real Chromium shows them', async () => {
    const panels = await Promise.all(['the old mill, panel 3', 'a gull over the waves', 'Mara taps the barometer'].map((p) => renderPanelPng(p, 512)));
    const shots = await browserScreenshots(panels);
    for (const [s, setup] of SCREENSHOT_SETUPS.entries()) {
      for (const [i, panel] of panels.entries()) {
        const result = await compareWithScreenshot(panel, shots[s][i]);
        expect(result.match, `${setup.how} #${i}`).toBe(true);
        expect(result.detail.worstBand, `${setup.how} #${i}`).toBeLessThan(0.7 * BAND_THRESHOLD);
      }
    }
  }, 60_000);

  it('rejects a picture whose bottom tenth is still loading, which the whole-picture distance misses', async () => {
    for (const panel of await makePanels()) {
      const result = await compareWithScreenshot(panel.png, await bottomStillLoading(panel.png, 0.1));
      expect(result.match, panel.name).toBe(false);
      expect(result.detail.worstBand, panel.name).toBeGreaterThan(1.5 * BAND_THRESHOLD);
    }
  });
});

describe('compareWithScreenshot', () => {
  it('reports its method, threshold and the two component distances', async () => {
    const [panel] = await makePanels();
    const result = await compareWithScreenshot(panel.png, await sharp(panel.png).resize(384, 384).png().toBuffer());
    expect(result).toMatchObject({ method: 'dhash64+mae32+band8', threshold: COMPARE_THRESHOLD, bandThreshold: BAND_THRESHOLD, match: true });
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
