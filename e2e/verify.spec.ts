// Proof for every image: each bad-bytes fault is caught, retried, and ends verified once the fault is
// gone; forced on every attempt it ends failed(verify) with evidence on disk.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { journalEvents, listFiles, runCli, sha256Of, workDir } from './cli.js';

const FAST = ['--mock', '--headless', '--mock-latency-ms', '300', '--backoff', '0.2', '--min-gap', '0', '--jitter', '0', '--concurrency', '1'];

async function book(cwd: string, n: number): Promise<string> {
  const file = path.join(cwd, 'proof.yaml');
  await writeFile(file, `book: proof\nstyle: "ink"\nprompts:\n${Array.from({ length: n }, (_, i) => `  - "the old mill, panel ${i + 1}"`).join('\n')}\n`);
  return file;
}

for (const kind of ['stale', 'swap', 'blank', 'corrupt', 'partial']) {
  test(`a ${kind} image at the 2nd prompt is caught, retried and ends verified`, async () => {
    const cwd = await workDir();
    const run = await runCli([await book(cwd, 3), ...FAST, '--mock-faults', `${kind}@2`, '--out', 'out'], cwd);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('3 verified, 0 failed');
    expect(run.stdout).toMatch(/↻ ch1\/s1\/p2 (verify|transient): /);
    const pngs = await listFiles(path.join(cwd, 'out', 'proof'), '.png');
    expect(pngs).toHaveLength(3);
    expect(new Set(await Promise.all(pngs.map(sha256Of))).size).toBe(3);
    for (const png of pngs) {
      const sidecar = JSON.parse(await readFile(png.replace(/\.png$/, '.json'), 'utf8'));
      expect(sidecar.verification).toMatchObject({ match: true });
      expect(sidecar.verification.distance).toBeLessThanOrEqual(sidecar.verification.threshold);
      expect(sidecar.verification.detail.worstBand).toBeLessThanOrEqual(sidecar.verification.bandThreshold);
    }
    const journal = await journalEvents(path.join(cwd, 'checkpoints', 'proof', 'journal.jsonl'));
    const failure = journal.find((e) => e.id === 'ch1/s1/p2' && e.state === 'failed') as { failure: { evidence?: string[] } };
    // The page as it was (screenshot and sanitised HTML); traces only with --trace (secrets.spec.ts).
    expect(failure.failure.evidence?.some((f) => f.endsWith('.html') && existsSync(f))).toBe(true);
  });
}

test('a swap on every attempt ends failed(verify) with the evidence kept and listed by status', async () => {
  const cwd = await workDir();
  const file = await book(cwd, 2);
  const run = await runCli([file, ...FAST, '--retries', '2', '--mock-faults', 'swap:1', '--out', 'out'], cwd);
  expect(run.code).toBe(1);
  expect(run.stdout).toContain('0 verified, 2 failed');
  expect(run.stdout).toMatch(/failed ch1\/s1\/p1 \(verify\): the file does not match the image shown in the page/);
  expect(await listFiles(path.join(cwd, 'out'), '.png').then((f) => f.filter((p) => !p.includes('.evidence')))).toEqual([]);
  const journal = await journalEvents(path.join(cwd, 'checkpoints', 'proof', 'journal.jsonl'));
  const failures = journal.filter((e) => e.state === 'failed') as Array<{ failure: { kind: string; evidence?: string[] } }>;
  const kept = failures.flatMap((f) => f.failure.evidence ?? []);
  expect(kept.some((f) => f.endsWith('.html'))).toBe(true);
  for (const f of kept) expect(existsSync(f), f).toBe(true);
  // Each panel that ended failed points at its own page evidence.
  const status = await runCli(['status', file], cwd);
  expect(status.stdout).toMatch(/ch1\/s1\/p1 failed \(verify\).*evidence: .*ch1\/s1\/p1\/verify\.png/);
  expect(status.stdout).toMatch(/ch1\/s1\/p2 failed \(verify\).*evidence: .*ch1\/s1\/p2\/verify\.png/);
});
