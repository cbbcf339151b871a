// The dashboard server over real HTTP on 127.0.0.1, with real files and real symlinks in a temp
// folder: who it answers (Host), what it accepts (JSON commands, bounded bodies, a capped number of
// event streams) and what it serves (only files whose real path is inside the book folder).
import http from 'node:http';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { chromium } from 'playwright';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findChromium } from '../browser/discover.js';
import type { Job, PromptBook } from '../prompts/types.js';
import { RunEvents } from '../report/events.js';
import { ThumbnailCache } from '../report/thumbnails.js';
import { RunControl } from '../run/run-control.js';
import type { JobStore } from '../store/index.js';
import { NotRejectableError } from '../store/rejection.js';
import type { JobRecord } from '../store/types.js';
import { MAX_STREAMS, startDashboard, type Dashboard } from './server.js';

interface Reply {
  status: number;
  body: Buffer;
}

/** One request on its own connection, Host and all headers as given (fetch would not let us set Host). */
function request(url: URL, opts: { method?: string; headers?: Record<string, string | number>; body?: Buffer | string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    // The server may answer (413) and close before a large body is fully sent: that write error is expected.
    req.on('error', (error) => setTimeout(() => reject(error), 500));
    req.end(opts.body);
  });
}

async function png(file: string, color: string): Promise<Buffer> {
  const bytes = await sharp({ create: { width: 64, height: 48, channels: 3, background: color } }).png().toBuffer();
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
  return bytes;
}

function job(panel: string): Job {
  return { id: `ch1/s1/${panel}`, order: 0, chapter: 'ch1', strip: 's1', panel, prompt: 'x', finalPrompt: 'x', promptHash: 'h', outputPath: `ch1/s1/${panel}.png`, source: { file: 'b.yaml', line: 1 } };
}

let dir: string;
let bookDir: string;
let outside: string;
let dashboard: Dashboard;
let url: URL;
let events: RunEvents;
const records = new Map<string, JobRecord>();
const secret = Buffer.from('outside the book: must never be served');

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dash-'));
  bookDir = path.join(dir, 'out', 'book');
  outside = path.join(dir, 'elsewhere');
  await mkdir(outside, { recursive: true });
  records.clear();
  const jobs = ['p1', 'p2', 'p3', 'p4'].map(job);
  const book = { book: 'book', provider: 'chatgpt', style: 'ink', file: 'b.yaml', jobs } as unknown as PromptBook;
  const store = { get: (id: string) => records.get(id) } as unknown as JobStore;
  const thumbnails = await ThumbnailCache.open(bookDir);
  dashboard = await startDashboard({
    book,
    store,
    events: (events = new RunEvents()),
    control: new RunControl(),
    bookDir,
    thumbnail: async (file) => (await thumbnails.thumbnailFor(file)).file,
    reject: async (job) => {
      throw new NotRejectableError(`${job.id}: its image is not in the book folder any more`);
    },
  });
  url = new URL(dashboard.url);
});

afterEach(async () => {
  await dashboard.close();
  await rm(dir, { recursive: true, force: true });
});

const at = (route: string) => new URL(route, url);
const own = () => ({ host: url.host, origin: `http://${url.host}` });

describe('dashboard: several profiles', () => {
  it('shows each profile with its state, until when and why, and the images it made; each panel names its maker', async () => {
    records.set('ch1/s1/p1', { id: 'ch1/s1/p1', state: 'verified', promptHash: 'h', attempts: 1, profile: 'ben', updatedAt: '' });
    events.emitEvent({ type: 'run-start', book: 'book', total: 4, toRun: 4, skipped: 0, baseUrl: 'http://x/', profile: 'anna', profiles: ['anna', 'ben'], headless: true, concurrency: 1 });
    events.emitEvent({ type: 'job-verified', id: 'ch1/s1/p1', path: 'p1.png', attempt: 1, ms: 1, bytes: 1, done: 1, toRun: 4, profile: 'ben' });
    const until = Date.now() + 3_600_000;
    events.emitEvent({ type: 'pause', until, reason: 'usage cap reached: "<b>limit</b>"', profile: 'anna' });
    const state = JSON.parse((await request(at('./state'))).body.toString());
    expect(state.profiles).toEqual([
      { name: 'anna', state: 'paused', until, reason: 'usage cap reached: "<b>limit</b>"', verified: 0 },
      { name: 'ben', state: 'working', verified: 1 },
    ]);
    expect(state.panels[0].profile).toBe('ben');
    // One profile's cap is not the run's: the run's own chip keeps its state.
    expect(state.profile.state).toBe('starting');
    events.emitEvent({ type: 'profile-state', profile: 'anna', state: 'retired', reason: 'it kept failing' });
    const later = JSON.parse((await request(at('./state'))).body.toString());
    expect(later.profiles[0]).toMatchObject({ name: 'anna', state: 'retired', reason: 'it kept failing' });
    // At the end each profile shows how it ended and what it made, as the summary counted them.
    events.emitEvent({ type: 'run-end', summary: { book: 'book', total: 4, verified: 4, skipped: 0, failed: [], stale: [], notRun: 0, elapsedMs: 1, promptsSent: 5, profiles: [{ name: 'anna', verified: 1, promptsSent: 2, state: 'retired', reason: 'it failed 3 times in a row' }, { name: 'ben', verified: 3, promptsSent: 3, state: 'finished' }] } });
    const end = JSON.parse((await request(at('./state'))).body.toString());
    expect(end.profiles).toEqual([
      { name: 'anna', state: 'retired', reason: 'it failed 3 times in a row', verified: 1 },
      { name: 'ben', state: 'finished', verified: 3 },
    ]);
  });

  it('with one profile, a pause is the run\'s, as before', async () => {
    events.emitEvent({ type: 'run-start', book: 'book', total: 4, toRun: 4, skipped: 0, baseUrl: 'http://x/', profile: 'default', profiles: ['default'], headless: true, concurrency: 1 });
    const until = Date.now() + 60_000;
    events.emitEvent({ type: 'pause', until, reason: 'usage cap reached: "limit"', profile: 'default' });
    const state = JSON.parse((await request(at('./state'))).body.toString());
    expect(state.profile).toEqual({ state: 'quota', until, reason: 'usage cap reached: "limit"' });
  });

  it('draws one chip per profile and each panel\'s maker in the page, hostile names and reasons as text', async () => {
    const hostile = '<img src=x onerror="document.title=\'owned\'">';
    records.set('ch1/s1/p1', { id: 'ch1/s1/p1', state: 'failed', promptHash: 'h', attempts: 1, profile: hostile, failure: { kind: 'policy', message: 'no', final: true }, updatedAt: '' });
    events.emitEvent({ type: 'run-start', book: 'book', total: 4, toRun: 4, skipped: 0, baseUrl: 'http://x/', profile: 'anna', profiles: ['anna', hostile], headless: true, concurrency: 1 });
    events.emitEvent({ type: 'profile-state', profile: 'anna', state: 'retired', reason: `it kept failing ${hostile}` });
    const browser = await chromium.launch({ executablePath: findChromium(), headless: true });
    try {
      const page = await browser.newPage();
      await page.goto(url.href);
      const chips = page.locator('#profiles .profile');
      await expect.poll(() => chips.count()).toBe(2);
      expect(await chips.nth(0).textContent()).toBe(`anna: retired — it kept failing ${hostile} · 0 verified`);
      expect(await chips.nth(1).textContent()).toBe(`${hostile}: working · 0 verified`);
      expect(await page.locator('.panel[data-id="ch1/s1/p1"] .state').textContent()).toBe(`failed (policy) · ${hostile}`);
      // Nothing of it became markup: no image, no handler ran.
      expect(await page.locator('header img, main .panel .state img, #profiles img').count()).toBe(0);
      expect(await page.title()).not.toBe('owned');
    } finally {
      await browser.close();
    }
  });
});

describe('dashboard: who it answers', () => {
  it('serves its page to its own Host names and refuses any other name with a fixed text', async () => {
    expect((await request(at('./'))).status).toBe(200);
    expect((await request(at('./'), { headers: { host: `localhost:${url.port}` } })).status).toBe(200);
    for (const host of [`rebind.example:${url.port}`, 'rebind.example', `127.0.0.1:${Number(url.port) + 1}`]) {
      const reply = await request(at('./'), { headers: { host } });
      expect(reply.status, host).toBe(421);
      expect(reply.body.toString()).toBe('wrong host: use the address the runner printed');
    }
    // A rebinding page also sends a matching Origin; the Host check refuses the command all the same.
    const rebound = await request(at('./pause'), { method: 'POST', headers: { host: `rebind.example:${url.port}`, origin: `http://rebind.example:${url.port}`, 'content-type': 'application/json' }, body: '{}' });
    expect(rebound.status).toBe(421);
  });

  it('takes a command only as JSON: text/plain (a no-preflight cross-site POST) gets 415', async () => {
    const plain = await request(at('./pause'), { method: 'POST', headers: { ...own(), 'content-type': 'text/plain' }, body: '{}' });
    expect(plain.status).toBe(415);
    expect(plain.body.toString()).toBe('commands are JSON (content-type: application/json)');
    const json = await request(at('./pause'), { method: 'POST', headers: { ...own(), 'content-type': 'application/json; charset=utf-8' }, body: '{}' });
    expect(json.status).toBe(200);
    expect(JSON.parse(json.body.toString())).toEqual({ paused: true });
  });

  it(`accepts at most ${MAX_STREAMS} event streams out of 300 and still answers`, async () => {
    const responses: http.IncomingMessage[] = [];
    const statuses = await Promise.all(
      Array.from(
        { length: 300 },
        () =>
          new Promise<number>((resolve, reject) => {
            http
              .get(at('./events'), { agent: false }, (res) => {
                responses.push(res);
                resolve(res.statusCode ?? 0);
              })
              .on('error', reject);
          }),
      ),
    );
    try {
      expect(statuses.filter((s) => s === 200)).toHaveLength(MAX_STREAMS);
      expect(statuses.filter((s) => s === 503)).toHaveLength(300 - MAX_STREAMS);
      const state = await request(at('./state'));
      expect(state.status).toBe(200);
      expect(JSON.parse(state.body.toString()).panels).toHaveLength(4);
    } finally {
      for (const res of responses) res.destroy();
    }
    // A closed stream frees its place.
    await expect.poll(async () => new Promise<number>((resolve) => http.get(at('./events'), { agent: false }, (res) => (resolve(res.statusCode ?? 0), res.destroy())))).toBe(200);
  });

  it('answers a 2 MB command with 413 without reading it, with or without a content-length', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 0x20);
    const declared = await request(at('./pause'), { method: 'POST', headers: { ...own(), 'content-type': 'application/json', 'content-length': big.length }, body: big });
    expect(declared.status).toBe(413);
    expect(declared.body.toString()).toBe('a command is at most 16384 bytes');
    const chunked = await request(at('./pause'), { method: 'POST', headers: { ...own(), 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: big });
    expect(chunked.status).toBe(413);
    expect((await request(at('./state'))).status).toBe(200);
  });

  it('refuses a command from another origin with 403 and closes the connection instead of reading its body', async () => {
    const reply = await request(at('./pause'), { method: 'POST', headers: { host: url.host, origin: 'http://evil.example', 'content-type': 'application/json', 'content-length': 2 * 1024 * 1024 }, body: Buffer.alloc(2 * 1024 * 1024, 0x20) });
    expect(reply.status).toBe(403);
    expect(reply.body.toString()).toBe('commands come from the dashboard page only');
    expect(JSON.parse((await request(at('./state'))).body.toString()).paused).toBe(false);
  });

  it("tells the page why a panel cannot be rejected, in the server's own words, never the request's", async () => {
    records.set('ch1/s1/p1', { id: 'ch1/s1/p1', state: 'verified', promptHash: 'h', attempts: 1, updatedAt: '', path: path.join(bookDir, 'ch1', 's1', 'p1.png') });
    const post = (body: unknown) => request(at('./reject'), { method: 'POST', headers: { ...own(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const missing = await post({ id: 'ch1/s1/p1' });
    expect(missing.status).toBe(409);
    expect(JSON.parse(missing.body.toString())).toEqual({ error: 'ch1/s1/p1: its image is not in the book folder any more' });
    const unknown = await post({ id: '<img src=x onerror=alert(1)>' });
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.body.toString())).toEqual({ error: 'no such panel' });
  });

  it('answers a bad %-escape with 400 and does not repeat the error or the request', async () => {
    for (const route of ['./thumb/%E0%A4%A', './evidence/%E0%A4%A/0']) {
      const reply = await request(at(route));
      expect(reply.status).toBe(400);
      expect(reply.body.toString()).toBe('bad request');
    }
  });
});

describe('dashboard: what it serves', () => {
  it('serves evidence inside the book, never a file outside it through a symlink', async () => {
    const shot = await png(path.join(bookDir, '.evidence', 'ch1', 's1', 'p1.attempt-1.png'), '#336699');
    await writeFile(path.join(outside, 'secret.png'), secret);
    await symlink(path.join(outside, 'secret.png'), path.join(bookDir, '.evidence', 'ch1', 's1', 'p2.attempt-1.png'));
    // A linked folder: the name is inside, the real path is not.
    await symlink(outside, path.join(bookDir, '.evidence', 'linked'));
    const failed = (id: string, file: string): JobRecord => ({ id, state: 'failed', promptHash: 'h', attempts: 1, updatedAt: '', failure: { kind: 'verify', message: 'm', evidence: [file], final: true } });
    records.set('ch1/s1/p1', failed('ch1/s1/p1', path.join(bookDir, '.evidence', 'ch1', 's1', 'p1.attempt-1.png')));
    records.set('ch1/s1/p2', failed('ch1/s1/p2', path.join(bookDir, '.evidence', 'ch1', 's1', 'p2.attempt-1.png')));
    records.set('ch1/s1/p3', failed('ch1/s1/p3', path.join(bookDir, '.evidence', 'linked', 'secret.png')));

    const served = await request(at(`./evidence/${encodeURIComponent('ch1/s1/p1')}/0`));
    expect(served.status).toBe(200);
    expect(served.body.equals(shot)).toBe(true);
    for (const id of ['ch1/s1/p2', 'ch1/s1/p3']) {
      const reply = await request(at(`./evidence/${encodeURIComponent(id)}/0`));
      expect(reply.status, id).toBe(404);
      expect(reply.body.includes(secret), id).toBe(false);
    }
  });

  it('makes and serves a thumbnail of an image inside the book, not of one linked from outside', async () => {
    await png(path.join(bookDir, 'ch1', 's1', 'p1.png'), '#aa3300');
    await png(path.join(outside, 'private.png'), '#00ff00');
    await symlink(path.join(outside, 'private.png'), path.join(bookDir, 'ch1', 's1', 'p2.png'));
    const verified = (id: string, file: string): JobRecord => ({ id, state: 'verified', promptHash: 'h', attempts: 1, updatedAt: '', path: file });
    records.set('ch1/s1/p1', verified('ch1/s1/p1', path.join(bookDir, 'ch1', 's1', 'p1.png')));
    records.set('ch1/s1/p2', verified('ch1/s1/p2', path.join(bookDir, 'ch1', 's1', 'p2.png')));
    // A path outside the book in the record itself (a hand-edited journal) is refused too.
    records.set('ch1/s1/p4', verified('ch1/s1/p4', path.join(outside, 'private.png')));

    const thumb = await request(at(`./thumb/${encodeURIComponent('ch1/s1/p1')}`));
    expect(thumb.status).toBe(200);
    expect((await sharp(thumb.body).metadata()).format).toBe('jpeg');
    for (const id of ['ch1/s1/p2', 'ch1/s1/p4']) {
      const reply = await request(at(`./thumb/${encodeURIComponent(id)}`));
      expect(reply.status, id).toBe(404);
      expect(reply.body.toString(), id).toBe('no such image');
    }
  });

  it('does not serve a thumbnail whose folder was replaced by a link out of the book', async () => {
    await png(path.join(bookDir, 'ch1', 's1', 'p1.png'), '#aa3300');
    await symlink(outside, path.join(bookDir, '.thumbs'));
    records.set('ch1/s1/p1', { id: 'ch1/s1/p1', state: 'verified', promptHash: 'h', attempts: 1, updatedAt: '', path: path.join(bookDir, 'ch1', 's1', 'p1.png') });
    const reply = await request(at(`./thumb/${encodeURIComponent('ch1/s1/p1')}`));
    expect(reply.status).toBe(404);
    expect(reply.body.toString()).toBe('no thumbnail');
    // Nothing was written through the link either.
    expect(await readdir(outside)).toEqual([]);
  });
});
