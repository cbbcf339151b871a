// The fleet's dashboard over real HTTP against a real redis-server (test/support/redis.ts): a book
// enqueued as `enqueue` does, one panel failed and one verified by a BullMQ worker as the fleet's
// link leaves them, and what the page's commands write where the workers read it (src/fleet/keys.ts).
import { createHash } from 'node:crypto';
import http from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { chromium } from 'playwright';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useFleetRedis } from '../../test/support/fleet-seed.js';
import { findChromium } from '../browser/discover.js';
import { enqueueBook } from '../fleet/enqueue.js';
import { FLEET_PREFIX, fleetJobId, fleetKey, queueName, type FleetResult, type ProfileBeat, type Rejection } from '../fleet/keys.js';
import type { FleetJobData } from '../fleet/link.js';
import type { RedisTarget } from '../fleet/redis.js';
import type { Job } from '../prompts/types.js';
import { ThumbnailCache } from '../report/thumbnails.js';
import { FleetSource } from './fleet-source.js';
import { startFleetDashboard } from './fleet-server.js';
import type { Dashboard } from './server.js';

interface Reply {
  status: number;
  body: string;
  raw: Buffer;
}

/** One request on its own connection, Host and Origin as given (fetch would not let us set Host). */
function request(url: URL, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), raw: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

let target: RedisTarget;
let redis: Redis;
let dir: string;
let source: FleetSource;
let dashboard: Dashboard;
let url: URL;
let queue: Queue<FleetJobData>;
let jobs: Job[];
let bookDir: string;
let sha: string;
const BOOK = 'harbour';

useFleetRedis('fleet-dash-', (fleet) => ({ target, redis, dir } = fleet));

const beat = (profile: string, worker: string, extra: Partial<ProfileBeat> = {}): string =>
  JSON.stringify({ profile, worker, host: 'host', pid: 1, seen: Date.now(), state: 'working', doing: [], verified: 0, ...extra } satisfies ProfileBeat);

beforeEach(async () => {
  const file = path.join(dir, 'harbour.yaml');
  await writeFile(file, `book: ${BOOK}\nstyle: "ink wash"\nprompts:\n  - "the harbour in fog"\n  - "a boat at dawn"\n  - "gulls over the pier"\n`);
  await enqueueBook({ file, out: path.join(dir, 'output'), redis, target });
  queue = new Queue<FleetJobData>(queueName(BOOK), { connection: target.connection, prefix: FLEET_PREFIX });
  jobs = (await queue.getWaiting()).map((j) => j.data.job).sort((a, b) => a.order - b.order);
  expect(jobs).toHaveLength(3);

  // The verified image, written by a worker on this machine under the book folder.
  bookDir = path.join(dir, 'out', BOOK);
  const image = path.join(bookDir, jobs[1].outputPath);
  await mkdir(path.dirname(image), { recursive: true });
  const bytes = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#335577' } }).png().toBuffer();
  await writeFile(image, bytes);
  sha = createHash('sha256').update(bytes).digest('hex');

  // As the fleet's link leaves them: the first panel failed for good, the second verified by profile "a".
  const worker = new Worker<FleetJobData>(queueName(BOOK), null, { connection: target.connection, prefix: FLEET_PREFIX, autorun: false });
  try {
    for (const n of [0, 1]) {
      const bull = await worker.getNextJob(`t${n}`, { block: false });
      expect(bull?.id).toBe(fleetJobId(jobs[n]));
      if (n === 0) await bull!.moveToFailed(new Error('policy: the page refused the prompt'), `t${n}`, false);
      else {
        const result: FleetResult = { jobId: bull!.id!, panel: jobs[1].id, promptHash: jobs[1].promptHash, file: image, outputPath: jobs[1].outputPath, sha256: sha, sidecar: `${image}.json`, host: hostname(), worker: 'hostA#11', profile: 'a', verifiedAt: Date.now() };
        await redis.hset(fleetKey(BOOK, 'results'), bull!.id!, JSON.stringify(result));
        await bull!.moveToCompleted(result, `t${n}`, false);
      }
    }
  } finally {
    await worker.close();
  }
  await redis.hset(fleetKey(BOOK, 'profiles'), 'a', beat('a', 'hostA#11'), 'b', beat('b', 'hostB#22'));

  source = new FleetSource({ redis, target, slug: BOOK, bookDir });
  const thumbnails = await ThumbnailCache.open(bookDir);
  dashboard = await startFleetDashboard({ source, pollMs: 100, bookDir, thumbnail: async (png, sha256) => (await thumbnails.thumbnailFor(png, { sha256 })).file });
  url = new URL(dashboard.url);
});

afterEach(async () => {
  await dashboard?.close();
  await source?.close();
  await queue?.close();
});

const at = (route: string) => new URL(route, url);
const own = () => ({ host: url.host, origin: `http://${url.host}`, 'content-type': 'application/json' });
const post = (route: string, body: unknown = {}, headers: Record<string, string> = own()) => request(at(route), { method: 'POST', headers, body: JSON.stringify(body) });
const pauseField = () => redis.hget(fleetKey(BOOK, 'control'), 'pause');
const state = async () => JSON.parse((await request(at('./state'))).body);

describe('fleet dashboard', () => {
  it("shows every panel's state with the profile and worker that has it, and each profile's worker", async () => {
    expect((await state()).panels[2]).toMatchObject({ state: 'pending' });
    // The third panel started on profile b (its pin, as the link writes it before the prompt goes).
    await redis.hset(fleetKey(BOOK, 'pins'), fleetJobId(jobs[2]), JSON.stringify({ profile: 'b', worker: 'hostB#22', at: Date.now() }));
    const s = await state();
    expect(s.book).toBe(BOOK);
    expect(s.panels.map((p: { id: string; state: string }) => [p.id, p.state])).toEqual([
      [jobs[0].id, 'failed'],
      [jobs[1].id, 'verified'],
      [jobs[2].id, 'in flight'],
    ]);
    expect(s.panels[2]).toMatchObject({ profile: 'b', worker: 'hostB#22' });
    expect(s.panels[0]).toMatchObject({ kind: 'policy', message: 'the page refused the prompt' });
    expect(s.panels[1]).toMatchObject({ profile: 'a', worker: 'hostA#11' });
    expect(s.profiles).toEqual([
      expect.objectContaining({ name: 'a', worker: 'hostA#11', state: 'working', verified: 1, paused: false }),
      expect.objectContaining({ name: 'b', worker: 'hostB#22', state: 'working', verified: 0, paused: false }),
    ]);
    expect(s.progress).toEqual({ verified: 1, failed: 1, total: 3, inFlight: [jobs[2].id] });
    expect(s.profile).toMatchObject({ state: 'working' });
  });

  it('shows the thumbnail of an image a worker on this machine wrote under the book folder, and no other', async () => {
    const s = await state();
    expect(s.panels[1]).toMatchObject({ thumb: true, version: sha.slice(0, 16) });
    const thumb = await request(at(`./thumb/${encodeURIComponent(jobs[1].id)}`));
    expect(thumb.status).toBe(200);
    expect(await sharp(thumb.raw).metadata()).toMatchObject({ format: 'jpeg', width: 64, height: 48 });
    expect((await request(at(`./thumb/${encodeURIComponent(jobs[0].id)}`))).status).toBe(404);
    // An image another host made, or one outside the book folder, is named, never read.
    const jobId = fleetJobId(jobs[1]);
    const result = JSON.parse((await redis.hget(fleetKey(BOOK, 'results'), jobId))!) as FleetResult;
    for (const other of [{ ...result, host: 'elsewhere' }, { ...result, file: path.join(dir, 'secret.png') }]) {
      await redis.hset(fleetKey(BOOK, 'results'), jobId, JSON.stringify(other));
      expect((await state()).panels[1].thumb).toBeUndefined();
      expect((await request(at(`./thumb/${encodeURIComponent(jobs[1].id)}`))).status).toBe(404);
    }
  });

  it('pauses all, or one profile at a time, in the control hash the workers read', async () => {
    expect((await post('pause')).status).toBe(200);
    expect(await pauseField()).toBe('all');
    expect((await state()).paused).toBe(true);
    // Resuming one profile while all are paused leaves the others paused by name.
    expect((await post('resume', { profile: 'a' })).status).toBe(200);
    expect(JSON.parse((await pauseField())!)).toEqual(['b']);
    expect((await post('resume')).status).toBe(200);
    expect(await pauseField()).toBeNull();

    await post('pause', { profile: 'a' });
    expect(await pauseField()).toBe('["a"]');
    await post('pause', { profile: 'b' });
    await post('pause', { profile: 'a' });
    expect(JSON.parse((await pauseField())!)).toEqual(['a', 'b']);
    const s = await state();
    expect(s.paused).toBe(false);
    expect(s.profiles.map((p: { paused: boolean; state: string }) => [p.paused, p.state])).toEqual([
      [true, 'paused'],
      [true, 'paused'],
    ]);
    await post('resume', { profile: 'a' });
    expect(await pauseField()).toBe('["b"]');
    await post('resume', { profile: 'b' });
    expect(await pauseField()).toBeNull();

    const bad = await post('pause', { profile: '../x' });
    expect(bad.status).toBe(400);
    expect(await pauseField()).toBeNull();
  });

  it('retry moves a failed panel back to the waiting jobs; a panel that has not failed is refused', async () => {
    const res = await post('retry', { id: jobs[0].id });
    expect(res.status, res.body).toBe(200);
    expect(await (await queue.getJob(fleetJobId(jobs[0])))!.getState()).toBe('waiting');
    expect((await state()).panels[0].state).toBe('pending');

    const refused = await post('retry', { id: jobs[2].id });
    expect(refused.status).toBe(409);
    expect(JSON.parse(refused.body).error).toBe(`${jobs[2].id} has not failed`);
    expect((await post('retry', { id: 'nope' })).status).toBe(400);
  });

  it('reject writes the rejection, removes the result and adds the job again as waiting, with the same id and data', async () => {
    const jobId = fleetJobId(jobs[1]);
    const before = await queue.getJob(jobId);
    const res = await post('reject', { id: jobs[1].id, reason: 'too dark' });
    expect(res.status, res.body).toBe(200);
    const rejection = JSON.parse((await redis.hget(fleetKey(BOOK, 'rejects'), jobId))!) as Rejection;
    expect(rejection).toMatchObject({ jobId, panel: jobs[1].id, sha256: sha, reason: 'too dark' });
    expect(Number.isFinite(rejection.at)).toBe(true);
    expect(await redis.hexists(fleetKey(BOOK, 'results'), jobId)).toBe(0);
    const again = (await queue.getJob(jobId))!;
    expect(await again.getState()).toBe('waiting');
    expect(again.data).toEqual(before!.data);
    expect(again.opts.attempts).toBe(1);
    const s = await state();
    expect(s.panels[1]).toMatchObject({ state: 'rejected', message: 'rejected: too dark' });

    // Not verified (any more): refused, nothing written.
    const twice = await post('reject', { id: jobs[1].id, reason: 'again' });
    expect(twice.status).toBe(409);
    expect(JSON.parse((await redis.hget(fleetKey(BOOK, 'rejects'), jobId))!).reason).toBe('too dark');
  });

  it('refuses a request without the token, from a foreign Host or Origin, or not JSON, as the local dashboard does', async () => {
    const origin = url.origin;
    const bare = await request(new URL('/state', origin));
    expect([bare.status, bare.body]).toEqual([404, 'not found']);
    expect((await request(new URL(`/${'x'.repeat(32)}/state`, origin))).status).toBe(404);
    expect((await request(new URL('/pause', origin), { method: 'POST', headers: own(), body: '{}' })).status).toBe(404);
    // DNS rebinding: a page on another name resolved to 127.0.0.1 sends its own Host (and a matching Origin).
    const rebound = await post('pause', {}, { host: 'evil.example', origin: 'http://evil.example', 'content-type': 'application/json' });
    expect(rebound.status).toBe(421);
    expect((await request(at('./state'), { headers: { host: `evil.example:${url.port}` } })).status).toBe(421);
    const foreign = await post('pause', {}, { ...own(), origin: 'http://evil.example' });
    expect([foreign.status, foreign.body]).toEqual([403, 'commands come from the dashboard page only']);
    expect((await post('pause', {}, { ...own(), 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post('reject', { id: jobs[1].id }, { ...own(), origin: 'null' })).status).toBe(403);
    // Nothing reached Redis.
    expect(await pauseField()).toBeNull();
    expect(await redis.hexists(fleetKey(BOOK, 'results'), fleetJobId(jobs[1]))).toBe(1);
  });

  it('draws each panel with its profile and worker in Chromium, and pauses one profile from its chip', async () => {
    const browser = await chromium.launch({ executablePath: findChromium(), headless: true });
    try {
      const page = await browser.newPage();
      await page.goto(url.href);
      await expect.poll(() => page.locator('.panel').count()).toBe(3);
      expect(await page.locator(`.panel[data-id="${jobs[1].id}"] .who`).textContent()).toBe('a on hostA#11');
      expect(await page.locator(`.panel[data-id="${jobs[0].id}"]`).getAttribute('data-state')).toBe('failed');
      const chip = page.locator('#profiles .profile[data-profile="b"]');
      expect(await chip.textContent()).toBe('b (hostB#22): working · 0 verifiedPause');
      await chip.locator('button[data-action="pause-profile"]').click();
      await expect.poll(pauseField).toBe('["b"]');
      await expect.poll(() => chip.getAttribute('data-state')).toBe('paused');
      // A worker's beat shows up at the next poll, without a reload.
      await redis.hset(fleetKey(BOOK, 'profiles'), 'c', beat('c', 'hostC#33'));
      await expect.poll(() => page.locator('#profiles .profile[data-profile="c"]').count()).toBe(1);
    } finally {
      await browser.close();
    }
  });
});
