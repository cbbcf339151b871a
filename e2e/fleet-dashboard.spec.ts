// The fleet's dashboard (issue 17), opened in Chromium while two worker processes of the real CLI
// (profiles a and b, each its own Chromium) make a book enqueued in a real redis-server: every panel
// shows the profile and worker that made it (and its thumbnail: the workers are on this machine),
// each profile its worker; Pause writes the pause the workers read; a failed panel retried and a
// panel rejected from the page are made again by a worker started afterwards (the one whose
// journal has the failure).
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, expect, test } from '@playwright/test';
import { findChromium } from '../src/browser/discover.js';
import { runCli, startMockProcess, workDir } from './cli.js';
import { openJobStore } from '../src/store/index.js';
import { startRedis } from '../test/support/redis.js';

const FAST = ['--headless', '--json', '--min-gap', '0', '--jitter', '0', '--concurrency', '1'];

/** The profile whose worker journal (checkpoints/fleet-<profile>) has `id` failed. */
async function profileThatFailed(cwd: string, id: string): Promise<string> {
  for (const profile of ['a', 'b']) {
    const store = await openJobStore(path.join(cwd, 'checkpoints', `fleet-${profile}`, 'quay'));
    try {
      if (store.get(id)?.state === 'failed') return profile;
    } finally {
      await store.close();
    }
  }
  throw new Error(`no worker's journal has ${id} failed`);
}

function redisCli(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(port), '--raw', ...args], { encoding: 'utf8' }).trim();
}

test("the fleet's dashboard shows who made each panel, pauses the fleet, and a retried and a rejected panel are made again", async () => {
  test.setTimeout(240_000);
  const cwd = await workDir();
  const redis = await startRedis();
  // The site's third prompt is refused (a policy failure, final at once): one panel fails in the first round.
  const mock = await startMockProcess(['--mock-latency-ms', '800', '--mock-faults', 'policy@3']);
  const browser = await chromium.launch({ executablePath: findChromium() });
  const file = path.join(cwd, 'quay.yaml');
  await writeFile(file, `book: quay\nstyle: "ink wash"\nprompts:\n${Array.from({ length: 6 }, (_, i) => `  - "the quay at night, scene ${i + 1}"`).join('\n')}\n`);
  let dashboard: ReturnType<typeof runCli> | undefined;
  try {
    expect((await runCli(['enqueue', file, '--redis', redis.url], cwd)).code).toBe(0);
    let announced: (url: string) => void = () => undefined;
    const gotUrl = new Promise<string>((resolve) => (announced = resolve));
    dashboard = runCli(['dashboard', file, '--redis', redis.url, '--out', 'out'], cwd, {
      onStdout: (chunk) => {
        const match = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/\S+\/)/.exec(chunk);
        if (match) announced(match[1]);
      },
    });
    const running = dashboard;
    const url = await Promise.race([gotUrl, running.then((r) => Promise.reject(new Error(`the dashboard ended before printing its URL: ${r.stderr}`)))]);
    expect((await fetch(`${new URL(url).origin}/state`)).status).toBe(404);

    const page = await browser.newPage();
    await page.goto(url);
    await expect(page.locator('.panel')).toHaveCount(6);
    await expect(page.locator('#profile')).toHaveText(/^no workers/);

    const worker = (profile: string) => runCli(['worker', '--redis', redis.url, '--profile', profile, '--out', 'out', '--base-url', mock.url, ...FAST], cwd);
    const [a, b] = await Promise.all([worker('a'), worker('b')]);
    // A worker whose panel failed for good ends as a run with a failed panel does: exit 1.
    expect([a.code, b.code].sort(), a.stderr + b.stderr).toEqual([0, 1]);

    // Every panel but the refused one verified, each naming the profile and worker whose result the fleet kept.
    await expect(page.locator('.panel[data-state="verified"]')).toHaveCount(5, { timeout: 10_000 });
    const failed = page.locator('.panel[data-state="failed"]');
    await expect(failed).toHaveCount(1);
    await expect(failed.locator('.state')).toHaveText(/^failed \(policy\)/);
    const failedId = (await failed.getAttribute('data-id'))!;
    const results = redisCli(redis.port, 'HVALS', 'semantest:fleet:quay:results')
      .split('\n')
      .map((line) => JSON.parse(line) as { panel: string; profile: string; worker: string });
    expect(results).toHaveLength(5);
    for (const r of results) await expect(page.locator(`.panel[data-id="${r.panel}"] .who`)).toHaveText(`${r.profile} on ${r.worker}`);
    expect(new Set(results.map((r) => r.profile))).toEqual(new Set(['a', 'b']));
    // The workers are on this machine, under the dashboard's --out: each image shows as a thumbnail.
    await expect(page.locator('img.thumb')).toHaveCount(5);
    await expect.poll(() => page.locator('img.thumb').first().evaluate((img: HTMLImageElement) => (img.complete ? img.naturalWidth : 0))).toBeGreaterThan(0);
    // Each profile's chip names its worker.
    for (const r of results) await expect(page.locator(`#profiles .profile[data-profile="${r.profile}"]`)).toContainText(`${r.profile} (${r.worker})`);

    // Pause writes what the workers read; Resume removes it.
    await page.locator('#pause').click();
    await expect(page.locator('#profile')).toHaveText(/^paused/);
    expect(redisCli(redis.port, 'HGET', 'semantest:fleet:quay:control', 'pause')).toBe('all');
    await page.locator('#resume').click();
    await expect.poll(() => redisCli(redis.port, 'HEXISTS', 'semantest:fleet:quay:control', 'pause')).toBe('0');

    // Retry the failed panel from the page: its job waits again.
    await failed.locator('button[data-action="retry"]').click();
    await expect(page.locator(`.panel[data-id="${failedId}"]`)).toHaveAttribute('data-state', 'pending');
    // The profile whose journal has it failed is the one started again below: it must make it, not skip it.
    const failedIn = await profileThatFailed(cwd, failedId);
    expect((failedIn === 'a' ? a : b).code).toBe(1);

    // Reject one panel from the page: its result goes, and a worker started afterwards makes it again.
    const rejected = results[0];
    page.once('dialog', (dialog) => void dialog.accept('too dark'));
    await page.locator(`.panel[data-id="${rejected.panel}"] button[data-action="reject"]`).click();
    await expect(page.locator(`.panel[data-id="${rejected.panel}"]`)).toHaveAttribute('data-state', 'rejected');
    const rejectedIds = redisCli(redis.port, 'HKEYS', 'semantest:fleet:quay:rejects').split('\n');
    expect(rejectedIds).toHaveLength(1);
    expect(JSON.parse(redisCli(redis.port, 'HGET', 'semantest:fleet:quay:rejects', rejectedIds[0]))).toMatchObject({ panel: rejected.panel, reason: 'too dark' });
    expect(redisCli(redis.port, 'HEXISTS', 'semantest:fleet:quay:results', rejectedIds[0])).toBe('0');
    const again = await worker(failedIn);
    expect(again.code, again.stderr).toBe(0);
    await expect(page.locator('.panel[data-state="verified"]')).toHaveCount(6, { timeout: 10_000 });
    await expect(page.locator(`.panel[data-id="${failedId}"] .who`)).toHaveText(new RegExp(`^${failedIn} on `));
    await expect(page.locator(`.panel[data-id="${rejected.panel}"] img.thumb`)).toBeVisible();
    const remade = page.locator(`.panel[data-id="${rejected.panel}"] .who`);
    await expect(remade).toHaveText(new RegExp(`^${failedIn} on `));
    expect(await remade.textContent()).not.toBe(`${rejected.profile} on ${rejected.worker}`);

    // Ctrl-C ends the dashboard cleanly.
    running.child.kill('SIGINT');
    expect((await running).code).toBe(0);
  } finally {
    if (dashboard && dashboard.child.exitCode === null) dashboard.child.kill('SIGKILL');
    await browser.close();
    mock.stop();
    await redis.stop();
  }
});
