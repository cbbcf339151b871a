// The 2026 page's attachments (ARCHITECTURE §4, "Attachments"): the two composers, uploads that take
// time with Send disabled meanwhile, renamed duplicates, the decoy input, the upload faults, the
// user turn's attachment images, and the log a spec reads (GET /__mock/prompts).
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright';
import { UsageError } from '../protocol/errors.js';
import { parseFaultSpec } from './faults.js';
import { startMockSite, type MockSite, type MockSiteOptions, type PromptLog } from './server.js';

let site: MockSite | undefined;
afterEach(async () => {
  await site?.close();
  site = undefined;
});
async function start(opts: MockSiteOptions): Promise<MockSite> {
  site = await startMockSite({ latencyMs: 300, urlDelayMs: 0, uploadMs: 300, ...opts });
  return site;
}

const png = (r: number, g: number, b: number) =>
  sharp({ create: { width: 32, height: 32, channels: 3, background: { r, g, b } } }).png().toBuffer();
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function session(url: string): Promise<string> {
  const res = await fetch(url);
  return /mock_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
}
function upload(url: string, cookie: string | undefined, name: string, bytes: Buffer) {
  return fetch(new URL('/backend-api/files', url), {
    method: 'POST',
    headers: { ...(cookie ? { cookie } : {}), 'content-type': 'image/png', 'x-file-name': encodeURIComponent(name) },
    body: new Uint8Array(bytes),
  });
}

describe('uploads over HTTP', () => {
  it('refuses an unknown composer, naming the option; upload faults count uploads and follow no reload', async () => {
    await expect(startMockSite({ composer: 'oct-2026' as never })).rejects.toThrow(UsageError);
    await expect(startMockSite({ composer: 'oct-2026' as never })).rejects.toThrow(/--mock-composer: "oct-2026" is not one of mid-2026, sep-2026/);
    await expect(startMockSite({ uploadMs: -1 })).rejects.toThrow(/--mock-upload-ms/);
    expect(() => parseFaultSpec('reload+upload-fail@1')).toThrow(/hits an upload/);
    expect(parseFaultSpec('upload-stuck@2,upload-drop:0.5')).toEqual([{ kind: 'upload-stuck', at: 2 }, { kind: 'upload-drop', probability: 0.5 }]);
  });

  it('takes bytes per account after uploadMs, serves them signed like an image, and logs what each prompt carried', async () => {
    const { url } = await start({ uploadMs: 200, faults: 'upload-fail@2' });
    const cookie = await session(url);
    expect((await upload(url, undefined, 'a.png', await png(1, 2, 3))).status).toBe(401);
    const bytes = await png(200, 10, 10);
    const started = Date.now();
    const res = await upload(url, cookie, 'mara.png', bytes);
    expect(res.headers.get('x-mock-upload')).toBe('accepted');
    const body = (await res.json()) as { file_id: string; url: string; name: string };
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(body.file_id).toMatch(/^file_/);
    expect(body.url).toMatch(/\/backend-api\/estuary\/content\?id=file_.*&sig=[0-9a-f]{64}/);
    const served = await fetch(new URL(body.url, url), { headers: { cookie } });
    expect(Buffer.from(await served.arrayBuffer()).equals(bytes)).toBe(true);
    // The second upload meets upload-fail@2: an error after the wait, and no file id to send.
    expect(await (await upload(url, cookie, 'b.png', bytes)).json()).toEqual({ error: 'Failed upload to files.oaiusercontent.com' });

    // Another account cannot send (or fetch) this account's file.
    const other = await session(url);
    const post = (c: string, attachments: unknown[]) =>
      fetch(new URL('/backend-api/conversation', url), { method: 'POST', headers: { cookie: c, 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Draw Mara', tool: 'image', attachments }) });
    expect((await post(other, [body.file_id])).status).toBe(400);
    expect((await fetch(new URL(body.url, url), { headers: { cookie: other } })).status).toBe(404);
    const sent = (await (await post(cookie, [body.file_id])).json()) as { state: { turns: Array<{ attachments: Array<{ name: string; url: string }> }> } };
    expect(sent.state.turns[0].attachments).toEqual([{ name: 'mara.png', id: body.file_id, url: body.url }]);
    const log = (await (await fetch(new URL('/__mock/prompts', url))).json()) as PromptLog[];
    expect(log).toEqual([{ n: 1, account: 0, prompt: 'Draw Mara', attachments: [{ fileId: body.file_id, name: 'mara.png', sha256: sha(bytes), bytes: bytes.length }], uploadsDone: true }]);
    expect(site!.stats()).toMatchObject({ prompts: 1, uploads: 2, sendsWhileDisabled: 0, faults: { 'upload-fail': 1 } });
  });

  it('refuses a file over 20 MB with 413', async () => {
    const { url } = await start({});
    const res = await upload(url, await session(url), 'huge.png', Buffer.alloc(20 * 1024 * 1024 + 1));
    expect(res.status).toBe(413);
    expect(site!.stats().uploads).toBe(0);
  });
});

describe('attachments in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true });
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** What the extension's content script does: a DataTransfer into the input, a bubbling change. Returns input.files.length after. */
  function attach(page: Page, selector: string, files: Array<{ name: string; bytes?: Buffer; size?: number }>): Promise<number> {
    const wire = files.map((f) => ({ name: f.name, b64: f.bytes?.toString('base64'), size: f.size }));
    return page.evaluate(
      ({ selector, wire }) => {
        const input = document.querySelector(selector) as HTMLInputElement;
        const dt = new DataTransfer();
        for (const f of wire) {
          const data = f.b64 ? Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0)) : new Uint8Array(f.size!);
          dt.items.add(new File([data], f.name, { type: 'image/png' }));
        }
        input.files = dt.files;
        input.dispatchEvent(new Event('change', { bubbles: true }));
        return input.files.length;
      },
      { selector, wire },
    );
  }
  async function fill(page: Page, text: string): Promise<void> {
    await page.evaluate((text) => {
      const editor = document.querySelector('#prompt-textarea') as HTMLElement;
      editor.focus();
      document.execCommand('insertText', false, text);
      editor.dispatchEvent(new Event('input', { bubbles: true }));
    }, text);
  }
  const TILES = '[data-composer-attachments][data-visible-attachments] > *';
  const tiles = (page: Page) =>
    page.locator(TILES).evaluateAll((ts) => ts.map((t) => ({ busy: t.getAttribute('aria-busy') === 'true' && t.hasAttribute('data-inline-file-uploading'), names: [...t.querySelectorAll('button')].map((b) => b.getAttribute('aria-label') ?? b.textContent), cls: t.className })));
  const sendState = (page: Page) =>
    page.evaluate(() => {
      const b = document.getElementById('composer-submit-button') as HTMLButtonElement;
      return { testid: b.getAttribute('data-testid'), disabled: b.disabled, aria: b.getAttribute('aria-disabled') };
    });

  it('sep-2026: two files go busy then done with Send disabled meanwhile; the send carries exactly them, shown in the user turn like images', async () => {
    const { url } = await start({ uploadMs: 600 });
    const page = await browser.newPage();
    await page.goto(url);
    const mara = await png(250, 0, 0);
    const joss = await png(0, 0, 250);
    await fill(page, 'Draw Mara and Joss at the harbour');
    const left = await attach(page, 'form[data-chatgpt-composer] input[type=file][aria-label="Attach files"]', [{ name: 'mara.png', bytes: mara }, { name: 'joss.png', bytes: joss }]);
    expect(left).toBe(0); // the page took the files and emptied the input
    await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 2, TILES);
    expect(await tiles(page)).toEqual([
      { busy: true, names: ['mara.png', 'Remove mara.png'], cls: 'group/composer-attachment' },
      { busy: true, names: ['joss.png', 'Remove joss.png'], cls: 'group/composer-attachment' },
    ]);
    expect(await sendState(page)).toEqual({ testid: 'send-button', disabled: true, aria: 'true' });
    // Enter while Send is disabled sends nothing; the page counts the attempt.
    await page.keyboard.press('Enter');
    await expect.poll(() => site!.stats().sendsWhileDisabled).toBe(1);
    await page.waitForFunction((sel) => [...document.querySelectorAll(sel)].every((t) => !t.hasAttribute('aria-busy') && !t.hasAttribute('data-inline-file-uploading')), TILES);
    expect(await sendState(page)).toEqual({ testid: 'send-button', disabled: false, aria: null });
    expect(site!.stats().prompts).toBe(0);
    await page.click('[data-testid="send-button"]');
    await page.waitForFunction(() => document.body.innerText.includes('Image created'));
    expect(await page.locator(TILES).count()).toBe(0);

    const user = page.locator('section[data-turn="user"]');
    const refs = await user.locator('button[aria-haspopup="dialog"] img').evaluateAll((is) => (is as HTMLImageElement[]).map((i) => ({ alt: i.alt, src: i.getAttribute('src')!, w: i.naturalWidth })));
    expect(refs.map((r) => [r.alt, r.w])).toEqual([['mara.png', 32], ['joss.png', 32]]);
    // The same URL scheme as the generated image: a careless finder would take them for it.
    for (const r of refs) expect(r.src).toMatch(/^\/backend-api\/estuary\/content\?id=file_[A-Za-z0-9_-]+&ts=\d+&p=fs&cid=1&sig=[0-9a-f]{64}&v=0$/);
    const generated = await page.locator('section[data-turn="assistant"] div[id^="image-"] img').first().getAttribute('src');
    expect(generated).toMatch(/^\/backend-api\/estuary\/content\?id=file_/);
    expect(refs.map((r) => r.src)).not.toContain(generated);
    expect(site!.prompts()).toEqual([
      expect.objectContaining({ prompt: 'Draw Mara and Joss at the harbour', uploadsDone: true, attachments: [expect.objectContaining({ name: 'mara.png', sha256: sha(mara) }), expect.objectContaining({ name: 'joss.png', sha256: sha(joss) })] }),
    ]);
    expect(site!.stats()).toMatchObject({ uploads: 2, sendsWhileDisabled: 1 });
    await page.close();
  });

  it('mid-2026: #upload-files, "Remove file N:" tiles, a re-added name shows as name(1).png, and the decoy outside the form drops its file', async () => {
    const { url } = await start({ composer: 'mid-2026', uploadMs: 50 });
    const page = await browser.newPage();
    await page.goto(url);
    expect(await page.locator('form[data-chatgpt-composer]').count()).toBe(0);
    expect(await page.locator('form #upload-photos[accept="image/*"]').count()).toBe(1);
    const bytes = await png(10, 200, 10);
    // The decoy first: it empties itself and uploads nothing.
    expect(await attach(page, 'input[type=file][accept="image/*"]:not(form input)', [{ name: 'lost.png', bytes }])).toBe(0);
    await attach(page, '#upload-files', [{ name: 'mara.png', bytes }]);
    await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 1, TILES);
    await attach(page, '#upload-files', [{ name: 'mara.png', bytes }]);
    await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 2, TILES);
    await page.waitForFunction((sel) => ![...document.querySelectorAll(sel)].some((t) => t.hasAttribute('aria-busy')), TILES);
    expect(await tiles(page)).toEqual([
      { busy: false, names: ['mara.png', 'Remove file 1: mara.png'], cls: 'group/file-tile' },
      { busy: false, names: ['mara(1).png', 'Remove file 2: mara(1).png'], cls: 'group/file-tile' },
    ]);
    expect(site!.stats().uploads).toBe(2); // the decoy's file never went up
    await page.click('button[aria-label="Remove file 1: mara.png"]');
    expect(await tiles(page)).toEqual([{ busy: false, names: ['mara(1).png', 'Remove file 1: mara(1).png'], cls: 'group/file-tile' }]);
    await page.close();
  });

  it('upload-fail: the banner, the tile removed, nothing to send', async () => {
    const { url } = await start({ faults: 'upload-fail@1', uploadMs: 100 });
    const page = await browser.newPage();
    await page.goto(url);
    await attach(page, 'input[aria-label="Attach photos"]', [{ name: 'mara.png', bytes: await png(1, 1, 1) }]);
    await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 1, TILES);
    await page.locator('form [role="alert"]', { hasText: 'Failed upload to files.oaiusercontent.com' }).waitFor();
    expect(await page.locator(TILES).count()).toBe(0);
    expect(site!.stats().faults).toEqual({ 'upload-fail': 1 });
    await page.close();
  });

  it('upload-stuck: that tile stays busy and Send disabled after the other file is done', async () => {
    const { url } = await start({ faults: 'upload-stuck@1', uploadMs: 50 });
    const page = await browser.newPage();
    await page.goto(url);
    await fill(page, 'Mara');
    await attach(page, 'input[aria-label="Attach files"]', [{ name: 'stuck.png', bytes: await png(1, 1, 1) }, { name: 'fine.png', bytes: await png(2, 2, 2) }]);
    await page.waitForFunction((sel) => { const t = [...document.querySelectorAll(sel)]; return t.length === 2 && !t[1].hasAttribute('aria-busy'); }, TILES);
    expect((await tiles(page)).map((t) => t.busy)).toEqual([true, false]);
    expect(await sendState(page)).toEqual({ testid: 'send-button', disabled: true, aria: 'true' });
    await page.close();
  });

  it('upload-drop: no tile ever appears for that file (the next one gets its tile), no banner', async () => {
    const { url } = await start({ faults: 'upload-drop@1', uploadMs: 50 });
    const page = await browser.newPage();
    await page.goto(url);
    await attach(page, 'input[aria-label="Attach files"]', [{ name: 'gone.png', bytes: await png(1, 1, 1) }, { name: 'kept.png', bytes: await png(2, 2, 2) }]);
    await page.waitForFunction((sel) => { const t = [...document.querySelectorAll(sel)]; return t.length === 1 && !t[0].hasAttribute('aria-busy'); }, TILES);
    expect((await tiles(page))[0].names).toEqual(['kept.png', 'Remove kept.png']);
    expect(await page.locator('[role="alert"]').count()).toBe(0);
    expect(site!.stats()).toMatchObject({ uploads: 2, faults: { 'upload-drop': 1 } });
    await page.close();
  });

  it('2026-blob: the user turn shows the references as blob: srcs the page made, and showing them is no download', async () => {
    const { url } = await start({ dom: '2026-blob', uploadMs: 50 });
    const page = await browser.newPage();
    await page.goto(url);
    await fill(page, 'Draw Mara');
    await attach(page, 'input[aria-label="Attach files"]', [{ name: 'mara.png', bytes: await png(9, 9, 9) }]);
    await page.waitForFunction(() => { const b = document.getElementById('composer-submit-button') as HTMLButtonElement; return document.querySelectorAll('[data-composer-attachments] > *').length === 1 && !b.disabled; });
    await page.click('[data-testid="send-button"]');
    await page.waitForFunction(() => document.body.innerText.includes('Image created'));
    const refs = await page.locator('section[data-turn="user"] button[aria-haspopup="dialog"] img').evaluateAll((is) => (is as HTMLImageElement[]).map((i) => [i.alt, i.src.slice(0, 5), i.naturalWidth]));
    expect(refs).toEqual([['mara.png', 'blob:', 32]]);
    expect(site!.stats().downloads).toBe(0);
    await page.close();
  });

  it('a file over 20 MB: the banner, no tile, no upload', async () => {
    const { url } = await start({});
    const page = await browser.newPage();
    await page.goto(url);
    await attach(page, 'input[aria-label="Attach files"]', [{ name: 'huge.png', size: 20 * 1024 * 1024 + 1 }]);
    await page.locator('form [role="alert"]', { hasText: 'Failed upload to files.oaiusercontent.com: huge.png is larger than 20 MB' }).waitFor();
    expect(await page.locator(TILES).count()).toBe(0);
    expect(site!.stats().uploads).toBe(0);
    await page.close();
  });
});
