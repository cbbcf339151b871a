// Ctrl-C: once finishes what is in flight and exits 130 with the state saved; --resume completes.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { journalEvents, listFiles, runCli, workDir } from './cli.js';

test('Ctrl-C once stops starting, saves, exits 130; --resume finishes without redoing anything', async () => {
  const cwd = await workDir();
  const file = path.join(cwd, 'stop.yaml');
  await writeFile(file, `book: stop\nprompts:\n${Array.from({ length: 8 }, (_, i) => `  - "harbour at night, view ${i + 1}"`).join('\n')}\n`);
  const args = [file, '--mock', '--headless', '--mock-latency-ms', '400', '--min-gap', '0', '--jitter', '0', '--concurrency', '1', '--out', 'out'];
  let signalled = false;
  const run = runCli(args, cwd, {
    onStdout: (chunk) => {
      if (!signalled && chunk.includes('✓ [2/8]')) {
        signalled = true;
        run.child.kill('SIGINT');
      }
    },
  });
  const result = await run;
  expect(result.code).toBe(130);
  expect(result.stdout).toContain('finishing the images in flight');
  const done = (await listFiles(path.join(cwd, 'out'), '.png')).length;
  expect(done).toBeGreaterThanOrEqual(2);
  expect(done).toBeLessThan(8);
  expect(await listFiles(path.join(cwd, 'out'), '.part')).toEqual([]);
  const status = await runCli(['status', file], cwd);
  expect(status.stdout).toContain(`stop: 8 jobs — ${done} verified`);
  expect(status.stdout).toMatch(new RegExp(`${8 - done} to go: about .* \\(.* an image, measured on the last ones\\)`));

  const resumed = await runCli([...args, '--resume'], cwd);
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toContain(`${8 - done} verified, 0 failed, ${done} already done`);
  const journal = await journalEvents(path.join(cwd, 'checkpoints', 'stop', 'journal.jsonl'));
  const verifiedIds = journal.filter((e) => e.state === 'verified').map((e) => e.id);
  expect(new Set(verifiedIds).size).toBe(8);
  expect(verifiedIds).toHaveLength(8);
});
