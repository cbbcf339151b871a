// The 2026 column of the page contract (ARCHITECTURE §4) as the mock renders it: the page, signed
// image URLs, image intent, aspect, the 2026 wordings and new fault kinds, churn, and blob: srcs.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright';
import { UsageError } from '../protocol/errors.js';
import { asksForImage, imageShape, ratioInText } from './answers.js';
import { MOCK_FAULT_KINDS, parseFaultSpec } from './faults.js';
import { startMockSite, type MockSite, type MockSiteOptions } from './server.js';

interface Pic {
  id: string;
  url: string;
  width: number;
  height: number;
}
interface TurnState {
  n: number;
  status: string;
  userId: string;
  answerId: string;
  uuid?: string;
  image?: string;
  pic?: Pic;
  partial?: Pic | null;
  percent?: number;
  width?: number;
  height?: number;
  message?: string;
  error?: boolean;
  toast?: boolean;
  reply?: boolean;
}
interface State {
  turns: TurnState[];
  recent: Array<{ fileId: string; alt: string; url?: string }>;
  signature: string;
  reload: boolean;
}

let site: MockSite | undefined;
afterEach(async () => {
  await site?.close();
  site = undefined;
});

async function start(opts: MockSiteOptions): Promise<MockSite> {
  site = await startMockSite({ latencyMs: 0, urlDelayMs: 0, ...opts });
  return site;
}

/** Lets the site's own timers (an image counted when it finishes) run. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 25));

async function session(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return /mock_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
}

function post(url: string, cookie: string, body: Record<string, unknown>) {
  return fetch(new URL('/backend-api/conversation', url), {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function ask(url: string, cookie: string, prompt: string, extra: Record<string, unknown> = {}) {
  const res = await post(url, cookie, { prompt, ...extra });
  expect(res.status).toBe(200);
  return (await res.json()) as { conversation_id: string; state: State };
}

async function poll(url: string, cookie: string, id: string, since?: string): Promise<State> {
  const query = since === undefined ? '' : `?since=${encodeURIComponent(since)}`;
  const res = await fetch(new URL(`/backend-api/conversation/${id}${query}`, url), { headers: { cookie } });
  expect(res.status).toBe(200);
  return (await res.json()) as State;
}

async function bytesOf(url: string, cookie: string, path: string): Promise<Buffer> {
  const res = await fetch(new URL(path, url), { headers: { cookie } });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

describe('answers', () => {
  it('takes an image request from the prompt\'s first words only', () => {
    for (const p of ['Create an image: a cat', '  create an image of a dog', 'Generate an image: x', 'Draw a lighthouse', 'DRAW: x']) expect(asksForImage(p)).toBe(true);
    for (const p of ['A cat. Create an image', 'Drawing class', 'an image of a cat', 'Imagine a cat']) expect(asksForImage(p)).toBe(false);
  });

  it('reads the first ratio the prompt states and sizes it', () => {
    expect(ratioInText('a tall poster, 9:16, or maybe 16:9')).toBe('9:16');
    expect(ratioInText('wide 16:9 shot')).toBe('16:9');
    expect(ratioInText('at 19:16 o\'clock, 3:45 pm, 1.3:4')).toBeUndefined();
    expect(ratioInText('no ratio')).toBeUndefined();
    expect(imageShape('1:1', 512)).toEqual({ width: 512, height: 512 });
    expect(imageShape('3:4', 512)).toEqual({ width: 384, height: 512 });
    expect(imageShape('9:16', 512)).toEqual({ width: 288, height: 512 });
    expect(imageShape('4:3', 512)).toEqual({ width: 512, height: 384 });
    expect(imageShape('16:9', 512)).toEqual({ width: 512, height: 288 });
  });

  it('knows the new fault kinds, and that the send faults cannot follow a reload', () => {
    for (const kind of ['text', 'ignore-aspect', 'busy', 'too-many', 'unusual', 'account']) expect(MOCK_FAULT_KINDS).toContain(kind);
    expect(parseFaultSpec('text@1,ignore-aspect:0.5,reload+busy@2')).toEqual([
      { kind: 'text', at: 1 },
      { kind: 'ignore-aspect', probability: 0.5 },
      { kind: 'reload+busy', at: 2 },
    ]);
    for (const kind of ['too-many', 'unusual', 'account']) expect(() => parseFaultSpec(`reload+${kind}@1`)).toThrow(/ends the send/);
  });
});

describe('options', () => {
  it('refuses an unknown dom, churn or image tool setting, naming the option', async () => {
    await expect(startMockSite({ dom: '2030' as never })).rejects.toThrow(UsageError);
    await expect(startMockSite({ dom: '2030' as never })).rejects.toThrow(/--mock-dom: "2030" is not one of 2024, 2026, 2026-blob/);
    await expect(startMockSite({ churn: 'heavy' as never })).rejects.toThrow(/--mock-churn: "heavy" is not one of none, cosmetic, breaking/);
    await expect(startMockSite({ imageTool: 'yes' as never })).rejects.toThrow(/--mock-image-tool/);
  });
});

describe('the 2026 page over HTTP', () => {
  it('is the default: one submit button that says Start Voice, the + button, the placeholder paragraph', async () => {
    const { url } = await start({});
    const html = await (await fetch(url)).text();
    for (const part of [
      'contenteditable="true"',
      'class="ProseMirror"',
      'id="prompt-textarea"',
      'role="textbox"',
      'aria-label="Ask ChatGPT"',
      '<p data-placeholder="Ask anything"',
      'id="composer-submit-button"',
      'aria-label="Start Voice"',
      'data-testid="composer-plus-btn"',
      'aria-label="Add files and more"',
      'data-testid="create-new-chat-button"',
      'Recent images',
    ]) {
      expect(html).toContain(part);
    }
    expect(html).not.toContain('data-testid="send-button"');
    expect(html).not.toContain('Message ChatGPT');
    expect(html).not.toContain('Download this image');
  });

  it('churn: cosmetic keeps the anchors (a bare div.ProseMirror named "Chat with ChatGPT"); breaking has no composer the contract names', async () => {
    const { url } = await start({ churn: 'cosmetic' });
    const cosmetic = await (await fetch(url)).text();
    expect(cosmetic).toMatch(/<div contenteditable="true"[^>]*class="ProseMirror"[^>]*role="textbox"[^>]*aria-label="Chat with ChatGPT"/);
    expect(cosmetic).not.toContain('id="prompt-textarea"');
    for (const part of ['id="composer-submit-button"', 'data-testid="composer-plus-btn"', 'data-testid="create-new-chat-button"', 'Recent images']) expect(cosmetic).toContain(part);
    expect(cosmetic.indexOf('<main')).toBeLessThan(cosmetic.indexOf('<nav')); // the main pane comes first in the markup
    await site!.close();

    // The markup only: the client script and the stylesheet name what they handle.
    const broken = (await (await fetch((await start({ churn: 'breaking' })).url)).text()).replace(/<(script|style)>[\s\S]*?<\/\1>/g, '');
    for (const gone of ['contenteditable', 'ProseMirror', 'prompt-textarea', 'role="textbox"', '<textarea', 'Ask anything', 'Ask ChatGPT', 'Chat with ChatGPT', 'Message ChatGPT']) {
      expect(broken).not.toContain(gone);
    }
    expect(broken).not.toContain('login-button');
    expect(broken).toContain('data-testid="create-new-chat-button"');
  });

  it('signs image URLs: 403 JSON without the sig or with a wrong one, 401 without the session cookie', async () => {
    const { url } = await start({});
    const cookie = await session(url);
    const { state } = await ask(url, cookie, 'Create an image: a gull over the waves');
    const done = state.turns[0];
    expect(done.status).toBe('done');
    const signed = done.pic!.url;
    expect(signed).toMatch(/^\/backend-api\/estuary\/content\?id=file_[A-Za-z0-9_-]+&ts=\d+&p=fs&cid=1&sig=[0-9a-f]{64}&v=0$/);
    expect(done.pic!.id).toBe(done.image);

    const bare = `/backend-api/estuary/content?id=${done.image}`;
    const forged = signed.replace(/sig=([0-9a-f])/, (_, c: string) => `sig=${c === '0' ? '1' : '0'}`);
    const otherTs = signed.replace(/ts=(\d+)/, (_, ts: string) => `ts=${Number(ts) + 1}`);
    for (const path of [bare, forged, otherTs]) {
      const res = await fetch(new URL(path, url), { headers: { cookie } });
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toContain('application/json');
      expect(((await res.json()) as { detail: string }).detail).toMatch(/signature/);
    }
    expect((await fetch(new URL(signed, url))).status).toBe(401);
    const png = await bytesOf(url, cookie, signed);
    expect((await sharp(png).metadata()).width).toBe(512);
    expect(state.recent[0]).toMatchObject({ fileId: done.image, url: signed });
  });

  it('answers a bare description with text, and draws only with the tool on or when asked in words', async () => {
    const { url } = await start({});
    const cookie = await session(url);
    const bare = await ask(url, cookie, 'A lighthouse on a cliff at dusk, waves below');
    expect(bare.state.turns[0]).toMatchObject({ status: 'message', error: false, reply: true });
    expect(bare.state.turns[0].image).toBeUndefined();
    expect(bare.state.turns[0].message).toMatch(/^That sounds like a vivid scene: A lighthouse on a cliff at dusk, waves… /);
    for (const wording of [/creating image/i, /image created/i, /content policy/i, /slow down/i, /try again later/i, /something went wrong/i]) {
      expect(bare.state.turns[0].message).not.toMatch(wording);
    }

    for (const prompt of ['Create an image: a lighthouse', 'generate an image of a gull', 'Draw the keeper']) {
      expect((await ask(url, cookie, prompt)).state.turns[0].status).toBe('done');
    }
    expect((await ask(url, cookie, 'the keeper climbs', { tool: 'image' })).state.turns[0].status).toBe('done');
    await tick();
    expect(site!.stats()).toMatchObject({ prompts: 5, images: 4 });
  });

  it('with the image tool off, the + menu has no "Create image" and a tool request is ignored', async () => {
    const { url } = await start({ imageTool: false });
    const cookie = await session(url);
    const html = await (await fetch(url)).text();
    expect(html).toContain('"imageTool":false');
    expect((await ask(url, cookie, 'the keeper climbs', { tool: 'image' })).state.turns[0]).toMatchObject({ status: 'message', reply: true });
    expect((await ask(url, cookie, 'Create an image: the keeper climbs')).state.turns[0].status).toBe('done');
  });

  it('sizes the image by the aspect control, else by a ratio in the prompt, else square', async () => {
    const { url } = await start({});
    const cookie = await session(url);
    const cases: Array<[string, Record<string, unknown>, number, number]> = [
      ['a harbour', { tool: 'image', aspect: '1:1' }, 512, 512],
      ['a harbour', { tool: 'image', aspect: '3:4' }, 384, 512],
      ['a harbour in 16:9', { tool: 'image', aspect: '9:16' }, 288, 512], // the control wins over the text
      ['a harbour', { tool: 'image', aspect: '4:3' }, 512, 384],
      ['a harbour', { tool: 'image', aspect: '16:9' }, 512, 288],
      ['a harbour, 9:16', { tool: 'image', aspect: 'auto' }, 288, 512],
      ['Create an image: a harbour, 4:3 then 16:9', {}, 512, 384],
      ['Create an image: a harbour, 3:4', { aspect: '16:9' }, 384, 512], // no tool: its aspect does not count
      ['a harbour', { tool: 'image' }, 512, 512],
    ];
    for (const [prompt, extra, width, height] of cases) {
      const turn = (await ask(url, cookie, prompt, extra)).state.turns[0];
      expect([prompt, extra, turn.width, turn.height, turn.pic!.width, turn.pic!.height]).toEqual([prompt, extra, width, height, width, height]);
      const meta = await sharp(await bytesOf(url, cookie, turn.pic!.url)).metadata();
      expect([meta.width, meta.height]).toEqual([width, height]);
    }
  });

  it('ignore-aspect: the image comes back square whatever was asked', async () => {
    const { url } = await start({ faults: 'ignore-aspect@1' });
    const cookie = await session(url);
    const turn = (await ask(url, cookie, 'a tall tower', { tool: 'image', aspect: '9:16' })).state.turns[0];
    expect([turn.width, turn.height]).toEqual([512, 512]);
    const meta = await sharp(await bytesOf(url, cookie, turn.pic!.url)).metadata();
    expect([meta.width, meta.height]).toEqual([512, 512]);
    expect(site!.stats().faults).toEqual({ 'ignore-aspect': 1 });
  });

  it('text: a text reply even to an explicit image request', async () => {
    const { url } = await start({ faults: 'text@1' });
    const cookie = await session(url);
    const turn = (await ask(url, cookie, 'Create an image: a tower', { tool: 'image' })).state.turns[0];
    expect(turn).toMatchObject({ status: 'message', reply: true, error: false });
    expect(site!.stats()).toMatchObject({ images: 0, faults: { text: 1 } });
  });

  it('shows a scaffold, then "Creating image N%" with a rising percentage and a signed partial, then the image', async () => {
    const latencyMs = 800;
    const { url } = await start({ latencyMs });
    const cookie = await session(url);
    const sent = await ask(url, cookie, 'Create an image: a slow storm', { tool: 'image', aspect: '16:9' });
    const first = sent.state.turns[0];
    expect(first).toMatchObject({ status: 'creating', partial: null, width: 512, height: 288 });
    expect(first.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const percents: number[] = [];
    let state = sent.state;
    while (state.turns[0].status === 'creating') {
      state = await poll(url, cookie, sent.conversation_id, state.signature);
      const turn = state.turns[0];
      expect(turn.uuid).toBe(first.uuid);
      if (turn.status === 'creating' && turn.partial) {
        percents.push(turn.percent!);
        expect(turn.partial.url).toMatch(/id=file_[A-Za-z0-9_-]+-partial\d&ts=\d+&p=fs&cid=1&sig=[0-9a-f]{64}&v=0$/);
        expect([turn.partial.width, turn.partial.height]).toEqual([256, 144]);
        const meta = await sharp(await bytesOf(url, cookie, turn.partial.url)).metadata();
        expect([meta.width, meta.height]).toEqual([256, 144]);
      }
    }
    expect(percents.length).toBeGreaterThanOrEqual(3);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(new Set(percents).size).toBe(percents.length);
    expect(percents).toContain(42);
    expect(state.turns[0]).toMatchObject({ status: 'done', uuid: first.uuid });
  });

  it('stale-id: the turn shows the previous image under its very file id, uuid and URL', async () => {
    const { url } = await start({ faults: 'stale-id@2' });
    const cookie = await session(url);
    const a = (await ask(url, cookie, 'Draw the lighthouse')).state.turns[0];
    const b = (await ask(url, cookie, 'Draw the keeper')).state.turns[0];
    expect([b.image, b.uuid, b.pic!.url]).toEqual([a.image, a.uuid, a.pic!.url]);
  });

  it('speaks the 2026 wordings for policy, cooldown, quota and error', async () => {
    const { url } = await start({ faults: 'policy@1,cooldown@2,error@3,quota@4', quotaResetText: '14 hours' });
    const cookie = await session(url);
    const turns = [];
    for (let i = 0; i < 4; i++) turns.push((await ask(url, cookie, `Create an image: panel ${i}`)).state.turns[0]);
    expect(turns[0]).toMatchObject({
      status: 'message',
      error: false,
      message:
        "We're so sorry, but the image we created may violate our guardrails concerning similarity to third-party content. If you think we got it wrong, please retry or edit your prompt.",
    });
    expect(turns[1]).toMatchObject({
      status: 'message',
      error: false,
      message:
        "You're generating images too quickly. To ensure the best experience for everyone, we have rate limits in place. Please wait for 4 minutes before generating more images.",
    });
    expect(turns[2]).toMatchObject({ status: 'message', error: true, toast: false, message: 'Image generation failed' });
    expect(turns[3].status).toBe('message');
    expect(turns[3].message).toMatch(
      /^You've hit the Plus plan limit for image generations requests\. You can create more images when the limit resets in 1[34] hours and \d+ minutes\.$/,
    );
    expect(site!.stats().images).toBe(0);
  });

  it('keeps the 2024–25 wordings on the 2024 page, where a ratio in the prompt is honoured too', async () => {
    const { url } = await start({ dom: '2024', faults: 'cooldown@1,policy@2' });
    const cookie = await session(url);
    expect((await ask(url, cookie, 'x')).state.turns[0].message).toMatch(/Please wait a short while/);
    expect((await ask(url, cookie, 'y')).state.turns[0].message).toMatch(/violates our content policy/);
    const tall = (await ask(url, cookie, 'a bare description, 3:4')).state.turns[0];
    expect(tall).toMatchObject({ status: 'done', width: 384, height: 512 });
    const png = await bytesOf(url, cookie, `/backend-api/estuary/content?id=${tall.image}`);
    expect(await sharp(png).metadata()).toMatchObject({ width: 384, height: 512 });
  });

  it('busy: a toast and no answer; too-many, unusual and account: the send itself fails', async () => {
    const { url } = await start({ faults: 'busy@1,too-many@2,unusual@3,account@4' });
    const cookie = await session(url);
    const busy = (await ask(url, cookie, 'Draw a')).state.turns[0];
    expect(busy).toMatchObject({ status: 'notice', toast: true, message: 'We are experiencing heavy server load. Please try again later.' });

    const tooMany = await post(url, cookie, { prompt: 'Draw b' });
    expect(tooMany.status).toBe(429);
    expect(await tooMany.json()).toEqual({ detail: 'Too many requests. Please slow down.' });
    const unusual = await post(url, cookie, { prompt: 'Draw c' });
    expect(unusual.status).toBe(403);
    expect(await unusual.json()).toEqual({ detail: 'Unusual activity has been detected from your device. Try again later.' });
    const account = await post(url, cookie, { prompt: 'Draw d' });
    expect(account.status).toBe(500);
    expect(await account.json()).toMatchObject({ detail: "We couldn't load your account.", code: 'account_unavailable' });
    // The next send (after the page's reload) works.
    expect((await ask(url, cookie, 'Draw e')).state.turns[0].status).toBe('done');
    await tick();
    expect(site!.stats()).toMatchObject({ prompts: 5, images: 1, conversations: 2, faults: { busy: 1, 'too-many': 1, unusual: 1, account: 1 } });
  });

  it('2026-blob: no image URL anywhere in the page\'s HTML, and a page fetch of the bytes is not a download', async () => {
    const { url } = await start({ dom: '2026-blob' });
    const cookie = await session(url);
    const { conversation_id: id, state } = await ask(url, cookie, 'Draw the lighthouse');
    for (const path of ['/', `/c/${id}`]) {
      const html = await (await fetch(new URL(path, url), { headers: { cookie } })).text();
      expect(html).not.toContain('estuary');
      expect(html).toContain('Recent images');
    }
    const recent = (await (await fetch(new URL('/backend-api/images/recent', url), { headers: { cookie } })).json()) as State;
    expect(recent.recent).toEqual(state.recent);
    const res = await fetch(new URL(state.turns[0].pic!.url, url), { headers: { cookie, 'x-mock-view': 'page' } });
    expect(res.status).toBe(200);
    expect(site!.stats().downloads).toBe(0);
    await bytesOf(url, cookie, state.turns[0].pic!.url);
    expect(site!.stats().downloads).toBe(1);
  });

  it('two-images: both images until one is chosen, swapped on each page load, then only the chosen one', async () => {
    const { url } = await start({ faults: 'two-images@1' });
    const cookie = await session(url);
    const { conversation_id: id, state } = await ask(url, cookie, 'Draw the lighthouse');
    const pics = (state.turns[0] as TurnState & { pics?: Pic[]; choice?: boolean }).pics!;
    expect(pics.map((p) => p.id)).toHaveLength(2);
    expect(new Set(pics.map((p) => p.id)).size).toBe(2);
    // A fresh load of the page (no `since`) shows the unanswered question the other way round.
    const reloaded = (await poll(url, cookie, id)).turns[0] as TurnState & { pics?: Pic[]; choice?: boolean };
    expect(reloaded.choice).toBe(true);
    expect(reloaded.pics!.map((p) => p.id)).toEqual(pics.map((p) => p.id).reverse());
    const res = await fetch(new URL(`/backend-api/conversation/${id}/choice`, url), {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ n: 1, choice: 1 }),
    });
    expect(res.status).toBe(200);
    // "Image 1 is better" picked the first image as shown at that moment; every later load shows it alone.
    for (let i = 0; i < 2; i++) {
      const turn = (await poll(url, cookie, id)).turns[0] as TurnState & { pics?: Pic[] };
      expect(turn.pics).toBeUndefined();
      expect(turn.image).toBe(reloaded.pics![0].id);
    }
    expect(site!.stats().choices).toBe(1);
  });

  it('another account: a signed URL of a file not its own is 404, its two-image question cannot be answered, its side bar is its own', async () => {
    const { url } = await start({ faults: 'two-images@1' });
    const [a, b] = [await session(url), await session(url)];
    const { conversation_id: id, state } = await ask(url, a, 'Draw the lighthouse');
    const turn = state.turns[0] as TurnState & { pics?: Pic[] };
    // The sig is valid (the owner's page got it), yet to B the file is one that does not exist.
    for (const signed of [turn.pic!.url, ...turn.pics!.map((p) => p.url)]) {
      const refused = await fetch(new URL(signed, url), { headers: { cookie: b } });
      expect(refused.status).toBe(404);
      expect((await bytesOf(url, a, signed)).length).toBeGreaterThan(1000);
    }
    const choose = (cookie: string) =>
      fetch(new URL(`/backend-api/conversation/${id}/choice`, url), {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json' },
        body: JSON.stringify({ n: 1, choice: 1 }),
      });
    expect((await choose(b)).status).toBe(404);
    expect(site!.stats().choices).toBe(0);
    expect((await choose(a)).status).toBe(200);
    const recent = async (cookie: string) => ((await (await fetch(new URL('/backend-api/images/recent', url), { headers: { cookie } })).json()) as State).recent;
    expect((await recent(a)).map((r) => r.fileId)).toEqual([turn.pics![0].id]);
    expect(await recent(b)).toEqual([]);
    expect(await (await fetch(url, { headers: { cookie: b } })).text()).not.toContain(turn.pics![0].id);
  });

  it('code-image: an "Analyzed" answer with a picture named file-…, signed like any other; no-tool: words only', async () => {
    const { url } = await start({ faults: 'code-image@1,no-tool@2' });
    const cookie = await session(url);
    const code = (await ask(url, cookie, 'Draw the lighthouse', { tool: 'image' })).state.turns[0] as TurnState & { code?: string };
    expect(code.status).toBe('code');
    expect(code.code).toContain('import matplotlib');
    expect(code.pic!.id).toMatch(/^file-/);
    expect((await sharp(await bytesOf(url, cookie, code.pic!.url)).metadata()).width).toBe(640);
    const words = (await ask(url, cookie, 'Draw the keeper', { tool: 'image' })).state.turns[0];
    expect(words.message).toMatch(/image generation isn't available in this chat/i);
    expect(words.pic).toBeUndefined();
  });
});

describe('the 2026 page in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true });
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** What the runner does: focus, select all, insertText, an input event. */
  async function fill(page: Page, selector: string, text: string): Promise<string> {
    return page.evaluate(
      ({ selector, text }) => {
        const editor = document.querySelector(selector) as HTMLElement;
        editor.focus();
        document.execCommand('selectAll');
        document.execCommand('insertText', false, text);
        editor.dispatchEvent(new Event('input', { bubbles: true }));
        return editor.innerText;
      },
      { selector, text },
    );
  }
  const submitButton = (page: Page) =>
    page.evaluate(() => {
      const b = document.getElementById('composer-submit-button')!;
      return [b.getAttribute('data-testid'), b.getAttribute('aria-label')];
    });

  it('fills, chooses the image tool and an aspect, sends, and shows the image turn the contract describes', async () => {
    const { url } = await start({ latencyMs: 600, urlDelayMs: 150 });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    expect(await submitButton(page)).toEqual(['composer-speech-button', 'Start Voice']);
    expect(await page.locator('#prompt-textarea p[data-placeholder="Ask anything"]').count()).toBe(1);

    // The + menu opens on pointerdown (a real click) and on a bare element.click() alike.
    await page.evaluate(() => (document.querySelector('[data-testid="composer-plus-btn"]') as HTMLElement).click());
    expect(await page.locator('[role="menu"]').count()).toBe(1);
    await page.evaluate(() => (document.querySelector('[data-testid="composer-plus-btn"]') as HTMLElement).click());
    expect(await page.locator('[role="menu"]').count()).toBe(0);
    await page.click('[data-testid="composer-plus-btn"]');
    expect(await page.locator('[role="menu"]').count()).toBe(1);
    const item = page.locator('[role="menu"] [role="menuitemradio"]', { hasText: 'Create image' });
    expect(await item.textContent()).toBe('Create image');
    await item.click();
    expect(await page.locator('[role="menu"]').count()).toBe(0);
    expect(await page.locator('button[aria-label="Image, click to remove"]').count()).toBe(1);
    expect(await page.locator('#prompt-textarea p[data-placeholder="Describe or edit an image"]').count()).toBe(1);
    await page.evaluate(() => (document.querySelector('[aria-label="Choose image aspect ratio"]') as HTMLElement).click());
    expect(await page.locator('[role="menu"] [role="menuitemradio"]').allTextContents()).toEqual([
      'Auto',
      'Square 1:1',
      'Portrait 3:4',
      'Story 9:16',
      'Landscape 4:3',
      'Widescreen 16:9',
    ]);
    expect(await page.locator('[role="menuitemradio"][aria-checked="true"]').textContent()).toBe('Auto');
    await page.click('[role="menuitemradio"]:has-text("Story 9:16")');
    expect(await page.locator('[aria-label="Choose image aspect ratio"]').textContent()).toBe('Story 9:16');

    expect(await fill(page, '#prompt-textarea', 'a lighthouse at dusk')).toBe('a lighthouse at dusk');
    expect(await page.locator('#prompt-textarea p[data-placeholder]').count()).toBe(0);
    expect(await submitButton(page)).toEqual(['send-button', 'Send prompt']);
    await page.click('[data-testid="send-button"]');
    // At once: the user message and the stop button; the real URL only when the server answers
    // (before that the transient /c/WEB:<id>, its own test below).
    expect(await page.locator('section[data-turn="user"] [data-message-author-role="user"]').textContent()).toBe('a lighthouse at dusk');
    expect(await submitButton(page)).toEqual(['stop-button', 'Stop answering']);
    await page.waitForFunction(() => /^\/c\/[0-9a-f-]{36}$/.test(location.pathname));

    await page.waitForFunction(() => /Creating image \d+%/.test(document.body.innerText));
    expect(await submitButton(page)).toEqual(['stop-button', 'Stop answering']);
    await page.waitForFunction(() => document.body.innerText.includes('Image created'));
    await page.waitForFunction(() => document.getElementById('composer-submit-button')!.getAttribute('data-testid') === 'composer-speech-button');

    const turn = page.locator('div[data-turn-id-container] > section[data-testid^="conversation-turn-"][data-turn="assistant"][data-turn-id]');
    expect(await turn.count()).toBe(1);
    expect(await turn.locator('[data-message-author-role], [data-message-id]').count()).toBe(0);
    expect(await turn.evaluate((s) => s.hasAttribute('data-message-author-role') || s.hasAttribute('data-message-id'))).toBe(false);
    const container = turn.locator('div[id^="image-"]');
    expect(await container.getAttribute('class')).toMatch(/(^| )group\/imagegen-image( |$)/);
    expect(await container.getAttribute('id')).toMatch(/^image-[0-9a-f-]{36}$/);
    const images = await container.locator('img').evaluateAll((imgs) =>
      (imgs as HTMLImageElement[]).map((i) => ({ src: i.getAttribute('src'), alt: i.alt, hidden: i.getAttribute('aria-hidden'), w: i.naturalWidth, h: i.naturalHeight, done: i.complete })),
    );
    expect(images).toHaveLength(3);
    expect(images.filter((i) => i.hidden === 'true')).toHaveLength(2);
    expect(new Set(images.map((i) => i.src)).size).toBe(1);
    expect(images[0].src).toMatch(/\/backend-api\/estuary\/content\?id=file_.*&sig=[0-9a-f]{64}&v=0$/);
    for (const i of images) expect(i).toMatchObject({ alt: 'Generated image: a lighthouse at dusk', w: 288, h: 512, done: true });
    expect(await turn.locator('button').allTextContents()).toEqual(['Edit', 'Share']);
    expect(await page.locator('button[aria-label="Download this image"]').count()).toBe(0);
    // The tool stays on; the pill removes it.
    await page.click('button[aria-label="Image, click to remove"]');
    expect(await page.locator('[aria-label="Choose image aspect ratio"]').count()).toBe(0);
    expect(await page.locator('#prompt-textarea p[data-placeholder="Ask anything"]').count()).toBe(1);

    // Enter sends; a bare description is a text reply in an assistant message.
    await fill(page, '#prompt-textarea', 'the keeper climbs the stairs');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('[data-message-author-role="assistant"] p').length === 1);
    expect(await page.locator('[data-message-author-role="assistant"]').textContent()).toMatch(/^That sounds like a vivid scene/);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('without the image tool, the + menu offers no "Create image"', async () => {
    const { url } = await start({ imageTool: false });
    const page = await browser.newPage();
    await page.goto(url);
    await page.click('[data-testid="composer-plus-btn"]');
    const items = await page.locator('[role="menu"] > *').allTextContents();
    expect(items).toContain('Add photos & files');
    expect(items.some((t) => /create image/i.test(t))).toBe(false);
    await page.close();
  });

  it('cosmetic churn: the "later" variants, every contract anchor still there', async () => {
    const { url } = await start({ churn: 'cosmetic', latencyMs: 200, faults: 'busy@2' });
    const page = await browser.newPage();
    await page.goto(url);
    const composer = 'div.ProseMirror[contenteditable="true"]';
    expect(await page.locator(composer).getAttribute('aria-label')).toBe('Chat with ChatGPT');
    await page.click('[data-testid="composer-plus-btn"]');
    const item = page.locator('[role="menu"] button', { hasText: 'Create image' });
    expect(await item.innerText()).toBe('Create image\nVisualize anything');
    await item.click();
    expect(await page.locator('button[aria-label="Remove Create image"]').count()).toBe(1);
    await fill(page, composer, 'a lighthouse');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.body.innerText.includes('Image created'));
    const visible = page.locator('div[data-turn-id-container] section[data-turn="assistant"] div[id^="image-"] img:not([aria-hidden])');
    expect(await visible.getAttribute('alt')).toBe('Generated image: a lighthouse');
    await page.waitForFunction(() => document.getElementById('composer-submit-button')!.getAttribute('data-testid') === 'composer-speech-button');
    await fill(page, composer, 'another');
    await page.keyboard.press('Enter');
    const notice = page.locator('[role="status"][aria-live="polite"]');
    await notice.waitFor();
    expect(await notice.textContent()).toBe('We are experiencing heavy server load. Please try again later.');
    await page.close();
  });

  it('shows unusual activity as an alert toast, and after the account banner works again once reloaded', async () => {
    const { url } = await start({ faults: 'unusual@1,account@2' });
    const page = await browser.newPage();
    await page.goto(url);
    await fill(page, '#prompt-textarea', 'Draw a cat');
    await page.keyboard.press('Enter');
    await page.locator('[role="alert"]', { hasText: 'Unusual activity has been detected from your device. Try again later.' }).waitFor();
    await page.waitForFunction(() => document.getElementById('composer-submit-button')!.getAttribute('data-testid') !== 'stop-button');
    await fill(page, '#prompt-textarea', 'Draw a dog');
    await page.keyboard.press('Enter');
    const banner = page.locator('[role="alert"]', { hasText: "We couldn't load your account." });
    await banner.waitFor();
    expect(await banner.innerText()).toMatch(/We couldn't load your account\.\s*Reload/);
    // Until the reload nothing is sent.
    await fill(page, '#prompt-textarea', 'Draw a bird');
    await page.keyboard.press('Enter');
    await page.waitForTimeout(200);
    expect(site!.stats().prompts).toBe(2);
    await Promise.all([page.waitForEvent('load'), banner.locator('button', { hasText: 'Reload' }).click()]);
    await fill(page, '#prompt-textarea', 'Draw a bird');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.body.innerText.includes('Image created'));
    expect(site!.stats()).toMatchObject({ prompts: 3, images: 1 });
    await page.close();
  });

  it('"Image generation failed" comes with "Try again"', async () => {
    const { url } = await start({ faults: 'error@1' });
    const page = await browser.newPage();
    await page.goto(url);
    await fill(page, '#prompt-textarea', 'Draw a cat');
    await page.keyboard.press('Enter');
    const turn = page.locator('section[data-turn="assistant"]');
    await turn.filter({ hasText: 'Image generation failed' }).waitFor();
    expect(await turn.locator('button').allTextContents()).toEqual(['Try again']);
    expect(await turn.locator('[data-message-author-role]').count()).toBe(0);
    await page.close();
  });

  it('2026-blob: every img src is a blob: URL the page made, the container names the image, no estuary URL in the DOM', async () => {
    const { url } = await start({ dom: '2026-blob', latencyMs: 400 });
    const page = await browser.newPage();
    await page.goto(url);
    await fill(page, '#prompt-textarea', 'Create an image: a lighthouse, 4:3');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /Creating image \d+%/.test(document.body.innerText));
    await page.waitForFunction(() => document.body.innerText.includes('Image created'));
    await page.waitForFunction(() => Array.from(document.images).every((i) => i.complete) && document.images.length >= 4);
    const seen = await page.evaluate(() => ({
      srcs: Array.from(document.images, (i) => i.getAttribute('src') ?? ''),
      html: document.documentElement.outerHTML,
      container: document.querySelector('div[id^="image-"]')!.id,
      visible: Array.from(document.querySelectorAll('div[id^="image-"] img:not([aria-hidden])'), (i) => [(i as HTMLImageElement).naturalWidth, (i as HTMLImageElement).naturalHeight]),
    }));
    expect(seen.srcs.length).toBe(4); // three in the turn, one in the side bar
    for (const src of seen.srcs) expect(src).toMatch(/^blob:http:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]{36}$/);
    expect(seen.html).not.toContain('estuary');
    expect(seen.container).toMatch(/^image-[0-9a-f-]{36}$/);
    expect(seen.visible).toEqual([[512, 384]]);
    expect(site!.stats().downloads).toBe(0);
    // The side bar of a fresh page is fetched by the page too.
    await page.goto(url);
    await page.waitForFunction(() => document.querySelectorAll('#recent-images img').length === 1);
    expect(await page.locator('#recent-images img').getAttribute('src')).toMatch(/^blob:/);
    await page.close();
  });

  it('breaking churn: the page looks logged in but has no composer the contract names', async () => {
    const { url } = await start({ churn: 'breaking' });
    const page = await browser.newPage();
    await page.goto(url);
    for (const selector of ['#prompt-textarea', '[contenteditable]', '.ProseMirror', '[role="textbox"]', 'textarea', 'button[data-testid="login-button"]']) {
      expect(await page.locator(selector).count()).toBe(0);
    }
    expect(await page.locator('#composer-submit-button').count()).toBe(1);
    await page.close();
  });

  it('a new chat shows /c/WEB:<id> until the server answers, then /c/<uuid>', async () => {
    const { url } = await start({ latencyMs: 300, urlDelayMs: 400 });
    const page = await browser.newPage();
    await page.goto(url);
    const paths: string[] = [];
    const timer = setInterval(() => void page.evaluate(() => location.pathname).then((p) => paths.push(p), () => undefined), 30);
    await fill(page, '#prompt-textarea', 'Draw a cat');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/c\/[0-9a-f-]{36}$/);
    clearInterval(timer);
    expect(paths.some((p) => /^\/c\/WEB:[0-9a-f-]+$/.test(p))).toBe(true);
    // Loaded as such, the transient address is an empty chat, not an error.
    const res = await page.goto(new URL('/c/WEB:0f0e0d0c-0000-4000-8000-000000000000', url).href);
    expect(res!.status()).toBe(200);
    expect(await page.locator('#prompt-textarea').count()).toBe(1);
    await page.close();
  });

  it('slow-final: previews stacked under the final image, which fades in once its late bytes load', async () => {
    const { url } = await start({ faults: 'slow-final@1', latencyMs: 200, urlDelayMs: 0 });
    const page = await browser.newPage();
    await page.goto(url);
    await fill(page, '#prompt-textarea', 'Draw a cat');
    await page.keyboard.press('Enter');
    const final = page.locator('[id^="image-"] img.imagegen-slow');
    await final.waitFor({ state: 'attached' });
    expect(await page.locator('[id^="image-"] img.imagegen-under').count()).toBe(3);
    // Right after it loads it is still mostly transparent and blurred: a screenshot now shows a blend.
    await page.waitForFunction(() => (document.querySelector('img.imagegen-slow') as HTMLImageElement | null)?.complete === true);
    expect(Number(await final.evaluate((e) => getComputedStyle(e).opacity))).toBeLessThan(0.5);
    await page.waitForFunction(() => getComputedStyle(document.querySelector('img.imagegen-slow')!).opacity === '1', undefined, { timeout: 5_000 });
    await page.close();
  });

  it('two-images: "Image 1 is better" collapses the answer to the first image shown', async () => {
    const { url } = await start({ faults: 'two-images@1', latencyMs: 200, urlDelayMs: 0 });
    const page = await browser.newPage();
    await page.goto(url);
    await fill(page, '#prompt-textarea', 'Draw a cat');
    await page.keyboard.press('Enter');
    const turn = page.locator('section[data-turn="assistant"]');
    await turn.filter({ hasText: 'Which image do you like more?' }).waitFor();
    expect(await turn.locator('button').allTextContents()).toEqual(expect.arrayContaining(['Image 1 is better', 'Image 2 is better', 'Skip']));
    const first = await turn.locator('[id^="image-"]').first().getAttribute('id');
    expect(await turn.locator('[id^="image-"]').count()).toBe(2);
    await turn.getByRole('button', { name: 'Image 1 is better' }).click();
    await turn.filter({ hasText: 'Image created' }).waitFor();
    expect(await turn.locator('[id^="image-"]').evaluateAll((es) => es.map((e) => e.id))).toEqual([first]);
    await page.close();
  });
});
