// Nothing twice (issue 9): concurrent jobs never save the same picture, a stale image is named the
// moment its turn ends, and a revisit reads only the answer to its own prompt — a refusal stays a
// refusal, another panel's image in the side bar is never taken.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { journalEvents, listFiles, runCli, sha256Of, workDir } from './cli.js';

async function book(cwd: string, n: number): Promise<string> {
  const file = path.join(cwd, 'once.yaml');
  const prompts = Array.from({ length: n }, (_, i) => `  - "a lighthouse keeper at dusk, scene ${i + 1}"`).join('\n');
  await writeFile(file, `book: once\nstyle: "ink wash"\nprompts:\n${prompts}\n`);
  return file;
}

function promptsSent(stdout: string): number {
  return Number(/\((\d+) prompts sent\)/.exec(stdout)?.[1]);
}

async function sidecars(dir: string): Promise<Array<{ jobId: string; sha256: string; fileId: string }>> {
  return Promise.all((await listFiles(dir, '.png')).map(async (png) => JSON.parse(await readFile(png.replace(/\.png$/, '.json'), 'utf8'))));
}

test('50 jobs at concurrency 5 with stale images: no two files share bytes or a file id, each stale attempt fails at once', async () => {
  test.setTimeout(400_000);
  const cwd = await workDir();
  const latencyMs = 1000;
  const run = await runCli(
    [await book(cwd, 50), '--mock', '--headless', '--mock-latency-ms', String(latencyMs), '--mock-faults', 'stale:0.1,stale-id:0.1', '--mock-seed', '7',
      '--concurrency', '5', '--min-gap', '0', '--jitter', '0', '--backoff', '0.2', '--retries', '6', '--out', 'out'],
    cwd,
  );
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('50 verified, 0 failed');
  const files = await sidecars(path.join(cwd, 'out', 'once'));
  expect(files).toHaveLength(50);
  expect(new Set(files.map((f) => f.sha256)).size).toBe(50);
  expect(new Set(files.map((f) => f.fileId)).size).toBe(50);
  for (const png of await listFiles(path.join(cwd, 'out', 'once'), '.png')) {
    expect(JSON.parse(await readFile(png.replace(/\.png$/, '.json'), 'utf8')).sha256).toBe(await sha256Of(png));
  }

  // Each stale attempt ends in `failed (verify)` right after its turn finishes (send + latency), not at
  // the 180 s generation timeout: measured from the attempt's `started` line, which follows its gate turn.
  const lines = await journalEvents(path.join(cwd, 'checkpoints', 'once', 'journal.jsonl'));
  const startedAt = new Map<string, number>();
  const staleFailures: number[] = [];
  for (const line of lines) {
    if (line.t !== 'job') continue;
    if (line.state === 'started') startedAt.set(line.id as string, Date.parse(line.at as string));
    if (line.state === 'failed' && (line.failure as { kind: string }).kind === 'verify') {
      staleFailures.push(Date.parse(line.at as string) - startedAt.get(line.id as string)!);
    }
  }
  // Every prompt beyond the 50 followed a stale answer named as such.
  expect(staleFailures.length).toBeGreaterThanOrEqual(5);
  expect(promptsSent(run.stdout) - 50).toBeLessThanOrEqual(staleFailures.length);
  for (const ms of staleFailures) expect(ms).toBeLessThan(latencyMs + 5_000 + 2_000); // + opening the chat and sending
  console.log(`stale: ${staleFailures.length} stale attempts failed after ${Math.max(...staleFailures)} ms at most; ${promptsSent(run.stdout)} prompts for 50 jobs`);
});

test('a page that reloads mid-generation and then shows a refusal: failed (policy), the prompt sent once, no file', async () => {
  const cwd = await workDir();
  const run = await runCli(
    [await book(cwd, 4), '--mock', '--headless', '--mock-latency-ms', '1500', '--mock-faults', 'reload+policy@2', '--concurrency', '1', '--min-gap', '0', '--jitter', '0', '--backoff', '0.2', '--out', 'out'],
    cwd,
  );
  expect(run.code).toBe(1);
  expect(run.stdout).toContain('3 verified, 1 failed');
  expect(run.stdout).toMatch(/failed ch1\/s1\/p2 \(policy\): .*(content policy|guardrails)/);
  expect(promptsSent(run.stdout)).toBe(4);
  const pngs = (await listFiles(path.join(cwd, 'out', 'once'), '.png')).map((f) => path.basename(f));
  expect(pngs).toEqual(['p1.png', 'p3.png', 'p4.png']);
});

test('a revisit whose answer has no image while the side bar shows other panels\' images saves nothing from it and sends again', async () => {
  const cwd = await workDir();
  const run = await runCli(
    [await book(cwd, 5), '--mock', '--headless', '--mock-latency-ms', '1500', '--mock-faults', 'reload+error@4', '--concurrency', '1', '--min-gap', '0', '--jitter', '0', '--backoff', '0.2', '--out', 'out'],
    cwd,
  );
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('5 verified, 0 failed');
  // The 4th prompt's conversation showed an error after the reload: sent once more, nothing taken from it.
  expect(promptsSent(run.stdout)).toBe(6);
  const files = await sidecars(path.join(cwd, 'out', 'once'));
  expect(new Set(files.map((f) => f.sha256)).size).toBe(5);
  expect(new Set(files.map((f) => f.fileId)).size).toBe(5);
  const p4 = files.find((f) => f.jobId === 'ch1/s1/p4')!;
  const lines = await journalEvents(path.join(cwd, 'checkpoints', 'once', 'journal.jsonl'));
  const p4Conversations = new Set(lines.filter((l) => l.id === 'ch1/s1/p4' && l.conversationUrl).map((l) => l.conversationUrl));
  expect(p4Conversations.size).toBe(2); // the spent one, then the new one the image came from
  expect((p4 as unknown as { conversationUrl: string }).conversationUrl).toBe([...p4Conversations].at(-1));
});
