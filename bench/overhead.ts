// Per-image overhead of the whole Semantest path (hub + extension + journal + fetch + verification)
// against a direct-Playwright baseline doing the same page steps on the same mock site, in the same
// process, mock latency 0. Prints ms per image for both and the ratio (goal later: < 1.3).
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright';
import { findChromium } from '../src/browser/discover.js';
import { startMockSite } from '../src/mock/server.js';
import { loadProvider } from '../src/providers/index.js';
import { RunEvents } from '../src/report/events.js';
import { runBook } from '../src/run/run-book.js';
import { compareWithScreenshot, inspectImage } from '../src/verify/index.js';

const N = Number(process.argv[2] ?? 24);
const work = await mkdtemp(path.join(tmpdir(), 'semantest-bench-'));
const promptFile = path.join(work, 'bench.yaml');
await writeFile(promptFile, `book: bench\nstyle: "flat colours"\npacing: { concurrency: 1, minGapSeconds: 0, jitterSeconds: 0, cooldownEvery: 0, cooldownSeconds: 0 }\nprompts:\n${Array.from({ length: N }, (_, i) => `  - "bench panel number ${i + 1}, a lighthouse at dusk"`).join('\n')}\n`);

async function baseline(): Promise<{ perImageMs: number; verifyMs: number }> {
  // The 2024 page with the URL at once: the baseline drives its plain send, as in earlier figures.
  const site = await startMockSite({ latencyMs: 0, dom: '2024', urlDelayMs: 0 });
  const p = loadProvider('chatgpt', site.url);
  const browser = await chromium.launch({ executablePath: findChromium(), headless: true });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await mkdir(path.join(work, 'baseline'), { recursive: true });
  let verifyMs = 0;
  const one = async (i: number) => {
    await page.goto(site.url, { waitUntil: 'domcontentloaded' });
    const composer = page.locator(p.selectors.composer[0]);
    await composer.click();
    await page.keyboard.insertText(`baseline panel ${i}, a lighthouse at dusk`);
    await page.locator(p.selectors.send[0]).click();
    await page.getByText('Image created').waitFor();
    const img = page.locator('img[alt^="Generated image"]:not([alt*="partial"])').last();
    const src = await img.evaluate((e) => (e as HTMLImageElement).src);
    const bytes = await (await context.request.get(src)).body();
    await writeFile(path.join(work, 'baseline', `${i}.png`), bytes);
    const t = performance.now();
    const shot = await img.screenshot();
    await inspectImage(bytes);
    await compareWithScreenshot(bytes, shot);
    verifyMs += performance.now() - t;
  };
  await one(-1);
  verifyMs = 0;
  const start = performance.now();
  for (let i = 0; i < N; i++) await one(i);
  const perImageMs = (performance.now() - start) / N;
  await browser.close();
  await site.close();
  return { perImageMs, verifyMs: verifyMs / N };
}

async function semantest(): Promise<{ perImageMs: number; launchMs: number }> {
  const events = new RunEvents();
  const t0 = performance.now();
  let firstStart = 0;
  let lastDone = 0;
  events.on('event', (e) => {
    if (e.type === 'job-start' && !firstStart) firstStart = performance.now();
    if (e.type === 'job-verified') lastDone = performance.now();
    if (e.type === 'job-failed') console.error('failed', e);
  });
  const never = new AbortController().signal;
  const site = await startMockSite({ latencyMs: 0, dom: '2024', urlDelayMs: 0 });
  const summary = await runBook({
    file: promptFile,
    out: path.join(work, 'out'),
    profiles: ['bench'],
    profilesDir: path.join(work, 'profiles'),
    checkpointsDir: path.join(work, 'checkpoints'),
    headless: true,
    baseUrl: site.url,
    resume: false,
    retryFailed: false,
    regenerateChanged: false,
    pacing: {},
    retries: 0,
    backoffBaseMs: 0,
    quotaMarginMs: 0,
    rateLimitPauseMs: 1000,
    generationTimeoutMs: 60_000,
    events,
    interrupt: { soft: never, hard: never },
  }).finally(() => site.close());
  if (summary.verified !== N) throw new Error(`only ${summary.verified}/${N} verified`);
  // The first job also pays for the first page load; spread evenly it is part of the per-image cost.
  return { perImageMs: (lastDone - firstStart) / N, launchMs: firstStart - t0 };
}

const base = await baseline();
const full = await semantest();
console.log(`images: ${N}, mock latency 0 ms`);
console.log(`baseline (direct Playwright, same page steps + fetch + write): ${base.perImageMs.toFixed(1)} ms/image`);
console.log(`semantest (hub + extension + journal + fetch + verify + sidecar): ${full.perImageMs.toFixed(1)} ms/image`);
console.log(`  of which verification (screenshot + decode + compare), measured in the baseline: ${base.verifyMs.toFixed(1)} ms/image`);
console.log(`semantest start-up (prompt file, hub, browser + extension, tabs): ${full.launchMs.toFixed(0)} ms`);
console.log(`ratio semantest / baseline: ${(full.perImageMs / base.perImageMs).toFixed(2)}`);
await rm(work, { recursive: true, force: true });
