// Progress as JSON lines (the seam for a dashboard or a log shipper), and a reader that goes away.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { bin, listFiles, runCli, workDir } from './cli.js';

const ARGS = ['--mock', '--headless', '--mock-latency-ms', '200', '--min-gap', '0', '--jitter', '0', '--concurrency', '2', '--out', 'out', '--json'];

async function book(cwd: string): Promise<string> {
  const file = path.join(cwd, 'lines.yaml');
  await writeFile(file, `book: lines\nprompts:\n${Array.from({ length: 4 }, (_, i) => `  - "a paper boat, fold ${i + 1}"`).join('\n')}\n`);
  return file;
}

test('--json prints one event per line, each with a time and a type, ending with the summary', async () => {
  const cwd = await workDir();
  const run = await runCli([await book(cwd), ...ARGS], cwd);
  expect(run.code).toBe(0);
  const events = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { at: string; type: string; id?: string });
  for (const e of events) expect(Number.isNaN(Date.parse(e.at))).toBe(false);
  expect(events[0].type).toBe('run-start');
  expect(events.filter((e) => e.type === 'job-verified').map((e) => e.id).sort()).toEqual(['ch1/s1/p1', 'ch1/s1/p2', 'ch1/s1/p3', 'ch1/s1/p4']);
  expect(events.at(-1)!.type).toBe('run-end');
});

test('a reader that stops reading (| head) does not stop the run', async () => {
  const cwd = await workDir();
  const child = spawn(process.execPath, [bin, await book(cwd), ...ARGS], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Like `head -1`: read the first line, then close the pipe.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(stderr).toBe('');
  expect(code).toBe(0);
  expect(await listFiles(path.join(cwd, 'out'), '.png')).toHaveLength(4);
});
