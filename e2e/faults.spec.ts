// One run per fault kind against the mock: the run ends with the expected counts, no job lost, no hang.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { journalEvents, listFiles, runCli, workDir } from './cli.js';

const FAST = ['--mock', '--headless', '--mock-latency-ms', '300', '--backoff', '0.2', '--min-gap', '0', '--jitter', '0', '--concurrency', '1'];

async function book(cwd: string, n = 4): Promise<string> {
  const file = path.join(cwd, 'faults.yaml');
  const prompts = Array.from({ length: n }, (_, i) => `  - "a lighthouse keeper, scene ${i + 1}"`).join('\n');
  await writeFile(file, `book: faults\nstyle: "ink wash"\nprompts:\n${prompts}\n`);
  return file;
}

function promptsSent(stdout: string): number {
  return Number(/\((\d+) prompts sent\)/.exec(stdout)?.[1]);
}

const retried: Array<{ kind: string; extra?: string[]; sent: number }> = [
  { kind: 'error', sent: 5 },
  { kind: 'network', sent: 5 },
  { kind: 'timeout', extra: ['--generation-timeout', '4'], sent: 5 },
  { kind: 'cooldown', extra: ['--rate-limit-pause', '1'], sent: 5 },
  { kind: 'quota', extra: ['--mock-quota-reset', '2 seconds', '--quota-margin', '0'], sent: 5 },
  // The page reloads mid-generation; the image is found in the conversation, not asked for again.
  { kind: 'reload', sent: 4 },
];

for (const { kind, extra = [], sent } of retried) {
  test(`${kind} at the 2nd prompt is retried and every panel ends verified`, async () => {
    const cwd = await workDir();
    const run = await runCli([await book(cwd), ...FAST, ...extra, '--mock-faults', `${kind}@2`, '--out', 'out'], cwd);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('4 verified, 0 failed');
    expect(promptsSent(run.stdout)).toBe(sent);
    expect(await listFiles(path.join(cwd, 'out'), '.png')).toHaveLength(4);
    if (kind === 'quota' || kind === 'cooldown') expect(run.stdout).toContain('pausing the profile until');
    else if (kind !== 'reload') expect(run.stdout).toMatch(/↻ ch1\/s1\/p2 \w+: .*retry 1 at/);
  });
}

test('a policy refusal is not retried: the job fails with the page\'s words and the run exits 1', async () => {
  const cwd = await workDir();
  const run = await runCli([await book(cwd), ...FAST, '--mock-faults', 'policy@2', '--out', 'out'], cwd);
  expect(run.code).toBe(1);
  expect(run.stdout).toContain('3 verified, 1 failed');
  expect(run.stdout).toMatch(/failed ch1\/s1\/p2 \(policy\): .*(content policy|guardrails)/);
  expect(promptsSent(run.stdout)).toBe(4);
  const status = await runCli(['status', path.join(cwd, 'faults.yaml')], cwd);
  expect(status.stdout).toMatch(/ch1\/s1\/p2 failed \(policy\)/);
});

for (const kind of ['login', 'challenge']) {
  test(`a ${kind} page stops a headless run with exit 3, state saved, and --resume finishes the book`, async () => {
    const cwd = await workDir();
    const file = await book(cwd);
    const run = await runCli([file, ...FAST, '--mock-faults', `${kind}@2`, '--out', 'out'], cwd);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('semantest-run login');
    const journal = await journalEvents(path.join(cwd, 'checkpoints', 'faults', 'journal.jsonl'));
    expect(journal.some((e) => e.id === 'ch1/s1/p1' && e.state === 'verified')).toBe(true);
    const resumed = await runCli([file, ...FAST, '--resume', '--out', 'out'], cwd);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('3 verified, 0 failed, 1 already done');
    expect(await listFiles(path.join(cwd, 'out'), '.png')).toHaveLength(4);
  });
}

test('with faults at random on every kind that heals, nothing is lost and nothing hangs', async () => {
  const cwd = await workDir();
  const file = await book(cwd, 10);
  const run = await runCli(
    [file, ...FAST, '--retries', '6', '--generation-timeout', '4', '--mock-faults', 'error:0.15,network:0.1,timeout:0.05,reload:0.1', '--mock-seed', '7', '--out', 'out'],
    cwd,
  );
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('10 verified, 0 failed');
  const sidecars = await listFiles(path.join(cwd, 'out'), '.json');
  expect(sidecars).toHaveLength(10);
  for (const sidecar of sidecars) expect(JSON.parse(await readFile(sidecar, 'utf8')).verification.match).toBe(true);
});
