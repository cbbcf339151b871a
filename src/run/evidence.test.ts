// The page evidence in a real Chromium: the HTML a user may share keeps the page's words and
// structure and loses scripts, handlers, frames, meta/link tags, form values, URL queries, tokens
// and every cookie value (HttpOnly ones too); files are 0600 in 0700 folders; no trace without --trace.
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findChromium } from '../browser/discover.js';
import { EvidenceKeeper } from './evidence.js';

const SESSION = 'sess-Q2hhdEdQVFNlc3Npb25Ub2tlbg';
const VISIBLE = 'visiblecookie-7f3a9c2e';
const HUB_TOKEN = 'hubtoken-5d41402abc4b2a76b9719d91';
const SIG = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';

const PAGE = `<!doctype html><html><head>
<meta charset="utf-8"><meta name="csrf-token" content="csrf-abc"><meta http-equiv="refresh" content="3600;url=/x">
<link rel="preload" href="/api/session?token=leaked-link">
<script>window.__NEXT_DATA__ = {"accessToken": "at-123"}; document.cookie = "visible=${VISIBLE}; path=/";</script>
<style>.hero{background:url(/bg.png?sig=style-sig)}</style>
</head><body onload="steal()">
<!-- server note: user 42, token=comment-token -->
<p class="bg-token-sidebar-surface-primary-very-long">Image generation failed — the page's own words</p>
<img alt="Generated image: a lighthouse" src="/backend-api/estuary/content?id=file_1&amp;ts=1&amp;sig=${SIG}" onerror="x()">
<a href="javascript:alert(1)">bad link</a><a href="/c/2a0e8b4e-5b7c-4d1e-9a3b-0c1d2e3f4a5b">conversation</a>
<div data-token="${SIG}" data-turn-id="2a0e8b4e-5b7c-4d1e-9a3b-0c1d2e3f4a5b" style="background-image:url('/x.png?key=style-attr')">turn</div>
<form action="/submit?state=form-state"><input type="hidden" name="csrf" value="hidden-csrf"><input name="q" value="typed-secret"><textarea>draft-secret</textarea></form>
<iframe src="/frame?auth=frame-auth"></iframe><noscript>noscript-content</noscript>
<template><script>templated()</script></template>
<svg><script>svgScript()</script></svg>
<p id="echo"></p>
<script>document.getElementById('echo').textContent = 'echo ' + document.cookie + ' ${HUB_TOKEN}';</script>
</body></html>`;

let browser: Browser;
let context: BrowserContext;
let page: Page;
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: findChromium(), headless: true });
});
afterAll(async () => {
  await browser?.close();
});
beforeEach(async () => {
  await context?.close();
  context = await browser.newContext();
  await context.addCookies([{ name: 'session', value: SESSION, domain: 'site.test', path: '/', httpOnly: true, secure: false }]);
  page = await context.newPage();
  await page.route('http://site.test/**', (route) => route.fulfill({ contentType: 'text/html', body: route.request().url().endsWith('/page') ? PAGE : '' }));
  await page.goto('http://site.test/page');
  // The page echoes its document.cookie into its text, and shows the HttpOnly value through a script.
  await page.evaluate((session) => document.body.insertAdjacentText('beforeend', ` shown ${session}`), SESSION);
});

async function keep(opts: ConstructorParameters<typeof EvidenceKeeper>[2] = {}): Promise<{ dir: string; saved: string[] }> {
  const bookDir = await mkdtemp(path.join(tmpdir(), 'semantest-evidence-'));
  const keeper = new EvidenceKeeper(context, bookDir, opts);
  await keeper.start();
  const saved = await keeper.firstOfKind('transient', 'ch1/s1/p1', page);
  await keeper.stop();
  return { dir: path.join(bookDir, '.evidence'), saved };
}

describe('page evidence', () => {
  it('keeps the words and structure, and none of the scripts, handlers, tokens or cookie values', async () => {
    const { saved } = await keep({ secrets: () => [HUB_TOKEN] });
    expect(saved.map((f) => path.basename(f))).toEqual(['transient.png', 'transient.html']);
    const html = await readFile(saved[1], 'utf8');
    expect(html).toContain("Image generation failed — the page's own words");
    expect(html).toContain('alt="Generated image: a lighthouse" src="/backend-api/estuary/content"');
    expect(html).toContain('href="/c/2a0e8b4e-5b7c-4d1e-9a3b-0c1d2e3f4a5b"');
    expect(html).toContain('data-turn-id="2a0e8b4e-5b7c-4d1e-9a3b-0c1d2e3f4a5b"');
    expect(html).toContain('class="bg-token-sidebar-surface-primary-very-long"');
    expect(html).toContain('action="/submit"');
    for (const gone of [
      '<script', 'accessToken', 'templated', 'svgScript', 'noscript-content', '<iframe', 'frame-auth', 'csrf-abc', 'http-equiv', 'leaked-link',
      'style-sig', 'style-attr', 'comment-token', 'onload', 'onerror', 'javascript:', 'hidden-csrf', 'typed-secret', 'draft-secret', 'form-state',
      SIG, SESSION, VISIBLE, HUB_TOKEN,
    ]) {
      expect(html, gone).not.toContain(gone);
    }
    // The page itself is left as it was: only a clone was cut down.
    expect(await page.locator('iframe').count()).toBe(1);
  });

  it('writes files 0600 in folders 0700', async () => {
    const { dir, saved } = await keep();
    for (const file of saved) expect(((await stat(file)).mode & 0o777).toString(8)).toBe('600');
    for (const folder of [dir, path.join(dir, 'ch1'), path.join(dir, 'ch1', 's1'), path.join(dir, 'ch1', 's1', 'p1')]) {
      expect(((await stat(folder)).mode & 0o777).toString(8)).toBe('700');
    }
    expect(await readdir(path.join(dir, 'ch1', 's1', 'p1'))).toEqual(['transient.html', 'transient.png']);
  });

  it('keeps page evidence once per kind, and for a job that ends failed its own (or its earlier) files', async () => {
    const bookDir = await mkdtemp(path.join(tmpdir(), 'semantest-evidence-'));
    const keeper = new EvidenceKeeper(context, bookDir);
    const names = (files: string[]) => files.map((f) => path.relative(path.join(bookDir, '.evidence'), f));
    expect(names(await keeper.firstOfKind('verify', 'ch1/s1/p1', page))).toEqual(['ch1/s1/p1/verify.png', 'ch1/s1/p1/verify.html']);
    expect(await keeper.firstOfKind('verify', 'ch1/s1/p2', page)).toEqual([]);
    expect(names(await keeper.firstOfKind('verify', 'ch1/s1/p2', page, true))).toEqual(['ch1/s1/p2/verify.png', 'ch1/s1/p2/verify.html']);
    expect(names(await keeper.firstOfKind('verify', 'ch1/s1/p1', page, true))).toEqual(['ch1/s1/p1/verify.png', 'ch1/s1/p1/verify.html']);
    expect(await readdir(path.join(bookDir, '.evidence', 'ch1', 's1'))).toEqual(['p1', 'p2']);
  });

  for (const trace of [false, true]) {
    it(trace ? 'with trace, keeps a failed attempt\'s trace, 0600' : 'without trace, traces nothing', async () => {
      const bookDir = await mkdtemp(path.join(tmpdir(), 'semantest-evidence-'));
      const keeper = new EvidenceKeeper(context, bookDir, { trace });
      await keeper.start();
      expect(await keeper.beginAttempt('ch1/s1/p1', 1)).toBe(trace);
      await page.reload();
      const file = await keeper.endAttempt('ch1/s1/p1', 1, true);
      await keeper.stop();
      if (!trace) {
        expect(file).toBeUndefined();
        expect(await readdir(bookDir)).toEqual([]);
        return;
      }
      expect(path.relative(bookDir, file!)).toBe(path.join('.evidence', 'ch1', 's1', 'p1', 'attempt-1.trace.zip'));
      expect(((await stat(file!)).mode & 0o777).toString(8)).toBe('600');
    });
  }
});
