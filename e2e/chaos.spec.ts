// Kill the runner with SIGKILL at every crash point and at random moments, resume each time: in the
// end every job has exactly one verified file, the site got at most jobs + kills prompts, and the
// journal replays to the same state twice.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { openJobStore } from '../src/store/index.js';
import { listFiles, runCli, sha256Of, startMockProcess, workDir } from './cli.js';

const JOBS = 60;

const startMock = () => startMockProcess(['--mock-latency-ms', '250', '--mock-url-delay-ms', '200']);

test('SIGKILL at every crash point and at 20 random moments loses nothing and duplicates nothing', async () => {
  test.setTimeout(900_000);
  const cwd = await workDir();
  const file = path.join(cwd, 'chaos.yaml');
  await writeFile(file, `book: chaos\nstyle: "woodcut"\nprompts:\n${Array.from({ length: JOBS }, (_, i) => `  - "storm over the cliffs, panel ${i + 1}"`).join('\n')}\n`);
  const mock = await startMock();
  try {
    const args = [file, '--base-url', mock.url, '--headless', '--resume', '--out', 'out', '--min-gap', '0', '--jitter', '0', '--concurrency', '2', '--backoff', '0.2'];
    const env = { SEMANTEST_COMPACT_EVERY: '7' };
    let kills = 0;
    for (const point of ['after-started', 'after-submit', 'before-rename', 'mid-snapshot']) {
      const run = await runCli(args, cwd, { env: { ...env, SEMANTEST_CRASH_AT: `${point}:3` } });
      expect(run.code, `${point}: ${run.stderr}`).toBeNull();
      kills += 1;
    }
    for (let i = 0; i < 20; i++) {
      // A random moment: anywhere from Node starting up to a few jobs in.
      const run = runCli(args, cwd, { env });
      const timer = setTimeout(() => run.child.kill('SIGKILL'), 500 + Math.random() * 5000);
      const result = await run;
      clearTimeout(timer);
      if (result.code === null) kills += 1;
      else expect(result.code, result.stderr).toBe(0);
    }
    const final = await runCli(args, cwd, { env });
    expect(final.code, final.stderr).toBe(0);

    const pngs = await listFiles(path.join(cwd, 'out', 'chaos'), '.png');
    expect(pngs).toHaveLength(JOBS);
    const hashes = new Set(await Promise.all(pngs.map(sha256Of)));
    expect(hashes.size).toBe(JOBS);
    for (const png of pngs) {
      const sidecar = JSON.parse(await readFile(png.replace(/\.png$/, '.json'), 'utf8'));
      expect(sidecar.sha256).toBe(await sha256Of(png));
    }
    expect(await listFiles(path.join(cwd, 'out'), '.part')).toEqual([]);
    const stats = (await (await fetch(new URL('/__mock/stats', mock.url))).json()) as { prompts: number };
    expect(stats.prompts).toBeLessThanOrEqual(JOBS + kills);

    const dir = path.join(cwd, 'checkpoints', 'chaos');
    const first = await openJobStore(dir);
    const once = structuredClone(first.state());
    await first.close();
    const second = await openJobStore(dir);
    expect(second.state()).toEqual(once);
    expect(Object.values(once.jobs).filter((j) => j.state === 'verified')).toHaveLength(JOBS);
    await second.close();
    console.log(`chaos: ${kills} kills, ${stats.prompts} prompts for ${JOBS} jobs`);
  } finally {
    mock.stop();
  }
});
