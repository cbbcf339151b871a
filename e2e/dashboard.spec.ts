// The live dashboard, opened in Chromium during a run against a mock site in its own process (so
// its prompt log can be read): thumbnails fill in, pause stops new prompts, resume goes on, a
// rejected panel is generated again with its old file kept aside, and no token means nothing.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, expect, test } from '@playwright/test';
import { findChromium } from '../src/browser/discover.js';
import { listFiles, root, runCli, sha256Of, startMockProcess, workDir } from './cli.js';

const startMock = () => startMockProcess(['--mock-latency-ms', '1200']);

async function promptsAt(site: string): Promise<number> {
  return ((await (await fetch(new URL('/__mock/stats', site))).json()) as { prompts: number }).prompts;
}

test('the dashboard shows the run live, pauses and resumes it, regenerates a rejected panel, and serves nothing without its token', async () => {
  test.setTimeout(240_000);
  const cwd = await workDir();
  const file = path.join(cwd, 'dash.yaml');
  await writeFile(file, `book: dash\nstyle: "ink wash"\nprompts:\n${Array.from({ length: 14 }, (_, i) => `  - "the harbour in fog, scene ${i + 1}"`).join('\n')}\n`);
  const mock = await startMock();
  const browser = await chromium.launch({ executablePath: findChromium() });
  try {
    let announced: (url: string) => void = () => undefined;
    const gotUrl = new Promise<string>((resolve) => (announced = resolve));
    const run = runCli([file, '--base-url', mock.url, '--headless', '--out', 'out', '--min-gap', '0', '--jitter', '0', '--concurrency', '1'], cwd, {
      onStdout: (chunk) => {
        const match = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/\S+\/)/.exec(chunk);
        if (match) announced(match[1]);
      },
    });
    const url = await Promise.race([gotUrl, run.then((r) => Promise.reject(new Error(`the run ended before printing its dashboard: ${r.stderr}`)))]);

    // Without the token (or with another one) nothing is served; a command from elsewhere is refused.
    const origin = new URL(url).origin;
    const bare = await fetch(`${origin}/`);
    expect(bare.status).toBe(404);
    expect(await bare.text()).toBe('not found');
    expect((await fetch(`${origin}/state`)).status).toBe(404);
    expect((await fetch(`${origin}/${'x'.repeat(32)}/state`)).status).toBe(404);
    expect((await fetch(`${url}pause`, { method: 'POST', headers: { origin: 'http://evil.example' } })).status).toBe(403);

    const page = await browser.newPage();
    await page.goto(url);
    // Thumbnails fill in as panels are verified.
    await expect(page.locator('img.thumb').first()).toBeVisible({ timeout: 60_000 });
    await expect.poll(() => page.locator('img.thumb').first().evaluate((img: HTMLImageElement) => (img.complete ? img.naturalWidth : 0))).toBeGreaterThan(0);
    await expect(page.locator('.panel')).toHaveCount(14);
    await expect.poll(() => page.locator('img.thumb').count(), { timeout: 60_000 }).toBeGreaterThanOrEqual(3);

    // SEMANTEST_SCREENSHOTS=1 refreshes the picture in the README.
    if (process.env.SEMANTEST_SCREENSHOTS) await page.screenshot({ path: path.join(root, 'docs', 'dashboard.png'), fullPage: false });

    // Pause: the panel in flight finishes, then no prompt reaches the site for 5 s.
    await page.locator('#pause').click();
    await expect(page.locator('#profile')).toHaveText(/^paused/);
    await expect(page.locator('.panel[data-state="in flight"]')).toHaveCount(0, { timeout: 60_000 });
    const pausedAt = await promptsAt(mock.url);
    const verifiedWhilePaused = await page.locator('.panel[data-state="verified"]').count();
    await page.waitForTimeout(5_000); // the assertion is about a stretch of time, not a race
    expect(await promptsAt(mock.url)).toBe(pausedAt);
    expect(await page.locator('.panel[data-state="verified"]').count()).toBe(verifiedWhilePaused);

    // Reject the first panel (verified) with a reason, then resume.
    const first = page.locator('.panel[data-id="ch1/s1/p1"]');
    await expect(first).toHaveAttribute('data-state', 'verified');
    const before = path.join(cwd, 'out', 'dash', 'ch1', 's1', 'p1.png');
    const oldSha = await sha256Of(before);
    page.once('dialog', (dialog) => void dialog.accept('too dark'));
    await first.locator('button[data-action="reject"]').click();
    await page.locator('#resume').click();
    await expect(page.locator('#profile')).not.toHaveText(/^paused/);
    expect(await promptsAt(mock.url)).toBeGreaterThanOrEqual(pausedAt);

    const result = await run;
    expect(result.code, result.stderr).toBe(0);
    // The rejected file is kept aside, byte for byte; the panel has a new image that names it.
    const kept = (await listFiles(path.join(cwd, 'out', 'dash', '.rejected'), '.png'))[0];
    expect(kept).toBeDefined();
    expect(await sha256Of(kept)).toBe(oldSha);
    expect(existsSync(before)).toBe(true);
    expect(await sha256Of(before)).not.toBe(oldSha);
    const sidecar = JSON.parse(await readFile(before.replace(/\.png$/, '.json'), 'utf8'));
    expect(JSON.stringify(sidecar.replaces)).toContain('too dark');
    expect(await promptsAt(mock.url)).toBe(15);
  } finally {
    await browser.close();
    mock.stop();
  }
});
