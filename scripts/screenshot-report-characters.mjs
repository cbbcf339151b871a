// Makes docs/images/report-characters.png: the "Characters" row of the demo's contact sheet (its
// character sheets, made first by the demo run), drawn by Chromium through Playwright.
//
//   node scripts/screenshot-report-characters.mjs [out.png]
//
// Needs a Chromium (SEMANTEST_CHROMIUM, else Debian's /usr/bin/chromium). Builds the CLI first, runs
// the demo on the built-in mock site in a temporary folder, then `semantest-run report`.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const out = path.resolve(process.argv[2] ?? path.join(root, 'docs', 'images', 'report-characters.png'));
const browser = process.env.SEMANTEST_CHROMIUM ?? '/usr/bin/chromium';
/** The README shows it at page width: more would only make the file larger. */
const MAX_BYTES = 200 * 1024;

execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
const work = await mkdtemp(path.join(tmpdir(), 'semantest-shot-'));
const cli = (...args) => execFileSync(process.execPath, [path.join(root, 'bin', 'semantest-run.cjs'), ...args], { cwd: work, stdio: ['ignore', 'inherit', 'inherit'] });
try {
  // `prompts/demo.yaml` as the README writes it, so the page's header shows that path.
  await symlink(path.join(root, 'prompts'), path.join(work, 'prompts'));
  // The demo as the README runs it (the sheets first, then the panels), only quicker on the mock.
  cli('prompts/demo.yaml', '--mock', '--headless', '--out', 'output', '--no-dashboard', '--mock-latency-ms', '300', '--mock-url-delay-ms', '100', '--mock-upload-ms', '300');
  cli('report', 'prompts/demo.yaml');
  const page = path.join(work, 'output', 'the-lighthouse-demo', 'contact-sheet.html');

  const chrome = await chromium.launch({ executablePath: browser, headless: true });
  try {
    const tab = await chrome.newPage({ viewport: { width: 900, height: 700 }, deviceScaleFactor: 1 });
    await tab.goto(pathToFileURL(page).href);
    const row = tab.locator('section.chapter[data-chapter="characters"]');
    // Every thumbnail drawn before the picture is taken.
    await row.locator('img').evaluateAll((imgs) => Promise.all(imgs.map((img) => (img.complete ? null : new Promise((resolve) => img.addEventListener('load', resolve, { once: true }))))));
    // A margin of the page around the row, so its cards do not touch the picture's edge.
    const box = await row.boundingBox();
    if (!box) throw new Error(`${page} has no Characters row: did the demo make its sheets?`);
    const margin = 16;
    const x = Math.max(0, box.x - margin);
    const y = Math.max(0, box.y - margin);
    await tab.screenshot({ path: out, clip: { x, y, width: box.width + (box.x - x) + margin, height: box.height + (box.y - y) + margin } });
  } finally {
    await chrome.close();
  }
} finally {
  await rm(work, { recursive: true, force: true, maxRetries: 10, retryDelay: 500 });
}
const { size } = await stat(out);
if (size > MAX_BYTES) throw new Error(`${out} is ${Math.round(size / 1024)} KB, more than ${MAX_BYTES / 1024} KB: narrow the viewport`);
process.stdout.write(`wrote ${path.relative(process.cwd(), out)} (${Math.round(size / 1024)} KB)\n`);
