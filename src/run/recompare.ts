// A verification mismatch may be the page's fault, not the file's: a page that keeps blurred previews
// under the final image, fades it in or decodes it late shows a blend for a moment, and the element
// screenshot catches it (ARCHITECTURE §10, step 8, and §4 "The page's 2026 surprises"). A screenshot is free and a
// prompt is not, so before a mismatch spends a prompt the image is compared again once the page has
// decoded and painted it: a few times, within a bounded few seconds.
import type { Locator } from 'playwright';
import { compareWithScreenshot, type CompareResult } from '../verify/index.js';

/** At most this many more screenshots after the first mismatch… */
export const RECOMPARE_TRIES = 4;
/** …all within this long (waits included). */
export const RECOMPARE_BUDGET_MS = 6_000;

export interface Recompared {
  comparison: CompareResult;
  /** The screenshot the verdict rests on (the last one taken). */
  shot: Buffer;
  /** Screenshots taken after the first one. */
  tries: number;
}

/**
 * Waits (at most `ms`) until `img` is decoded and painted as it will stay: `img.decode()` resolved,
 * no running animation or transition on it or an ancestor, no CSS filter and full opacity along
 * the way, then two frames. True when that state was reached, false when the wait ran out.
 */
export async function waitUntilPainted(img: Locator, ms: number): Promise<boolean> {
  return img.evaluate(async (element, budget) => {
    const deadline = Date.now() + budget;
    const image = element as HTMLImageElement;
    // decode() rejects for a broken image; whatever it is, the screenshot shows it.
    await Promise.race([image.decode().catch(() => undefined), new Promise((r) => setTimeout(r, budget))]);
    const frame = () => new Promise<void>((resolve) => {
      // A window with no frames (minimised) still moves on: the timer caps each wait.
      const timer = setTimeout(resolve, 100);
      requestAnimationFrame(() => requestAnimationFrame(() => { clearTimeout(timer); resolve(); }));
    });
    const settled = () => {
      if (!image.complete || image.naturalWidth === 0) return false;
      const moving = document.getAnimations().some((a) => {
        const target = (a.effect as KeyframeEffect | null)?.target;
        return a.playState === 'running' && target instanceof Element && target.contains(image);
      });
      if (moving) return false;
      for (let e: Element | null = image; e; e = e.parentElement) {
        const style = getComputedStyle(e);
        if (style.filter !== 'none' || Number(style.opacity) < 1) return false;
      }
      return true;
    };
    while (Date.now() < deadline) {
      if (settled()) {
        await frame();
        if (settled()) return true;
      }
      await frame();
    }
    return false;
  }, ms);
}

/**
 * After a mismatch: wait for the marked image to be painted, screenshot it again and compare, until
 * it matches or the tries or the time run out.
 */
export async function recompareWhenPainted(
  fileBytes: Buffer,
  first: { comparison: CompareResult; shot: Buffer },
  img: Locator,
): Promise<Recompared> {
  const deadline = Date.now() + RECOMPARE_BUDGET_MS;
  let { comparison, shot } = first;
  let tries = 0;
  while (!comparison.match && tries < RECOMPARE_TRIES && Date.now() < deadline) {
    tries += 1;
    const painted = await waitUntilPainted(img, Math.max(0, deadline - Date.now()));
    shot = await img.screenshot({ timeout: Math.max(1_000, deadline - Date.now()) });
    comparison = await compareWithScreenshot(fileBytes, shot);
    // Painted, still, and compared twice: a real mismatch (another picture), not a page mid-fade.
    if (painted && tries >= 2) break;
  }
  return { comparison, shot, tries };
}
