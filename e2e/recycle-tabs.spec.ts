// Long runs (issue 14): a tab is replaced by a fresh one every N jobs, between jobs, and no job is
// lost or done twice across the replacements.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { journalEvents, listFiles, runCli, sha256Of, workDir } from './cli.js';

test('--recycle-tabs-every 3 over 10 panels at concurrency 2 with a transient fault: every panel verified exactly once', async () => {
  test.setTimeout(120_000);
  const cwd = await workDir();
  const file = path.join(cwd, 'recycle.yaml');
  await writeFile(file, `book: recycle\nstyle: "ink wash"\nprompts:\n${Array.from({ length: 10 }, (_, i) => `  - "a harbour crane at night, scene ${i + 1}"`).join('\n')}\n`);
  const run = await runCli(
    [file, '--mock', '--headless', '--mock-latency-ms', '300', '--mock-faults', 'error@5', '--concurrency', '2', '--min-gap', '0', '--jitter', '0',
      '--backoff', '0.2', '--recycle-tabs-every', '3', '--no-dashboard', '--out', 'out'],
    cwd,
  );
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('10 verified, 0 failed');
  // 10 first sends and the one retry of the faulted prompt: nothing sent twice, nothing lost.
  expect(run.stdout).toContain('(11 prompts sent)');
  // Two tabs sharing 11 attempts, each replaced after every 3 of its own: 2 or 3 replacements.
  const replaced = Number(/replaced (\d+) used tabs by fresh ones \(every 3 jobs in a tab\)/.exec(run.stdout)?.[1]);
  expect(replaced).toBeGreaterThanOrEqual(2);

  const dir = path.join(cwd, 'out', 'recycle');
  const pngs = await listFiles(dir, '.png');
  expect(pngs.map((f) => path.basename(f))).toEqual(['p1.png', 'p10.png', 'p2.png', 'p3.png', 'p4.png', 'p5.png', 'p6.png', 'p7.png', 'p8.png', 'p9.png']);
  const hashes = new Set<string>();
  for (const png of pngs) {
    const sidecar = JSON.parse(await readFile(png.replace(/\.png$/, '.json'), 'utf8')) as { sha256: string };
    expect(sidecar.sha256).toBe(await sha256Of(png));
    hashes.add(sidecar.sha256);
  }
  expect(hashes.size).toBe(10);
  // The journal verifies each panel once.
  const verified = (await journalEvents(path.join(cwd, 'checkpoints', 'recycle', 'journal.jsonl'))).filter((l) => l.t === 'job' && l.state === 'verified').map((l) => l.id);
  expect(verified).toHaveLength(10);
  expect(new Set(verified).size).toBe(10);
});

test('--recycle-tabs-every takes a whole number of jobs', async () => {
  const cwd = await workDir();
  const file = path.join(cwd, 'recycle.yaml');
  await writeFile(file, 'book: recycle\nstyle: "ink"\nprompts:\n  - "a crane"\n');
  const run = await runCli([file, '--mock', '--headless', '--recycle-tabs-every', '2.5', '--out', 'out'], cwd);
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('--recycle-tabs-every expects a whole number ≥ 0, got 2.5');
});
