import { afterEach, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { FaultPlan, parseDuration, parseFaultSpec } from './faults.js';
import { renderPanelPng } from './render.js';
import { startMockSite, type MockSite } from './server.js';

describe('fault spec', () => {
  it('reads probabilities and n-th prompts', () => {
    expect(parseFaultSpec('error:0.25, quota@3,swap:1')).toEqual([
      { kind: 'error', probability: 0.25 },
      { kind: 'quota', at: 3 },
      { kind: 'swap', probability: 1 },
    ]);
    expect(parseFaultSpec(undefined)).toEqual([]);
  });

  it('names the bad item', () => {
    expect(() => parseFaultSpec('error:0.1,explode@2')).toThrow(/unknown fault kind "explode" in "explode@2"/);
    expect(() => parseFaultSpec('error:1.5')).toThrow(/"error:1.5": the probability must be between 0 and 1/);
    expect(() => parseFaultSpec('error')).toThrow(/"error" is not kind:probability or kind@n/);
    expect(() => parseFaultSpec('error@0')).toThrow(/starts at 1/);
  });

  it('gives one fault per prompt, @n first, and the same sequence for the same seed', () => {
    const rules = parseFaultSpec('error:0.3,network:0.3,policy@4');
    const run = (seed: number) => {
      const plan = new FaultPlan(rules, seed);
      return Array.from({ length: 200 }, (_, i) => plan.forPrompt(i + 1));
    };
    const a = run(7);
    expect(run(7)).toEqual(a);
    expect(run(8)).not.toEqual(a);
    expect(a[3]).toBe('policy');
    const errors = a.filter((k) => k === 'error').length;
    expect(errors).toBeGreaterThan(35);
    expect(errors).toBeLessThan(85);
    expect(a.filter((k) => k === undefined).length).toBeGreaterThan(50);
  });

  it('reads reset durations', () => {
    expect(parseDuration('10 hours and 25 minutes')).toBe((10 * 60 + 25) * 60_000);
    expect(parseDuration('5 seconds')).toBe(5000);
    expect(() => parseDuration('soon')).toThrow(/names no duration/);
  });
});

describe('panel renderer', () => {
  it('is deterministic per prompt and different between prompts', async () => {
    const a1 = await renderPanelPng('the lighthouse in the storm', 256);
    const a2 = await renderPanelPng('the lighthouse in the storm', 256);
    const b = await renderPanelPng('the keeper climbs the stairs', 256);
    expect(a1.equals(a2)).toBe(true);
    expect(a1.equals(b)).toBe(false);
    const small = async (png: Buffer) => sharp(png).greyscale().resize(16, 16, { fit: 'fill' }).raw().toBuffer();
    const [sa, sb] = [await small(a1), await small(b)];
    const mean = sa.reduce((sum, v, i) => sum + Math.abs(v - sb[i]), 0) / sa.length;
    expect(mean).toBeGreaterThan(20); // visibly different even as a 16×16 thumbnail
    const meta = await sharp(a1).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 256, 256]);
  });

  it('renders the partial at half size and the blank as one colour', async () => {
    const partial = await sharp(await renderPanelPng('x', 256, 'partial')).metadata();
    expect(partial.width).toBe(128);
    const blank = await sharp(await renderPanelPng('x', 64, 'blank')).stats();
    expect(blank.channels[0].stdev).toBe(0);
  });
});

describe('mock site', () => {
  let site: MockSite | undefined;
  afterEach(async () => {
    await site?.close();
    site = undefined;
  });

  async function session(url: string): Promise<string> {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    return /mock_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
  }

  async function prompt(url: string, cookie: string, text: string) {
    return fetch(new URL('/backend-api/conversation', url), {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: text }),
    });
  }

  it('serves the page contract, listens on loopback and wants the session cookie for images', async () => {
    site = await startMockSite({ latencyMs: 0 });
    expect(new URL(site.url).hostname).toBe('127.0.0.1');
    const page = await (await fetch(site.url)).text();
    for (const part of ['id="prompt-textarea"', 'class="ProseMirror"', 'contenteditable="true"', 'aria-label="Message ChatGPT"', 'data-testid="create-new-chat-button"']) {
      expect(page).toContain(part);
    }
    const cookie = await session(site.url);
    const sent = await prompt(site.url, cookie, 'a gull over the waves');
    const { conversation_id: id, state } = (await sent.json()) as { conversation_id: string; state: { turns: Array<{ status: string; image: string }> } };
    expect(state.turns[0].status).toBe('done');
    const image = new URL(`/backend-api/estuary/content?id=${state.turns[0].image}`, site.url);
    expect((await fetch(image)).status).toBe(401);
    const bytes = Buffer.from(await (await fetch(image, { headers: { cookie } })).arrayBuffer());
    expect((await sharp(bytes).metadata()).width).toBe(512);
    expect((await fetch(new URL(`/c/${id}`, site.url))).status).toBe(200);
    expect(site.stats()).toMatchObject({ prompts: 1, downloads: 1, conversations: 1 });
  });

  it('holds a login wall until someone logs in', async () => {
    site = await startMockSite({ latencyMs: 0, faults: 'login@1' });
    const cookie = await session(site.url);
    const sent = await prompt(site.url, cookie, 'anything');
    expect(sent.status).toBe(401);
    expect(await (await fetch(site.url)).text()).toContain('data-testid="login-button"');
    const login = await fetch(new URL('/__mock/login', site.url), { method: 'POST', redirect: 'manual' });
    expect(login.status).toBe(303);
    expect(await (await fetch(site.url)).text()).toContain('id="prompt-textarea"');
    expect(site.stats().faults).toEqual({ login: 1 });
  });

  it('keeps a usage cap on every prompt until it resets, and says when', async () => {
    site = await startMockSite({ latencyMs: 0, faults: 'quota@1', quotaResetText: '10 hours and 25 minutes' });
    const cookie = await session(site.url);
    for (let i = 0; i < 2; i++) {
      const { state } = (await (await prompt(site.url, cookie, `p${i}`)).json()) as { state: { turns: Array<{ message: string }> } };
      expect(state.turns[0].message).toMatch(/hit the Plus plan limit for image generation.*resets in 10 hours and 2[45] minutes/);
    }
    expect(site.stats().faults).toEqual({ quota: 2 });
  });

  it('answers a network fault with 502', async () => {
    site = await startMockSite({ latencyMs: 0, faults: 'network@1' });
    const cookie = await session(site.url);
    expect((await prompt(site.url, cookie, 'x')).status).toBe(502);
    expect((await prompt(site.url, cookie, 'x')).status).toBe(200);
    expect(site.stats().prompts).toBe(2);
  });
});
