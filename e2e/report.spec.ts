// `semantest-run report`: the contact sheet of a finished run, opened from disk in Chromium as a
// person would open it: every panel in reading order, the failed one marked with its kind, the
// thumbnails loading with nothing from the network, and ticked boxes turning into a reject command.
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, expect, test, type Browser, type Page } from '@playwright/test';
import { findChromium } from '../src/browser/discover.js';
import { renderPanelPng } from '../src/mock/render.js';
import { parsePromptText } from '../src/prompts/index.js';
import { writeContactSheet } from '../src/report/contact-sheet.js';
import { openJobStore } from '../src/store/index.js';
import { root, runCli, workDir } from './cli.js';

// The demo's pace with nothing to wait for: no gap, no jitter, and no one-minute rest after 25
// images (chapter1.yaml asks for one), which would only make the spec a minute longer.
const FAST = ['--mock', '--headless', '--mock-latency-ms', '200', '--min-gap', '0', '--jitter', '0', '--cooldown-every', '0', '--out', 'out'];

async function jobOrder(file: string, cwd: string): Promise<string[]> {
  const dry = await runCli([file, '--dry-run'], cwd);
  expect(dry.code).toBe(0);
  return dry.stdout.split('\n').filter((line) => line.includes('\t')).map((line) => line.split('\t')[0]);
}

/** Opens the sheet from disk and records every request the page makes. */
async function openSheet(browser: Browser, sheet: string): Promise<{ page: Page; requests: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  const requests: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(pathToFileURL(sheet).href);
  expect(errors).toEqual([]);
  return { page, requests };
}

/** Loads every thumbnail (they are lazy), and gives each one's id and natural width. */
async function loadThumbnails(page: Page): Promise<Array<{ id: string; width: number }>> {
  return page.evaluate(() =>
    Promise.all(
      [...document.querySelectorAll<HTMLImageElement>('figure.take img')].map(async (img) => {
        img.loading = 'eager';
        await img.decode().catch(() => undefined);
        return { id: img.closest('figure')!.dataset.id!, width: img.naturalWidth };
      }),
    ),
  );
}

const idsOnPage = (page: Page) => page.locator('figure.take').evaluateAll((figures) => figures.map((f) => (f as HTMLElement).dataset.id!));

let browser: Browser;
test.beforeAll(async () => {
  browser = await chromium.launch({ executablePath: findChromium() });
});
test.afterAll(async () => {
  await browser?.close();
});

test('the demo chapter: every panel in reading order, the policy failure marked, thumbnails from disk, a reject command for two ticked panels', async () => {
  test.setTimeout(420_000);
  const cwd = await workDir();
  const file = path.join(cwd, 'chapter1.yaml');
  await copyFile(path.join(root, 'prompts', 'chapter1.yaml'), file);
  const order = await jobOrder('chapter1.yaml', cwd);
  expect(order).toHaveLength(42);

  const run = await runCli(['chapter1.yaml', ...FAST, '--mock-faults', 'policy@3'], cwd);
  expect(run.code, run.stderr).toBe(1);
  const failed = /failed (\S+) \(policy\)/.exec(run.stdout)?.[1];
  expect(failed, run.stdout).toBeDefined();

  const report = await runCli(['report', 'chapter1.yaml', '--out', 'out'], cwd);
  expect(report.stderr).toBe('');
  expect(report.code).toBe(0);
  const sheet = path.join(cwd, 'out', 'gull-point-chapter-1', 'contact-sheet.html');
  expect(report.stdout.trim()).toBe(sheet);

  const { page, requests } = await openSheet(browser, sheet);
  // Every job once, in the prompt file's order.
  expect(await idsOnPage(page)).toEqual(order);
  await expect(page.locator('section.chapter')).toHaveCount(1);
  await expect(page.locator('section.strip')).toHaveCount(5);

  // The failed panel: its kind and the page's words, no image, nothing to tick.
  const bad = page.locator(`figure.take[data-id="${failed}"]`);
  await expect(bad).toHaveAttribute('data-status', 'failed');
  await expect(bad).toHaveAttribute('data-kind', 'policy');
  await expect(bad.locator('.badge')).toHaveText('failed · policy');
  await expect(bad.locator('.words')).toContainText('guardrails');
  await expect(bad.locator('img')).toHaveCount(0);
  await expect(bad.locator('input.pick')).toHaveCount(0);
  await expect(page.locator('header.book .counts')).toHaveText(/41 verified\s*1 failed/);

  // Thumbnails: one per verified image, each a real picture, from relative paths under .thumbs/.
  const thumbs = await loadThumbnails(page);
  expect(thumbs.map((t) => t.id)).toEqual(order.filter((id) => id !== failed));
  for (const thumb of thumbs) expect(thumb.width, thumb.id).toBeGreaterThan(0);
  for (const src of await page.locator('figure.take img').evaluateAll((imgs) => imgs.map((i) => i.getAttribute('src')!))) expect(src).toMatch(/^\.thumbs\/ch1\/s\d\/p\d+(~\d)?\.jpg$/);
  // Nothing but the page's own folder is ever asked for.
  expect(requests.filter((url) => !url.startsWith(pathToFileURL(path.dirname(sheet)).href))).toEqual([]);

  // The prompt as written is on hover; the speech bubble is in the caption.
  const p3 = page.locator('figure.take[data-id="ch1/s1/p3"]');
  await expect(p3.locator('figcaption')).toHaveAttribute('title', /^\{mara\} taps a brass barometer/);
  await expect(p3.locator('q.bubble')).toHaveText('Nine-seventy and falling.');

  // Tick two panels: the command names both, in reading order, and follows the reason typed.
  const command = page.locator('#reject-command');
  await expect(command).toHaveValue('');
  await expect(page.locator('#copy')).toBeDisabled();
  await page.locator('figure.take[data-id="ch1/s2/p1"] input.pick').check();
  await page.locator('figure.take[data-id="ch1/s1/p2"] input.pick').check();
  await expect(command).toHaveValue('semantest-run reject chapter1.yaml ch1/s1/p2 ch1/s2/p1 --reason "…"');
  await page.locator('#reject-reason').fill('Mara has no raincoat');
  await expect(command).toHaveValue('semantest-run reject chapter1.yaml ch1/s1/p2 ch1/s2/p1 --reason "Mara has no raincoat"');
  await expect(page.locator('#picked-count')).toHaveText('2 images ticked');
  await expect(page.locator('figure.take.picked')).toHaveCount(2);
  await page.locator('#copy').click();
  await expect(page.locator('#copy-status')).toHaveText(/Copied\.|Selected: press Ctrl\+C/);

  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: test.info().outputPath('contact-sheet.png') });

  // Problems only: the failed cover stays, every all-verified panel goes.
  await page.locator('#problems-only').check();
  await expect(page.locator('li.panel:visible')).toHaveCount(1);
  await expect(page.locator('li.panel:visible')).toHaveAttribute('data-panel', 'ch1/s1/p1');

  // Clear empties the command.
  await page.locator('#clear').click();
  await expect(command).toHaveValue('');

  // A second report reuses every thumbnail (none written again) and finds the output on its own.
  const thumbFiles = thumbs.map((t) => path.join(path.dirname(sheet), '.thumbs', `${t.id}.jpg`));
  const before = await Promise.all(thumbFiles.map(async (f) => (await stat(f)).mtimeMs));
  const again = await runCli(['report', 'chapter1.yaml'], cwd);
  expect(again.code).toBe(0);
  expect(again.stdout.trim()).toBe(sheet);
  expect(await Promise.all(thumbFiles.map(async (f) => (await stat(f)).mtimeMs))).toEqual(before);
});

test('a book with locales, variants and two chapters: takes side by side, pending slots, escaped prompts; no checkpoint is exit 2', async () => {
  test.setTimeout(180_000);
  const cwd = await workDir();
  const file = path.join(cwd, 'harbour.yaml');
  await writeFile(
    file,
    `book: harbour
style: "ink"
locales: [en, ja]
chapters:
  - id: ch1
    title: "Dawn <b>&</b> gulls"
    strips:
      - id: s1
        panels:
          - { id: p1, prompt: "a harbour <at> dawn & \\"quotes\\"", text: { en: "Morning!", ja: "おはよう！" } }
          - { id: p2, prompt: "gulls over the nets", variants: 2 }
      - id: s2
        panels:
          - { id: p1, prompt: "a net pulled in", text: { en: "Pull!", ja: "引け！" } }
  - id: ch2
    strips:
      - id: s1
        panels:
          - { id: p2, prompt: "the storm comes" }
          - { id: p1, prompt: "the light", text: { en: "Hold on." } }
      - id: s2
        panels:
          - { id: p1, prompt: "home again" }
`,
  );

  const none = await runCli(['report', 'harbour.yaml'], cwd);
  expect(none.code).toBe(2);
  expect(none.stderr).toMatch(/no checkpoint for book "harbour" .*no run has happened/);

  const order = await jobOrder('harbour.yaml', cwd);
  expect(order).toEqual(['ch1/s1/p1.en', 'ch1/s1/p1.ja', 'ch1/s1/p2~1', 'ch1/s1/p2~2', 'ch1/s2/p1.en', 'ch1/s2/p1.ja', 'ch2/s1/p2', 'ch2/s1/p1.en', 'ch2/s2/p1']);
  // One tab, so the third prompt is ch1/s1/p2~1; the last job is left for later.
  const run = await runCli(['harbour.yaml', ...FAST, '--concurrency', '1', '--limit', '8', '--mock-faults', 'policy@3'], cwd);
  expect(run.code, run.stderr).toBe(1);

  // A person rejected one panel after looking at it.
  const rejected = await runCli(['reject', 'harbour.yaml', 'ch2/s1/p2', '--reason', 'the gull has three wings'], cwd);
  expect(rejected.code, rejected.stderr).toBe(0);

  const report = await runCli(['report', 'harbour.yaml', '--out', 'out'], cwd);
  expect(report.code, report.stderr).toBe(0);
  const { page, requests } = await openSheet(browser, report.stdout.trim());
  expect(await idsOnPage(page)).toEqual(order);
  expect(await page.locator('section.chapter').evaluateAll((s) => s.map((e) => (e as HTMLElement).dataset.chapter))).toEqual(['ch1', 'ch2']);
  await expect(page.locator('section.chapter h2').first()).toHaveText('ch1 Dawn <b>&</b> gulls');

  // A panel's locales (and variants) sit side by side in one cell, each with its own bubble.
  const cell = page.locator('li.panel[data-panel="ch1/s1/p1"]');
  await expect(cell.locator('figure.take')).toHaveCount(2);
  const [en, ja] = [await cell.locator('figure.take').nth(0).boundingBox(), await cell.locator('figure.take').nth(1).boundingBox()];
  expect(ja!.x).toBeGreaterThan(en!.x + en!.width - 1);
  expect(Math.abs(ja!.y - en!.y)).toBeLessThan(2);
  await expect(cell.locator('q.bubble')).toHaveText(['Morning!', 'おはよう！']);
  await expect(cell.locator('header')).toHaveAttribute('title', 'a harbour <at> dawn & "quotes"');
  await expect(page.locator('li.panel[data-panel="ch1/s1/p2"] figure.take')).toHaveCount(2);

  await expect(page.locator('figure.take[data-id="ch1/s1/p2~1"]')).toHaveAttribute('data-kind', 'policy');
  const gull = page.locator('figure.take[data-id="ch2/s1/p2"]');
  await expect(gull).toHaveAttribute('data-status', 'rejected');
  await expect(gull).toContainText('the gull has three wings');
  const pending = page.locator('figure.take[data-id="ch2/s2/p1"]');
  await expect(pending).toHaveAttribute('data-status', 'pending');
  await expect(pending.locator('.slot')).toHaveText('not run yet');

  const thumbs = await loadThumbnails(page);
  expect(thumbs).toHaveLength(7);
  for (const thumb of thumbs) expect(thumb.width, thumb.id).toBeGreaterThan(0);
  expect(requests.every((url) => url.startsWith('file://'))).toBe(true);

  await page.locator('figure.take[data-id="ch1/s1/p2~2"] input.pick').check();
  await page.locator('figure.take[data-id="ch1/s1/p1.ja"] input.pick').check();
  await expect(page.locator('#reject-command')).toHaveValue('semantest-run reject harbour.yaml ch1/s1/p1.ja "ch1/s1/p2~2" --reason "…"');
});

test('near-duplicates: the repeated picture is shown as a pair at the top; ticking it there ticks it in the book and names it once', async () => {
  test.setTimeout(20_000);
  const cwd = await workDir();
  const file = path.join(cwd, 'gulls.yaml');
  await writeFile(file, 'book: gulls\nchapters:\n  - id: ch1\n    strips:\n      - id: s1\n        panels:\n          - { id: p1, prompt: "a gull on a post" }\n          - { id: p2, prompt: "a gull in the rain" }\n          - { id: p3, prompt: "the harbour at night" }\n');
  const book = parsePromptText(await readFile(file, 'utf8'), file);
  const store = await openJobStore(path.join(cwd, 'checkpoints', book.book));
  // p3 is p1's picture again, as a page still showing the previous image would have saved it.
  for (const [job, picture] of book.jobs.map((j) => [j, j.panel === 'p3' ? 'a gull on a post' : j.prompt] as const)) {
    const target = path.join(cwd, 'out', book.book, job.outputPath);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, await renderPanelPng(picture, 512));
    await store.record({ t: 'job', id: job.id, state: 'started', attempt: 1, promptHash: job.promptHash });
    await store.record({ t: 'job', id: job.id, state: 'verified', path: target, sha256: 'x', fileId: `file_${job.order}` });
  }
  await store.close();
  const { path: sheet } = await writeContactSheet({ file, out: path.join(cwd, 'out'), checkpointsDir: path.join(cwd, 'checkpoints') });

  const { page } = await openSheet(browser, sheet);
  const pair = page.locator('#near-duplicates li.dup-pair');
  await expect(pair).toHaveCount(1);
  await expect(pair.locator('code.id')).toHaveText(['ch1/s1/p1', 'ch1/s1/p3']);
  await expect(pair.locator('.distance')).toHaveText('distance 0');
  await pair.locator('figure.dup[data-id="ch1/s1/p3"] input.pick').check();
  await expect(page.locator('figure.take[data-id="ch1/s1/p3"] input.pick')).toBeChecked();
  await page.locator('figure.take[data-id="ch1/s1/p2"] input.pick').check();
  await expect(page.locator('#reject-command')).toHaveValue(`semantest-run reject ${file} ch1/s1/p3 ch1/s1/p2 --reason "…"`);
  await expect(page.locator('#picked-count')).toHaveText('2 images ticked');
  // Unticking it in the book unticks it in the pair too.
  await page.locator('figure.take[data-id="ch1/s1/p3"] input.pick').uncheck();
  await expect(pair.locator('figure.dup[data-id="ch1/s1/p3"] input.pick')).not.toBeChecked();
  await expect(page.locator('#reject-command')).toHaveValue(`semantest-run reject ${file} ch1/s1/p2 --reason "…"`);
});
