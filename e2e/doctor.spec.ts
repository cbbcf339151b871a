// `semantest-run doctor` and `semantest-run login` as a person runs them. doctor says whether a run
// would work, one row per check, and sends nothing; when the markup has drifted it names the role
// and the selectors it tried. login refuses --headless, and in a window (Xvfb) ends by itself once
// the chat shows, or says why it did not.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { startMockSite } from '../src/mock/server.js';
import { acquireLock } from '../src/store/index.js';
import { browsersOn, root, runCli, workDir, xvfbRun } from './cli.js';

const REQUIRED = ['browser', 'display', 'profile lock', 'launch', 'extension + hub', 'site', 'logged in', 'composer'];
const composerSelectors = (JSON.parse(readFileSync(path.join(root, 'src', 'providers', 'chatgpt.json'), 'utf8')) as { selectors: { composer: string[] } }).selectors.composer;

function rowOf(stdout: string, name: string): string | undefined {
  return stdout.split('\n').find((line) => new RegExp(`^  . ${name.replace(/[+]/g, '\\+')}\\s{2,}`).test(line));
}

/** Nothing is left behind: no browser on the profile, no lock. */
function expectReleased(cwd: string): void {
  const profileDir = path.join(cwd, 'profiles', 'default');
  expect(browsersOn(profileDir)).toEqual([]);
  expect(existsSync(path.join(profileDir, '.semantest.lock'))).toBe(false);
}

test('doctor --mock --headless: every required check passes and a run would work', async () => {
  const cwd = await workDir();
  const result = await runCli(['doctor', '--mock', '--headless'], cwd);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  for (const name of REQUIRED) expect(rowOf(result.stdout, name), `${name} row in\n${result.stdout}`).toMatch(/^ {2}✓ /);
  expect(rowOf(result.stdout, 'display')).toContain('not needed (headless)');
  expect(rowOf(result.stdout, 'free disk')).toMatch(/(GiB|MiB) free for profiles\/default and output/);
  expect(rowOf(result.stdout, 'extension + hub')).toMatch(/connected to the hub in \d+ ms/);
  expect(rowOf(result.stdout, 'site')).toMatch(/open-tab round trip \d+ ms/);
  expect(rowOf(result.stdout, 'composer')).toContain(`matched by its 1st selector \`${composerSelectors[0]}\``);
  // Roles that only show inside a menu or an answer are said to be unchecked, not failed.
  expect(rowOf(result.stdout, 'imageToolItem')).toMatch(/^ {2}- imageToolItem\s+not checked \(only inside the \+ menu\)/);
  expect(result.stdout).not.toContain('✗');
  expect(result.stdout.trimEnd().split('\n').at(-1)).toBe('doctor: a run would work');
  expectReleased(cwd);
});

test('doctor --mock-churn breaking: exit 1, naming the composer role and every selector tried', async () => {
  const cwd = await workDir();
  const result = await runCli(['doctor', '--mock', '--headless', '--mock-churn', 'breaking'], cwd);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(1);
  const composer = rowOf(result.stdout, 'composer');
  expect(composer).toMatch(/^ {2}✗ composer\s+not found, tried /);
  for (const selector of composerSelectors) expect(composer).toContain(`\`${selector}\``);
  const verdict = result.stdout.trimEnd().split('\n').at(-1)!;
  expect(verdict).toMatch(/^doctor: a run would not work: composer: not found, tried `/);
  expectReleased(cwd);
});

test('doctor on a site given by --base-url sends it nothing', async () => {
  const site = await startMockSite({ latencyMs: 100 });
  try {
    const cwd = await workDir();
    const result = await runCli(['doctor', '--base-url', site.url, '--headless'], cwd);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(rowOf(result.stdout, 'logged in')).toContain(`logged in (${site.url}`);
    expect(site.stats().prompts).toBe(0);
    expectReleased(cwd);
  } finally {
    await site.close();
  }
});

test('doctor on a profile in use: the lock check fails with the holder, nothing is launched', async () => {
  const cwd = await workDir();
  const profileDir = path.join(cwd, 'profiles', 'default');
  await mkdir(profileDir, { recursive: true });
  // This process stands for a run holding the profile.
  const lock = await acquireLock(path.join(profileDir, '.semantest.lock'), 'profile "default"');
  try {
    const result = await runCli(['doctor', '--mock', '--headless'], cwd);
    expect(result.code).toBe(1);
    expect(rowOf(result.stdout, 'profile lock')).toMatch(/^ {2}✗ profile lock\s+.*in use.*/);
    expect(result.stdout).toContain(String(process.pid));
    expect(rowOf(result.stdout, 'launch')).toMatch(/^ {2}- launch\s+not checked \(the profile is in use\)/);
    expect(result.stdout.trimEnd().split('\n').at(-1)).toMatch(/^doctor: a run would not work: profile lock: /);
    expect(browsersOn(profileDir)).toEqual([]);
  } finally {
    await lock.release();
  }
});

test('doctor on a log-in page: not logged in, run semantest-run login (exit 1)', async () => {
  const wall = await loginWall();
  try {
    const cwd = await workDir();
    const result = await runCli(['doctor', '--base-url', wall.url, '--headless'], cwd);
    expect(result.code).toBe(1);
    expect(rowOf(result.stdout, 'logged in')).toMatch(/^ {2}✗ logged in\s+not logged in: run semantest-run login/);
    expect(result.stdout.trimEnd().split('\n').at(-1)).toMatch(/^doctor: a run would not work: logged in: not logged in: run semantest-run login/);
    expectReleased(cwd);
  } finally {
    await wall.close();
  }
});

test('login --headless is refused at once (exit 2)', async () => {
  const cwd = await workDir();
  const result = await runCli(['login', '--headless'], cwd);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain('login needs a window you can type in; run it without --headless (on a server, under xvfb-run)');
  expect(existsSync(path.join(cwd, 'profiles', 'default'))).toBe(false);
});

test('login in a window: ends by itself once the chat shows, and closes the browser', async () => {
  const site = await startMockSite({ latencyMs: 100 });
  try {
    const cwd = await workDir();
    const result = await runCli(['login', '--base-url', site.url, '--timeout', '60'], cwd, { wrapper: xvfbRun(cwd) });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`profile default is ready: logged in to ${site.url}`);
    expect(site.stats().prompts).toBe(0);
    expectReleased(cwd);
  } finally {
    await site.close();
  }
});

/** A site whose page is a log-in wall: no composer, a "Log in" button. */
async function loginWall(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>Log in</title><h1>Welcome back</h1><button data-testid="login-button">Log in</button>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

test('login in a window: no log-in before --timeout is exit 1 with a sentence', async () => {
  const wall = await loginWall();
  try {
    const cwd = await workDir();
    const result = await runCli(['login', '--base-url', wall.url, '--timeout', '2'], cwd, { wrapper: xvfbRun(cwd) });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain('no log-in within 2 s');
    expectReleased(cwd);
  } finally {
    await wall.close();
  }
});

test('login in a window: the window closed first is exit 1 with a sentence', async () => {
  const wall = await loginWall();
  try {
    const cwd = await workDir();
    const profileDir = path.join(cwd, 'profiles', 'default');
    let closed = false;
    const run = runCli(['login', '--base-url', wall.url, '--timeout', '120'], cwd, {
      wrapper: xvfbRun(cwd),
      onStdout: (chunk) => {
        if (closed || !chunk.includes('in the window')) return;
        closed = true;
        // What closing the last window does: the browser process ends.
        for (const pid of browsersOn(profileDir)) process.kill(pid, 'SIGTERM');
      },
    });
    const result = await run;
    expect(closed).toBe(true);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the window was closed before the log-in finished');
    expectReleased(cwd);
  } finally {
    await wall.close();
  }
});
