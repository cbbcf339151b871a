// The default, headful mode under a real X server (Xvfb): a login wall is never worked around; the
// run says it is waiting, and carries on by itself once the person has logged in.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { listFiles, runCli, workDir, xvfbRun } from './cli.js';

for (const kind of ['login', 'challenge'] as const) {
  test(`headful: a ${kind} page waits for the person and the run finishes once they are through`, async () => {
    const cwd = await workDir();
    const file = path.join(cwd, 'human.yaml');
    await writeFile(file, `book: human\nprompts:\n${Array.from({ length: 3 }, (_, i) => `  - "a quiet harbour, view ${i + 1}"`).join('\n')}\n`);
    let site: string | undefined;
    let helped = false;
    const run = runCli(
      [file, '--mock', '--mock-latency-ms', '300', '--min-gap', '0', '--jitter', '0', '--concurrency', '1', '--backoff', '0.2', '--mock-faults', `${kind}@2`, '--out', 'out'],
      cwd,
      {
        wrapper: xvfbRun(cwd),
        onStdout: (chunk) => {
          site ??= /· (http:\/\/127\.0\.0\.1:\d+\/) ·/.exec(chunk)?.[1];
          if (!helped && site && chunk.includes('waiting for you')) {
            helped = true;
            // What the person does in the window: the mock's "Log in" / "Verify" button posts here.
            void fetch(new URL(`/__mock/${kind}`, site), { method: 'POST', redirect: 'manual' });
          }
        },
      },
    );
    const result = await run;
    expect(result.stderr).toBe('');
    expect(helped).toBe(true);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('3 verified, 0 failed');
    expect(await listFiles(path.join(cwd, 'out'), '.png')).toHaveLength(3);
  });
}
