// A browser that dies mid-run (crash, OOM kill, window closed) is relaunched and the book finishes:
// nothing lost, nothing generated twice.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { browsersOn, journalEvents, listFiles, runCli, sha256Of, workDir } from './cli.js';

test('the browser killed mid-run is relaunched and every panel ends verified exactly once', async () => {
  const cwd = await workDir();
  const file = path.join(cwd, 'crash.yaml');
  await writeFile(file, `book: crash\nprompts:\n${Array.from({ length: 5 }, (_, i) => `  - "a lantern in the rain, take ${i + 1}"`).join('\n')}\n`);
  const profileDir = path.join(cwd, 'profiles', 'default');
  let killed: number | undefined;
  const run = runCli(
    [file, '--mock', '--headless', '--mock-latency-ms', '1500', '--min-gap', '0', '--jitter', '0', '--concurrency', '1', '--backoff', '0.2', '--out', 'out'],
    cwd,
    {
      onStdout: (chunk) => {
        // Kill it while the 3rd image is being generated.
        if (killed === undefined && chunk.includes('✓ [2/5]')) {
          killed = browsersOn(profileDir)[0];
          if (killed) process.kill(killed, 'SIGKILL');
        }
      },
    },
  );
  const result = await run;
  expect(killed).toBeGreaterThan(0);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toContain('the browser went away (crashed, killed or closed); relaunching it (1/3)');
  expect(result.stdout).toContain('5 verified, 0 failed');
  const pngs = await listFiles(path.join(cwd, 'out'), '.png');
  expect(pngs).toHaveLength(5);
  expect(new Set(await Promise.all(pngs.map(sha256Of))).size).toBe(5);
  const verified = (await journalEvents(path.join(cwd, 'checkpoints', 'crash', 'journal.jsonl'))).filter((e) => e.state === 'verified');
  expect(verified).toHaveLength(5);
  // The prompt in flight when the browser died was found in its conversation, not sent again.
  expect(Number(/\((\d+) prompts sent\)/.exec(result.stdout)?.[1])).toBe(5);
});
