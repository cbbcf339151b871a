// `report <file> --redis URL`: the contact sheet of a fleet's book, from a real redis-server
// (test/support/redis.ts) whose keys are written as the workers write them. Each panel says which
// worker and profile made it; an image this machine can read gets its thumbnail, one it cannot is
// named by host and path.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { RedisServer } from '../../test/support/redis.js';
import { enqueueFleetBook, failNextJob, resultOf, useFleetRedis, writeBeat, writePin, writeResult } from '../../test/support/fleet-seed.js';
import { runReport } from '../cli/report.js';
import type { RedisTarget } from '../fleet/redis.js';
import { renderPanelPng } from '../mock/render.js';
import { escapeHtml } from './contact-sheet.js';

let server: RedisServer;
let target: RedisTarget;
let redis: Redis;
let dir: string;

useFleetRedis('fleet-sheet-', (fleet) => ({ server, target, redis, dir } = fleet));

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The `<figure>` of one take in the page. */
function figureOf(html: string, id: string): string {
  const start = html.indexOf(`data-id="${escapeHtml(id)}"`);
  expect(start, `no figure for ${id}`).toBeGreaterThan(-1);
  return html.slice(start, html.indexOf('</figure>', start));
}

describe('report --redis', () => {
  it('captions every panel with the worker and profile that made it, and shows or locates its image', async () => {
    const { file, jobs } = await enqueueFleetBook(redis, target, dir, 'harbour', 5);
    const out = path.join(dir, 'here');
    // [0]: failed for good on the fleet.
    await failNextJob(target, 'harbour', 'policy: the page refused to draw this');
    // [1]: made by a on alpha, its file on a mount this machine shares (the worker's absolute path).
    const shared = path.join(dir, 'mnt', 'output', 'harbour', jobs[1].outputPath);
    const png1 = await renderPanelPng('a boat at dawn', 256);
    await mkdir(path.dirname(shared), { recursive: true });
    await writeFile(shared, png1);
    await writeResult(redis, 'harbour', resultOf(jobs[1], { profile: 'a', worker: 'alpha#11', file: shared, sha256: sha256(png1) }));
    // [2]: made by b on beta, its file only on beta.
    await writeResult(redis, 'harbour', resultOf(jobs[2], { profile: 'b', worker: 'beta#22', file: `/srv/beta/output/harbour/${jobs[2].outputPath}` }));
    // [3]: made by b on beta at a path this machine lacks, but the same bytes were copied under this --out.
    const png3 = await renderPanelPng('gulls over the pier', 256);
    const copied = path.join(out, 'harbour', jobs[3].outputPath);
    await mkdir(path.dirname(copied), { recursive: true });
    await writeFile(copied, png3);
    await writeResult(redis, 'harbour', resultOf(jobs[3], { profile: 'b', worker: 'beta#22', file: `/srv/beta/output/harbour/${jobs[3].outputPath}`, sha256: sha256(png3) }));
    // [4]: started on a, not finished.
    await writePin(redis, 'harbour', jobs[4], { profile: 'a', worker: 'alpha#11', at: Date.now() });
    await writeBeat(redis, 'harbour', { profile: 'a', worker: 'alpha#11', doing: [jobs[4].id] });

    const printed: string[] = [];
    expect(await runReport({ file, out, checkpointsDir: path.join(dir, 'no-checkpoints'), redis: server.url }, (l) => printed.push(l) > 0)).toBe(0);
    const page = path.join(out, 'harbour', 'contact-sheet.html');
    expect(printed).toEqual([page]);
    const html = await readFile(page, 'utf8');

    const failed = figureOf(html, jobs[0].id);
    expect(failed).toContain('data-status="failed"');
    expect(failed).toContain('<b class="kind">policy</b>');
    expect(failed).toContain('the page refused to draw this');

    const shown = figureOf(html, jobs[1].id);
    expect(shown).toContain('data-status="verified"');
    expect(shown).toContain('<p class="made-by">made by profile a on alpha#11</p>');
    expect(shown).toMatch(/<img src="\.thumbs\/[^"]+"/);
    expect(shown).toContain(`href="../../mnt/output/harbour/${jobs[1].outputPath}"`);

    const remote = figureOf(html, jobs[2].id);
    expect(remote).toContain('data-status="verified"');
    expect(remote).toContain('<p class="made-by">made by profile b on beta#22</p>');
    expect(remote).not.toContain('<img');
    expect(remote).toContain(`on beta at /srv/beta/output/harbour/${jobs[2].outputPath}`);

    const copy = figureOf(html, jobs[3].id);
    expect(copy).toContain('<p class="made-by">made by profile b on beta#22</p>');
    expect(copy).toMatch(/<img src="\.thumbs\/[^"]+"/);
    expect(copy).toContain(`href="${jobs[3].outputPath}"`);

    const running = figureOf(html, jobs[4].id);
    expect(running).toContain('data-status="running"');
    expect(running).toContain('<p class="made-by">being made by profile a on alpha#11</p>');

    // Three verified (two shown, one elsewhere), one failed, one in progress.
    expect(html).toMatch(/<span class="n">3<\/span> verified/);
    expect(existsSync(path.join(out, 'harbour', '.thumbs'))).toBe(true);
  });

  it('does not take another image under --out for the fleet\'s, and marks a stale one', async () => {
    const { file, jobs } = await enqueueFleetBook(redis, target, dir, 'harbour', 2);
    const out = path.join(dir, 'here');
    // A local image at the panel's path, but not the bytes the fleet verified.
    const local = path.join(out, 'harbour', jobs[0].outputPath);
    await mkdir(path.dirname(local), { recursive: true });
    await writeFile(local, await renderPanelPng('something else', 128));
    await writeResult(redis, 'harbour', resultOf(jobs[0], { profile: 'a', worker: 'alpha#11', file: `/srv/alpha/${jobs[0].outputPath}`, sha256: 'ef'.repeat(32) }));
    // Only an older prompt's image for [1].
    await writeResult(redis, 'harbour', resultOf(jobs[1], { profile: 'b', worker: 'beta#22', promptHash: '0'.repeat(64) }));
    expect(await runReport({ file, out, checkpointsDir: path.join(dir, 'none'), redis: server.url }, () => true)).toBe(0);
    const html = await readFile(path.join(out, 'harbour', 'contact-sheet.html'), 'utf8');
    const first = figureOf(html, jobs[0].id);
    expect(first).not.toContain('<img');
    expect(first).toContain(`on alpha at /srv/alpha/${jobs[0].outputPath}`);
    const stale = figureOf(html, jobs[1].id);
    expect(stale).toContain('prompt changed');
    expect(stale).toContain('made by profile b on beta#22');
  });

  it('never pulls another file of this machine into the report on a forged result (wrong bytes, or a path that climbs out)', async () => {
    const { file, jobs } = await enqueueFleetBook(redis, target, dir, 'harbour', 2);
    const out = path.join(dir, 'here');
    // A private image elsewhere on this machine, named by a result whose sha256 is not its own.
    const secret = path.join(dir, 'private', 'holiday.png');
    await mkdir(path.dirname(secret), { recursive: true });
    await writeFile(secret, await renderPanelPng('a private photo', 128));
    await writeResult(redis, 'harbour', resultOf(jobs[0], { profile: 'a', worker: 'alpha#11', file: secret, sha256: 'ab'.repeat(32) }));
    // A result whose output path climbs out of the book folder to that image.
    const bytes = await readFile(secret);
    await writeResult(redis, 'harbour', { ...resultOf(jobs[1], { profile: 'a', worker: 'alpha#11', file: '/srv/x.png', sha256: sha256(bytes) }), outputPath: '../../private/holiday.png' });
    expect(await runReport({ file, out, checkpointsDir: path.join(dir, 'none'), redis: server.url }, () => true)).toBe(0);
    const html = await readFile(path.join(out, 'harbour', 'contact-sheet.html'), 'utf8');
    for (const job of jobs) expect(figureOf(html, job.id)).not.toContain('<img');
    expect(html).not.toContain('private/holiday.png"');
  });

  it('says the book is not enqueued, naming --redis', async () => {
    const file = path.join(dir, 'lone.yaml');
    await writeFile(file, 'book: lone\nprompts:\n  - "a lighthouse"\n');
    await expect(runReport({ file, out: path.join(dir, 'o'), checkpointsDir: dir, redis: server.url }, () => true)).rejects.toThrow(
      `--redis: book "lone" is not enqueued on ${server.url}`,
    );
  });
});
