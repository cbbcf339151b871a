// Resume rules a user leans on: a changed prompt is reported, not silently redone; Ctrl-C twice stops
// at once and loses nothing; a browser left on the profile by a killed runner is closed first.
import { spawn } from 'node:child_process';
import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { findChromium } from '../src/browser/discover.js';
import { browsersOn, journalEvents, listFiles, runCli, sha256Of, workDir } from './cli.js';

const FAST = ['--mock', '--headless', '--min-gap', '0', '--jitter', '0', '--concurrency', '1', '--backoff', '0.2', '--out', 'out'];

async function book(cwd: string, n: number, changed?: number): Promise<string> {
  const file = path.join(cwd, 'harbour.yaml');
  const prompts = Array.from({ length: n }, (_, i) => `  - "the harbour at night, view ${i + 1}${i + 1 === changed ? ', now with fog' : ''}"`);
  await writeFile(file, `book: harbour\nprompts:\n${prompts.join('\n')}\n`);
  return file;
}

test('a changed prompt is reported as stale on --resume and redone only with --regenerate-changed', async () => {
  const cwd = await workDir();
  await book(cwd, 3);
  const first = await runCli([path.join(cwd, 'harbour.yaml'), ...FAST, '--mock-latency-ms', '200'], cwd);
  expect(first.code).toBe(0);
  const p2 = path.join(cwd, 'out', 'harbour', 'ch1', 's1', 'p2.png');
  const before = await sha256Of(p2);

  const file = await book(cwd, 3, 2);
  const resumed = await runCli([file, ...FAST, '--resume', '--mock-latency-ms', '200'], cwd);
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toContain('1 verified panels have changed prompts (kept; --regenerate-changed redoes them): ch1/s1/p2');
  expect(resumed.stdout).toContain('(0 prompts sent)');
  expect(await sha256Of(p2)).toBe(before);

  const redone = await runCli([file, ...FAST, '--resume', '--regenerate-changed', '--mock-latency-ms', '200'], cwd);
  expect(redone.code).toBe(0);
  expect(redone.stdout).toContain('1 verified, 0 failed, 2 already done');
  expect(await sha256Of(p2)).not.toBe(before);
  const sidecar = JSON.parse(await readFile(p2.replace(/\.png$/, '.json'), 'utf8'));
  expect(sidecar.finalPrompt).toContain('now with fog');
});

test('Ctrl-C twice stops at once, exits 130, and --resume finishes every panel exactly once', async () => {
  const cwd = await workDir();
  const file = await book(cwd, 5);
  let signalled = false;
  const started = Date.now();
  const run = runCli([file, ...FAST, '--mock-latency-ms', '4000'], cwd, {
    onStdout: (chunk) => {
      if (!signalled && chunk.includes('✓ [1/5]')) {
        signalled = true;
        run.child.kill('SIGINT');
        // The second Ctrl-C once the first has been acknowledged.
      }
      if (chunk.includes('Ctrl-C: finishing')) run.child.kill('SIGINT');
    },
  });
  const result = await run;
  expect(result.code).toBe(130);
  expect(result.stdout).toContain('Ctrl-C again: stopping now');
  // It did not wait out the 4 s image in flight.
  expect(Date.now() - started).toBeLessThan(20_000);
  expect(await listFiles(path.join(cwd, 'out'), '.png')).toHaveLength(1);

  const resumed = await runCli([file, ...FAST, '--resume', '--mock-latency-ms', '200'], cwd);
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toContain('4 verified, 0 failed, 1 already done');
  const verified = (await journalEvents(path.join(cwd, 'checkpoints', 'harbour', 'journal.jsonl'))).filter((e) => e.state === 'verified');
  expect(verified.map((e) => e.id).sort()).toEqual(['ch1/s1/p1', 'ch1/s1/p2', 'ch1/s1/p3', 'ch1/s1/p4', 'ch1/s1/p5']);
});

test('what a killed runner leaves (its browser on the profile, a .part download) is cleaned up before the relaunch', async () => {
  const cwd = await workDir();
  const file = await book(cwd, 2);
  const profileDir = path.join(cwd, 'profiles', 'default');
  await mkdir(profileDir, { recursive: true });
  // What a SIGKILLed runner can leave behind: its Chromium, still holding the profile.
  const orphan = spawn(findChromium(), ['--headless', '--no-sandbox', `--user-data-dir=${profileDir}`, 'about:blank'], { stdio: 'ignore', detached: true });
  const lock = path.join(profileDir, 'SingletonLock');
  await expect.poll(async () => (await readlink(lock).catch(() => '')).endsWith(`-${orphan.pid}`), { timeout: 15_000 }).toBe(true);
  expect(browsersOn(profileDir)).toEqual([orphan.pid]);
  const part = path.join(cwd, 'out', 'harbour', 'ch1', 's1', 'p1.png.part');
  await mkdir(path.dirname(part), { recursive: true });
  await writeFile(part, 'half an image');

  const run = await runCli([file, ...FAST, '--mock-latency-ms', '200'], cwd);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toContain(`closed a browser (pid ${orphan.pid}) left running on profile "default"`);
  expect(run.stdout).toContain('removed 1 unfinished download (.part) left by an earlier run');
  expect(run.stdout).toContain('2 verified, 0 failed');
  expect(browsersOn(profileDir)).toEqual([]);
  expect(await listFiles(path.join(cwd, 'out'), '.part')).toEqual([]);
});

test('a second run on a book that is running refuses with the holder\'s pid; --resume on a new book starts fresh and says so', async () => {
  const cwd = await workDir();
  const file = await book(cwd, 3);
  let second: Promise<{ code: number | null; stderr: string }> | undefined;
  const first = runCli([file, ...FAST, '--resume', '--mock-latency-ms', '1500'], cwd, {
    onStdout: (chunk) => {
      // Once the first run holds the book, start another on the same book.
      if (!second && chunk.includes('semantest: harbour')) second = runCli([file, ...FAST, '--resume', '--mock-latency-ms', '200'], cwd);
    },
  });
  const firstResult = await first;
  expect(firstResult.code).toBe(0);
  expect(firstResult.stdout).toContain('nothing to resume: starting fresh');
  expect(firstResult.stdout).toContain('3 verified, 0 failed');
  const secondResult = await second!;
  expect(secondResult.code).toBe(2);
  expect(secondResult.stderr).toContain(`book "harbour" is in use by another run (pid ${first.child.pid}`);
});
