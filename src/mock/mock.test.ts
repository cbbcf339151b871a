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

  it('reads stale-id and reload+KIND combinations', () => {
    expect(parseFaultSpec('reload+policy@3, reload+error:0.2,stale-id@1,reload+stale-id@4')).toEqual([
      { kind: 'reload+policy', at: 3 },
      { kind: 'reload+error', probability: 0.2 },
      { kind: 'stale-id', at: 1 },
      { kind: 'reload+stale-id', at: 4 },
    ]);
    const plan = new FaultPlan(parseFaultSpec('reload+policy@2'));
    expect([plan.forPrompt(1), plan.forPrompt(2)]).toEqual([undefined, 'reload+policy']);
  });

  it('refuses combinations other than reload+KIND, naming the item', () => {
    expect(() => parseFaultSpec('error:0.1,policy+error@2')).toThrow(/"policy\+error@2": only reload\+KIND combines/);
    expect(() => parseFaultSpec('reload+reload@1')).toThrow(/"reload\+reload@1": only reload\+KIND combines/);
    expect(() => parseFaultSpec('reload+network:0.1')).toThrow(/"reload\+network:0.1": network ends the send before anything generates/);
    expect(() => parseFaultSpec('reload+login@1')).toThrow(/"reload\+login@1": login ends the send/);
    expect(() => parseFaultSpec('reload+explode@1')).toThrow(/unknown fault kind "explode" in "reload\+explode@1"/);
    expect(() => parseFaultSpec('reload+@1')).toThrow(/"reload\+@1" is not kind:probability or kind@n/);
    expect(() => parseFaultSpec('reload+policy+error@1')).toThrow(/is not kind:probability or kind@n/);
    expect(() => parseFaultSpec('reload+policy@0')).toThrow(/starts at 1/);
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

  async function prompt(url: string, cookie: string, text: string, conversationId?: string) {
    return fetch(new URL('/backend-api/conversation', url), {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: text, conversation_id: conversationId }),
    });
  }

  interface TurnState {
    n: number;
    status: string;
    image?: string;
    message?: string;
    error?: boolean;
    toast?: boolean;
  }
  interface State {
    turns: TurnState[];
    recent: Array<{ fileId: string; alt: string }>;
    signature: string;
    reload: boolean;
  }

  async function sendPrompt(url: string, cookie: string, text: string, conversationId?: string) {
    const res = await prompt(url, cookie, text, conversationId);
    expect(res.status).toBe(200);
    return (await res.json()) as { conversation_id: string; state: State };
  }

  /** The page's long-poll: with `since`, it answers when the state changes (or a reload is due). */
  async function poll(url: string, cookie: string, id: string, since?: string): Promise<State> {
    const query = since === undefined ? '' : `?since=${encodeURIComponent(since)}`;
    const res = await fetch(new URL(`/backend-api/conversation/${id}${query}`, url), { headers: { cookie } });
    expect(res.status).toBe(200);
    return (await res.json()) as State;
  }

  it('serves the page contract, listens on loopback and wants the session cookie for images', async () => {
    site = await startMockSite({ dom: '2024', latencyMs: 0 });
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
    expect((await fetch(new URL(`/c/${id}`, site.url), { headers: { cookie } })).status).toBe(200);
    expect(site.stats()).toMatchObject({ prompts: 1, downloads: 1, conversations: 1 });
  });

  it('holds a login wall until someone logs in', async () => {
    site = await startMockSite({ dom: '2024', latencyMs: 0, faults: 'login@1' });
    const cookie = await session(site.url);
    const sent = await prompt(site.url, cookie, 'anything');
    expect(sent.status).toBe(401);
    expect(await (await fetch(site.url, { headers: { cookie } })).text()).toContain('data-testid="login-button"');
    // The wall's form posts with the account's cookie; the account gets a new one, the old one is dead.
    const login = await fetch(new URL('/__mock/login', site.url), { method: 'POST', redirect: 'manual', headers: { cookie } });
    expect(login.status).toBe(303);
    const renewed = /mock_session=[^;]+/.exec(login.headers.get('set-cookie') ?? '')![0];
    expect(renewed).not.toBe(cookie);
    expect(await (await fetch(site.url, { headers: { cookie: renewed } })).text()).toContain('id="prompt-textarea"');
    expect((await prompt(site.url, cookie, 'old cookie')).status).toBe(401);
    expect(site.stats().faults).toEqual({ login: 1 });
  });

  it('keeps a usage cap on every prompt until it resets, and says when', async () => {
    site = await startMockSite({ dom: '2024', latencyMs: 0, faults: 'quota@1', quotaResetText: '10 hours and 25 minutes' });
    const cookie = await session(site.url);
    for (let i = 0; i < 2; i++) {
      const { state } = (await (await prompt(site.url, cookie, `p${i}`)).json()) as { state: { turns: Array<{ message: string }> } };
      expect(state.turns[0].message).toMatch(/hit the Plus plan limit for image generation.*resets in 10 hours and 2[45] minutes/);
    }
    expect(site.stats().faults).toEqual({ quota: 2 });
  });

  it('answers a network fault with 502', async () => {
    site = await startMockSite({ dom: '2024', latencyMs: 0, faults: 'network@1' });
    const cookie = await session(site.url);
    expect((await prompt(site.url, cookie, 'x')).status).toBe(502);
    expect((await prompt(site.url, cookie, 'x')).status).toBe(200);
    expect(site.stats().prompts).toBe(2);
  });

  it('counts a prompt and starts its clock when it arrives, but answers the send only urlDelayMs later', async () => {
    site = await startMockSite({ dom: '2024', latencyMs: 300 }); // urlDelayMs: the default, 700
    const cookie = await session(site.url);
    let answered = false;
    const sent = prompt(site.url, cookie, 'a gull over the waves').then((res) => {
      answered = true;
      return res;
    });
    // The site has the prompt (counted, its conversation made) while the send is still unanswered.
    let stats = site.stats();
    while (stats.prompts === 0) stats = (await (await fetch(new URL('/__mock/stats', site.url))).json()) as typeof stats;
    expect(answered).toBe(false);
    expect(stats.conversations).toBe(1);
    const res = await sent;
    const answeredAt = Date.now();
    expect(answeredAt - site.stats().lastPromptAt!).toBeGreaterThanOrEqual(700);
    // The generation clock ran from the arrival: the 300 ms image is done by the time of the answer.
    const { state } = (await res.json()) as { state: State };
    expect(state.turns[0].status).toBe('done');
    expect(state.recent).toEqual([{ fileId: state.turns[0].image, alt: 'Generated image: a gull over the waves' }]);
  });

  it('answers at once with urlDelayMs 0, and delays a network fault like any answer', async () => {
    site = await startMockSite({ dom: '2024', latencyMs: 60_000, urlDelayMs: 0, faults: 'network@2' });
    const cookie = await session(site.url);
    const res = await prompt(site.url, cookie, 'x');
    const answeredAt = Date.now();
    // Long before the image (60 s), with room for a busy machine.
    expect(answeredAt - site.stats().lastPromptAt!).toBeLessThan(30_000);
    expect(((await res.json()) as { state: State }).state.turns[0].status).toBe('creating');
    await site.close();

    site = await startMockSite({ dom: '2024', latencyMs: 0, urlDelayMs: 400, faults: 'network@1' });
    const cookie2 = await session(site.url);
    const failed = await prompt(site.url, cookie2, 'x');
    expect(failed.status).toBe(502);
    expect(Date.now() - site.stats().lastPromptAt!).toBeGreaterThanOrEqual(400);
    expect(site.stats()).toMatchObject({ prompts: 1, conversations: 0, faults: { network: 1 } });
  });

  it('lists the latest finished images of every conversation in the state and in the page, escaped', async () => {
    site = await startMockSite({ dom: '2024', latencyMs: 0, urlDelayMs: 0, faults: 'policy@2' });
    const cookie = await session(site.url);
    const first = await sendPrompt(site.url, cookie, 'the first panel');
    await sendPrompt(site.url, cookie, 'refused', first.conversation_id);
    const tricky = `a <b>bold</b> & "quoted" 'keeper' at the lamp, far too long to keep`;
    const images: Array<{ fileId: string; alt: string }> = [{ fileId: first.state.turns[0].image!, alt: 'Generated image: the first panel' }];
    let last = first;
    for (const text of ['p3', 'p4', 'p5', 'p6', 'p7', tricky]) {
      last = await sendPrompt(site.url, cookie, text);
      images.unshift({ fileId: last.state.turns[0].image!, alt: `Generated image: ${text.slice(0, 40)}` });
    }
    const expected = images.slice(0, 6);
    expect(last.state.recent).toEqual(expected);
    expect(expected[0].alt).toBe(`Generated image: a <b>bold</b> & "quoted" 'keeper' at the`);
    // Every conversation's long-poll carries it, the refused turn is not in it, the oldest fell off.
    const other = await poll(site.url, cookie, first.conversation_id);
    expect(other.recent).toEqual(expected);
    expect(other.turns.map((t) => t.status)).toEqual(['done', 'message']);

    for (const path of ['/', `/c/${first.conversation_id}`, '/c/no-such-conversation']) {
      const html = await (await fetch(new URL(path, site.url), { headers: { cookie } })).text();
      const nav = /<nav>[\s\S]*<\/nav>/.exec(html)![0];
      expect(nav).toContain('Recent images');
      const thumbnails = [...nav.matchAll(/<img src="([^"]*)" alt="([^"]*)" width="48" height="48">/g)].map((m) => ({ src: m[1], alt: m[2] }));
      expect(thumbnails.map((t) => t.src)).toEqual(expected.map((e) => `/backend-api/estuary/content?id=${e.fileId}`));
      expect(thumbnails[0].alt).toBe('Generated image: a &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; &#39;keeper&#39; at the');
      expect(nav).not.toContain('<b>');
    }
    expect(site.stats()).toMatchObject({ prompts: 8, images: 7 });
  });

  it('keeps an unfinished image out of the side bar', async () => {
    site = await startMockSite({ dom: '2024', latencyMs: 60_000, urlDelayMs: 0 });
    const cookie = await session(site.url);
    const { state } = await sendPrompt(site.url, cookie, 'slow');
    expect(state.turns[0].status).toBe('creating');
    expect(state.recent).toEqual([]);
    expect(await (await fetch(site.url)).text()).toMatch(/<ul><\/ul>/);
  });

  it('stale-id: the finished turn shows the previous image turn\'s image under its very file id', async () => {
    site = await startMockSite({ dom: '2024', latencyMs: 0, urlDelayMs: 0, faults: 'stale@2,stale-id@3' });
    const cookie = await session(site.url);
    const a = await sendPrompt(site.url, cookie, 'the lighthouse');
    const b = await sendPrompt(site.url, cookie, 'the keeper');
    const c = await sendPrompt(site.url, cookie, 'the storm', b.conversation_id);
    const [idA, idB] = [a, b].map((x) => x.state.turns[0].image!);
    const idC = c.state.turns[1].image!;
    // Plain stale: the previous image's bytes under a new id.
    expect(idB).not.toBe(idA);
    const bytes = async (id: string) =>
      Buffer.from(await (await fetch(new URL(`/backend-api/estuary/content?id=${id}`, site!.url), { headers: { cookie } })).arrayBuffer());
    expect((await bytes(idB)).equals(await bytes(idA))).toBe(true);
    // stale-id: the previous image turn's very file id, so the very same src.
    expect(idC).toBe(idB);
    // The side bar lists a file once, under the newest prompt that showed it.
    expect(c.state.recent).toEqual([
      { fileId: idB, alt: 'Generated image: the storm' },
      { fileId: idA, alt: 'Generated image: the lighthouse' },
    ]);
    expect(site.stats().faults).toEqual({ 'stale-id': 1, stale: 1 });
  });

  it('reload+policy: the reload is served once, mid-generation, and the refusal comes after it', async () => {
    const latencyMs = 1000;
    site = await startMockSite({ dom: '2024', latencyMs, urlDelayMs: 0, faults: 'reload+policy@1' });
    const cookie = await session(site.url);
    const { conversation_id: id, state } = await sendPrompt(site.url, cookie, 'a forbidden picture');
    const arrivedAt = site.stats().lastPromptAt!;
    expect(state.reload).toBe(false);
    expect(state.turns[0].status).toBe('creating');

    const reloading = await poll(site.url, cookie, id, state.signature);
    expect(Date.now() - arrivedAt).toBeGreaterThanOrEqual(latencyMs / 2);
    expect(reloading.reload).toBe(true);
    expect(reloading.turns[0].status).toBe('creating');

    // The reloaded page loads the conversation: no second reload.
    const reloaded = await poll(site.url, cookie, id);
    expect(reloaded.reload).toBe(false);

    const ended = await poll(site.url, cookie, id, reloading.signature);
    expect(Date.now() - arrivedAt).toBeGreaterThanOrEqual(latencyMs);
    expect(ended.reload).toBe(false);
    expect(ended.turns[0]).toMatchObject({ status: 'message', error: false });
    expect(ended.turns[0].message).toMatch(/content policy/);
    expect(site.stats().faults).toEqual({ reload: 1, policy: 1 });
    expect(site.stats().images).toBe(0);
  });

  it('reload+error: after the reload, the error text with its toast', async () => {
    site = await startMockSite({ dom: '2024', latencyMs: 400, urlDelayMs: 0, faults: 'reload+error@1' });
    const cookie = await session(site.url);
    const { conversation_id: id, state } = await sendPrompt(site.url, cookie, 'x');
    const reloading = await poll(site.url, cookie, id, state.signature);
    expect(reloading.reload).toBe(true);
    const ended = await poll(site.url, cookie, id, reloading.signature);
    expect(ended.turns[0]).toMatchObject({ status: 'message', error: true, toast: true });
    expect(ended.turns[0].message).toMatch(/Something went wrong/);
    expect(site.stats().faults).toEqual({ reload: 1, error: 1 });
  });

  describe('accounts: each session cookie is one account with state of its own', () => {
    const cookieOf = (res: Response) => /mock_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
    const page = (path: string, cookie: string) => fetch(new URL(path, site!.url), { headers: { cookie } });
    const image = (id: string, cookie: string) => page(`/backend-api/estuary/content?id=${id}`, cookie);

    it('a conversation, its files and the side bar are only the account\'s that made them', async () => {
      site = await startMockSite({ dom: '2024', latencyMs: 0, urlDelayMs: 0 });
      const [a, b] = [await session(site.url), await session(site.url)];
      expect(a).not.toBe(b);
      const mine = await sendPrompt(site.url, a, 'the lighthouse');
      const id = mine.conversation_id;
      const file = mine.state.turns[0].image!;

      // Loading another account's conversation is what an unknown one gets: the 404 empty chat.
      const foreign = await page(`/c/${id}`, b);
      expect(foreign.status).toBe(404);
      const html = await foreign.text();
      expect(html).toContain('id="prompt-textarea"');
      expect(html).not.toContain(id);
      expect(html).not.toContain(file);
      expect((await page(`/c/${id}`, a)).status).toBe(200);
      expect((await page(`/backend-api/conversation/${id}`, b)).status).toBe(404);

      // A send naming it starts a new conversation of B's own, as an unknown id does; A's is untouched.
      const theirs = await sendPrompt(site.url, b, 'the keeper', id);
      expect(theirs.conversation_id).not.toBe(id);
      expect(theirs.state.turns.map((t) => t.n)).toEqual([1]);
      expect((await poll(site.url, a, id)).turns).toHaveLength(1);

      // Files: only the owner's cookie fetches the bytes; to another account it is an unknown file.
      expect((await image(file, a)).status).toBe(200);
      const refused = await image(file, b);
      expect(refused.status).toBe(404);
      expect(await refused.json()).toEqual({ detail: 'File not found' });

      // The side bar (state, page and the recent list) shows each account its own images only.
      const other = theirs.state.turns[0].image!;
      expect(theirs.state.recent.map((r) => r.fileId)).toEqual([other]);
      expect((await poll(site.url, a, id)).recent.map((r) => r.fileId)).toEqual([file]);
      const recent = async (cookie: string) => ((await (await page('/backend-api/images/recent', cookie)).json()) as State).recent.map((r) => r.fileId);
      expect([await recent(a), await recent(b)]).toEqual([[file], [other]]);
      const nav = /<nav>[\s\S]*<\/nav>/.exec(await (await page('/', b)).text())![0];
      expect(nav).toContain(other);
      expect(nav).not.toContain(file);
      expect(site.stats()).toMatchObject({ prompts: 2, images: 2, conversations: 2, downloads: 1 });
    });

    it('stale-id shows the account\'s own previous image, never another account\'s', async () => {
      site = await startMockSite({ dom: '2024', latencyMs: 0, urlDelayMs: 0, faults: 'stale-id@3' });
      const [a, b] = [await session(site.url), await session(site.url)];
      const first = await sendPrompt(site.url, a, 'A\'s lighthouse');
      await sendPrompt(site.url, b, 'B\'s keeper');
      const stale = await sendPrompt(site.url, a, 'A\'s storm');
      expect(stale.state.turns[0].image).toBe(first.state.turns[0].image);
      expect((await image(stale.state.turns[0].image!, a)).status).toBe(200);
    });

    it('quota@2 caps only the account that sent the 2nd prompt, until its reset; the others carry on', async () => {
      site = await startMockSite({ dom: '2024', latencyMs: 0, urlDelayMs: 0, faults: 'quota@2', quotaResetText: '1 second' });
      const [a, b] = [await session(site.url), await session(site.url)];
      const status = async (cookie: string, text: string) => (await sendPrompt(site!.url, cookie, text)).state.turns[0];
      expect((await status(a, 'p1')).status).toBe('done');
      const capped = await status(b, 'p2');
      expect(capped.message).toMatch(/hit the Plus plan limit for image generation/);
      expect((await status(b, 'p3')).message).toMatch(/plan limit/); // the cap holds for B
      expect((await status(a, 'p4')).status).toBe('done'); // A is not capped
      const cappedAt = site.stats().lastPromptAt!;
      while (Date.now() < cappedAt + 1000) await new Promise((resolve) => setTimeout(resolve, 50)); // B's reset
      expect((await status(b, 'p5')).status).toBe('done');
      expect(site.stats().faults).toEqual({ quota: 2 });
    });

    it('a login wall is the account\'s that met it; logging in keeps the account and everything it had', async () => {
      site = await startMockSite({ dom: '2024', latencyMs: 0, urlDelayMs: 0, faults: 'login@3' });
      const [a, b] = [await session(site.url), await session(site.url)];
      await sendPrompt(site.url, a, 'p1');
      const before = await sendPrompt(site.url, b, 'p2');
      expect((await prompt(site.url, b, 'p3')).status).toBe(401);
      const wall = async (cookie: string) => ((await (await page('/__mock/blocker', cookie)).json()) as { blocker: string | null }).blocker;
      expect([await wall(a), await wall(b)]).toEqual([null, 'login']);
      expect(await (await page('/', b)).text()).toContain('data-testid="login-button"');
      expect(await (await page('/', a)).text()).toContain('id="prompt-textarea"');
      expect((await prompt(site.url, a, 'p4')).status).toBe(200);

      const login = await fetch(new URL('/__mock/login', site.url), { method: 'POST', redirect: 'manual', headers: { cookie: b } });
      expect(login.status).toBe(303);
      const renewed = cookieOf(login);
      expect(await wall(renewed)).toBeNull();
      // The same account: its conversation and its image are still its own.
      expect((await page(`/c/${before.conversation_id}`, renewed)).status).toBe(200);
      expect((await image(before.state.turns[0].image!, renewed)).status).toBe(200);
      expect((await prompt(site.url, renewed, 'p5')).status).toBe(200);
    });

    it('a login posted without a cookie clears the one wall there is, and refuses to guess between two', async () => {
      site = await startMockSite({ dom: '2024', latencyMs: 0, urlDelayMs: 0, faults: 'login@1,challenge@2' });
      const [a, b] = [await session(site.url), await session(site.url)];
      expect((await prompt(site.url, a, 'p1')).status).toBe(401);
      expect((await prompt(site.url, b, 'p2')).status).toBe(401);
      const post = (cookie?: string) =>
        fetch(new URL('/__mock/login', site!.url), { method: 'POST', redirect: 'manual', headers: cookie ? { cookie } : {} });
      const ambiguous = await post();
      expect(ambiguous.status).toBe(409);
      expect(((await ambiguous.json()) as { detail: string }).detail).toMatch(/2 accounts are behind a wall/);
      expect((await post(a)).status).toBe(303);
      expect((await post()).status).toBe(303); // B, the only one left behind a wall
      // B's browser keeps its cookie, which still works.
      expect(await (await page('/', b)).text()).toContain('id="prompt-textarea"');
      expect((await prompt(site.url, b, 'p3')).status).toBe(200);
    });

    it('stats: site-wide fields as before, and each account that sent a prompt, with no cookie in them', async () => {
      site = await startMockSite({ dom: '2024', latencyMs: 0, urlDelayMs: 0 });
      const [a, b, idle] = [await session(site.url), await session(site.url), await session(site.url)];
      await sendPrompt(site.url, b, 'b1');
      await sendPrompt(site.url, a, 'a1');
      await sendPrompt(site.url, b, 'b2');
      await sendPrompt(site.url, b, 'b3');
      // An image counts once its generation ends (a timer, even at latency 0): read the stats once
      // the fourth has, as the page would see it finish; each read is one round trip, no sleep.
      let wire = '';
      let stats: ReturnType<MockSite['stats']>;
      const deadline = Date.now() + 5_000;
      do {
        wire = await (await fetch(new URL('/__mock/stats', site.url))).text();
        stats = JSON.parse(wire) as ReturnType<MockSite['stats']>;
      } while (stats.images < 4 && Date.now() < deadline);
      expect(stats).toMatchObject({ prompts: 4, images: 4, conversations: 4 });
      expect(stats.accounts.map((x) => [x.prompts, x.images])).toEqual([[3, 3], [1, 1]]); // B first, then A; the idle one not at all
      expect(stats.accounts[1].minPromptGapMs).toBeNull();
      expect(stats.accounts[0].minPromptGapMs).toBeGreaterThanOrEqual(stats.minPromptGapMs!);
      expect(site.stats().accounts).toEqual(stats.accounts);
      for (const cookie of [a, b, idle]) expect(wire).not.toContain(cookie.split('=')[1]);
    });
  });
});
