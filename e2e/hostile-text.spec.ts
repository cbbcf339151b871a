// Page text is untrusted (ARCHITECTURE §4, "Page text"): a refusal that carries terminal escapes
// must not drive the user's terminal, and a 400 KB refusal must be read quickly and by its last
// words. Once, the escapes printed a fake "✓ [12/12] … verified" line and set the window title, and
// the long refusal took the patterns seconds per look, was called no-image and sent again.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { runCli, workDir } from './cli.js';

const FAST = ['--mock', '--headless', '--mock-latency-ms', '300', '--backoff', '0.2', '--min-gap', '0', '--jitter', '0', '--concurrency', '1'];

test('refusals with terminal escapes and 400 KB of text: clean output, failed(policy), no prompt sent twice', async () => {
  const cwd = await workDir();
  const file = path.join(cwd, 'hostile.yaml');
  await writeFile(file, 'book: hostile\nprompts:\n  - "a lighthouse at dawn"\n  - "a storm at sea"\n  - "a quiet harbour"\n');
  const started = Date.now();
  // A generous generation timeout: a slow pattern would show as a timeout, a retry and a 4th prompt.
  const run = await runCli([file, ...FAST, '--generation-timeout', '20', '--mock-faults', 'policy-escape@1,policy-long@2', '--out', 'out'], cwd);
  const elapsed = Date.now() - started;
  const status = await runCli(['status', file], cwd);

  expect(run.code).toBe(1);
  expect(run.stdout).toContain('1 verified, 2 failed');
  expect(run.stdout).toContain('(3 prompts sent)');
  // The escapes arrived (their visible remainder is in the message) but no control byte reached the output.
  expect(run.stdout).toMatch(/failed ch1\/s1\/p1 \(policy\): .*\[2K.*content policy/);
  for (const output of [run.stdout, run.stderr, status.stdout, status.stderr]) {
    expect(output).not.toMatch(/[\u001b\u0007\u009b\r]/);
    expect(output).not.toMatch(/^\s*✓ \[12\/12\] ch9/m);
  }
  // The long refusal is named by its last words, which the capped text keeps.
  expect(run.stdout).toMatch(/failed ch1\/s1\/p2 \(policy\): .*violates our content policies/);
  expect(status.stdout).toMatch(/ch1\/s1\/p2 failed \(policy\): .*violates our content policies/);
  const journal = await readFile(path.join(cwd, 'checkpoints', 'hostile', 'journal.jsonl'), 'utf8');
  expect(journal.match(/"state":"started"/g)).toHaveLength(3);
  // Browser start included (15 s on an idle 2-core machine, 32 s with the machine shared); before the
  // cap, one look at this answer with the old quota pattern took minutes.
  expect(elapsed).toBeLessThan(60_000);
});
