import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PNG } from 'pngjs';
import { expect, test } from '@playwright/test';
import { journalEvents, listFiles, root, runCli, sha256Of, workDir } from './cli.js';

const demo = path.join(root, 'prompts', 'demo.yaml');

test.describe('the demo on the built-in mock site', () => {
  let cwd: string;
  let out: string;
  let book: string;
  let expectedJobs: string[];

  test.beforeAll(async () => {
    cwd = await workDir();
    out = path.join(cwd, 'out');
    const dry = await runCli([demo, '--dry-run'], cwd);
    expect(dry.code).toBe(0);
    expectedJobs = dry.stdout.split('\n').filter((l) => l.includes('\t')).map((l) => l.split('\t')[0]);
    book = /jobs in (\S+)/.exec(dry.stdout)![1];
    expect(expectedJobs.length).toBeGreaterThanOrEqual(10);
  });

  test('turns every panel into a verified, distinct PNG with its sidecar, and exits 0', async () => {
    const run = await runCli([demo, '--mock', '--headless', '--mock-latency-ms', '300', '--out', out], cwd);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`${expectedJobs.length} verified, 0 failed`));

    const pngs = await listFiles(path.join(out, book), '.png');
    expect(pngs.map((f) => path.relative(path.join(out, book), f).replace(/\.png$/, '')).sort()).toEqual([...expectedJobs].sort());
    const hashes = new Set<string>();
    for (const file of pngs) {
      const bytes = await readFile(file);
      const png = PNG.sync.read(bytes);
      expect(png.width).toBeGreaterThan(100);
      const sidecar = JSON.parse(await readFile(file.replace(/\.png$/, '.json'), 'utf8'));
      const id = path.relative(path.join(out, book), file).replace(/\.png$/, '');
      expect(sidecar.jobId).toBe(id);
      expect(sidecar.sha256).toBe(await sha256Of(file));
      expect(sidecar.bytes).toBe(bytes.length);
      expect(sidecar.width).toBe(png.width);
      expect(sidecar.conversationUrl).toMatch(/\/c\/[\w-]+$/);
      expect(sidecar.finalPrompt.length).toBeGreaterThan(sidecar.prompt.length);
      expect(sidecar.verification.match).toBe(true);
      await expect(stat(path.join(path.dirname(file), sidecar.evidence))).resolves.toBeTruthy();
      hashes.add(sidecar.sha256);
    }
    expect(hashes.size).toBe(pngs.length);
    expect(await listFiles(out, '.part')).toEqual([]);
  });

  test('a second run with --resume sends no prompt and changes no file', async () => {
    const pngs = await listFiles(path.join(out, book), '.png');
    const before = await Promise.all(pngs.map(async (f) => [f, (await stat(f)).mtimeMs, await sha256Of(f)]));
    const journal = path.join(cwd, 'checkpoints', book, 'journal.jsonl');
    const startedBefore = (await journalEvents(journal)).filter((e) => e.state === 'started').length;

    const run = await runCli([demo, '--mock', '--headless', '--resume', '--out', out], cwd);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('(0 prompts sent)');
    expect(run.stdout).toMatch(new RegExp(`0 verified, 0 failed, ${pngs.length} already done`));
    const after = await Promise.all(pngs.map(async (f) => [f, (await stat(f)).mtimeMs, await sha256Of(f)]));
    expect(after).toEqual(before);
    expect((await journalEvents(journal)).filter((e) => e.state === 'started').length).toBe(startedBefore);
  });

  test('without --resume it refuses to redo a finished book, naming the flag', async () => {
    const run = await runCli([demo, '--mock', '--headless', '--out', out], cwd);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--resume');
  });

  test('a malformed prompt file exits 2 naming the file, line and column', async () => {
    const bad = path.join(cwd, 'bad.yaml');
    await writeFile(bad, 'book: broken\nstyle: "ink"\nprompts:\n  - "a lighthouse"\n  - [unclosed\n');
    const run = await runCli([bad, '--mock', '--headless'], cwd);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/bad\.yaml:\d+:\d+: /);
    expect(run.stdout).toBe('');
  });
});
