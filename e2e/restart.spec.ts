// A supervisor (or a shell loop) that restarts the runner the moment it has killed it: the killed
// runner may not be reaped yet (a zombie that still answers signal 0), its Chromium is still going
// down, and the restart must neither be refused ("in use by another run") nor trip over that
// Chromium. Issue 9, item 4.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { bin, browsersOn, listFiles, runCli, sha256Of, startMockProcess, workDir } from './cli.js';

const JOBS = 8;
const RESTARTS = 10;

const startMock = () => startMockProcess(['--mock-latency-ms', '300']);

/** One runner process, however it was started. */
interface Run {
  /** Its output, once it has exited; `code` is undefined when its parent is not this process. */
  readonly done: Promise<{ code: number | null | undefined; stdout: string; stderr: string }>;
  readonly stdout: NodeJS.ReadableStream;
  running(): boolean;
  /** SIGKILL; returns at once, without waiting for the process to go. */
  kill(): void;
  /** How it ended: killed on an event (and at once followed by the next run), or on its own. */
  ended?: string;
}

/** A child of this test process: Node reaps it within moments of its death. */
function direct(args: string[], cwd: string): Run {
  const cli = runCli(args, cwd);
  const child = cli.child;
  return {
    done: cli,
    stdout: child.stdout!,
    running: () => child.exitCode === null && child.signalCode === null,
    kill: () => child.kill('SIGKILL'),
  };
}

/**
 * A child of a supervisor that does not reap it: sh starts the runner in the background, tells its
 * pid on fd 3 and becomes a long `sleep`, so a killed runner stays a zombie until the test ends.
 */
function unreaped(args: string[], cwd: string, supervisors: ChildProcess[]): Run {
  const script = '"$@" 3>&- & echo $! >&3; exec sleep 600 </dev/null >/dev/null 2>&1 3>&-';
  const sh = spawn('sh', ['-c', script, 'sh', process.execPath, bin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  supervisors.push(sh);
  let pid: number | undefined;
  (sh.stdio[3] as NodeJS.ReadableStream).once('data', (chunk: Buffer) => (pid = Number(chunk.toString().trim())));
  let stdout = '';
  let stderr = '';
  let exited = false;
  sh.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  sh.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Only the runner writes to these pipes: they close when it exits.
  const closed = (stream: NodeJS.ReadableStream) => new Promise((resolve) => stream.once('close', resolve));
  const done = Promise.all([closed(sh.stdout!), closed(sh.stderr!)]).then(() => {
    exited = true;
    return { code: undefined, stdout, stderr };
  });
  return {
    done,
    stdout: sh.stdout!,
    running: () => !exited,
    kill: () => {
      if (pid === undefined) throw new Error('the runner has not told its pid yet');
      process.kill(pid, 'SIGKILL');
    },
  };
}

for (const parent of ['this process', 'a supervisor that has not reaped it yet'] as const) {
  test(`a runner killed with SIGKILL and restarted at once, ${RESTARTS} times in a row, is never refused (parent: ${parent})`, async () => {
    test.setTimeout(150_000);
    const cwd = await workDir();
    const file = path.join(cwd, 'restart.yaml');
    await writeFile(file, `book: restart\nstyle: "pen and ink"\nprompts:\n${Array.from({ length: JOBS }, (_, i) => `  - "a lighthouse in a gale, panel ${i + 1}"`).join('\n')}\n`);
    const mock = await startMock();
    const args = [file, '--base-url', mock.url, '--headless', '--resume', '--out', 'out', '--min-gap', '0', '--jitter', '0', '--concurrency', '2', '--backoff', '0.2'];
    const supervisors: ChildProcess[] = [];
    const runs: Run[] = [];
    // The last run is always a child of this process, so its exit code can be checked.
    const start = (last = false): Run => {
      const run = parent === 'this process' || last ? direct(args, cwd) : unreaped(args, cwd, supervisors);
      runs.push(run);
      return run;
    };
    try {
      let current = start();
      let kills = 0;
      // Kill points, in turn: the first line the run prints (early: a note, or the start line once
      // the browser is up), its first verified image (browser up, jobs in flight), a random moment.
      const points = ['first line', 'first image', 'random'] as const;
      for (let i = 0; kills < RESTARTS && i < RESTARTS * 2; i++) {
        const point = points[i % points.length];
        const run = current;
        current = await new Promise<Run>((resolve) => {
          let restarted = false;
          const restart = (why: string) => {
            if (restarted) return;
            restarted = true;
            clearTimeout(timer);
            clearTimeout(fallback);
            run.stdout.off('data', onData);
            if (run.running()) {
              run.kill();
              kills += 1;
              run.ended = `killed at ${why}`;
            } else {
              run.ended = 'exited on its own';
            }
            // At once: in the same tick as the kill, so the killed runner cannot have been reaped.
            resolve(start(kills === RESTARTS));
          };
          const onData = (chunk: Buffer) => {
            if (point === 'first line' || (point === 'first image' && chunk.toString().includes('✓ ['))) restart(point);
          };
          run.stdout.on('data', onData);
          const timer = setTimeout(() => point === 'random' && restart(point), 500 + Math.random() * 2_000);
          // A run that never shows its event (nothing left to do, say) is killed anyway.
          const fallback = setTimeout(() => restart(`${point} (not seen in 8 s)`), 8_000);
          void run.done.then(() => restart('exit'));
        });
      }
      const final = await current.done;
      const results = await Promise.all(runs.map((r) => r.done));
      const log = runs
        .map((r, i) => `run ${i}: ${r.ended ?? 'final'}, code ${results[i].code}${results[i].stderr ? `, stderr: ${results[i].stderr.trim().split('\n')[0]}` : ''}`)
        .join('\n');
      const closedBrowsers = results.filter((r) => r.stdout.includes('closed a browser')).length;
      console.log(`${log}\nparent ${parent}: ${kills} kills, ${closedBrowsers} runs closed a browser left by the killed one`);

      expect(results.filter((r) => r.code === 2 || /in use by another/.test(r.stderr)), log).toEqual([]);
      expect(kills, log).toBe(RESTARTS);
      // The last run, started at once after the tenth kill, finished the book.
      expect(final.code, `${final.stderr}\n${log}`).toBe(0);
      expect(final.stdout).toMatch(/restart: \d+ verified, 0 failed/);
      const pngs = await listFiles(path.join(cwd, 'out', 'restart'), '.png');
      expect(pngs).toHaveLength(JOBS);
      expect(new Set(await Promise.all(pngs.map(sha256Of))).size).toBe(JOBS);
      expect(await listFiles(path.join(cwd, 'out'), '.part')).toEqual([]);
      // No browser of a killed run was left behind on the profile, and the last run closed its own.
      expect(browsersOn(path.join(cwd, 'profiles', 'default'))).toEqual([]);
    } finally {
      for (const run of runs) if (run.running()) run.kill();
      for (const sh of supervisors) sh.kill('SIGKILL');
      mock.stop();
    }
  });
}
