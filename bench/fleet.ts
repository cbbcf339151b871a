// Jobs per minute with 1, 2, 3… fleet workers on one machine (issue 17): a real redis-server per run,
// the book enqueued with the CLI, then N `semantest-run worker` processes of the built bin (one
// profile, browser and journal each) started together against the mock site in its own process
// (latency 3 s), headless. Per run: jobs per minute from the first job-start (any worker's --json
// output) to the last job-verified, the ratio against the 1-worker run of this invocation, and
// exactly once as a user would check it: every worker exits 0, Redis holds one result per job, each
// panel is verified in exactly one worker's checkpoint, and the site received one prompt per job.
//   node scripts/run-ts.mjs bench/fleet.ts [--workers 1,2,3] [--jobs 30] [--latency-ms 3000]
//     [--concurrency 2] [--min-gap 2] [--timeout-s 900]
// Uses the built CLI (bin/semantest-run.cjs → dist/cli.js): run `npm run build` after changing src/.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { openJobStore } from '../src/store/index.js';
import { startRedis } from '../test/support/redis.js';

// run-ts bundles this file into dist/scripts/, so the bin is found from the working directory (the repo, as npm runs it).
const BIN = path.resolve('bin', 'semantest-run.cjs');

const args = process.argv.slice(2);
function option(name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
}
const COUNTS = option('workers', '1,2,3').split(',').map(Number);
const JOBS = Number(option('jobs', '30'));
const LATENCY_MS = Number(option('latency-ms', '3000'));
const CONCURRENCY = Number(option('concurrency', '2'));
const MIN_GAP_S = Number(option('min-gap', '2'));
const TIMEOUT_S = Number(option('timeout-s', '900'));
if (COUNTS.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(JOBS) || JOBS < 1) throw new Error('--workers expects whole numbers ≥ 1 (e.g. 1,2,3) and --jobs a whole number ≥ 1');
if (!Number.isFinite(LATENCY_MS) || LATENCY_MS < 0) throw new Error(`--latency-ms expects a number ≥ 0, got ${option('latency-ms', '')}`);
const BOOK = 'fleetbench';

interface Result {
  workers: number;
  jobs: number;
  jobsPerMin: number;
  perWorker: string;
  exitCodes: Array<number | null>;
  redisResults: number;
  onceInJournals: boolean;
  sitePrompts: number;
  exactlyOnce: boolean;
  loadStart: number;
  loadEnd: number;
}

interface Worker {
  profile: string;
  child: ChildProcess;
  done: Promise<number | null>;
  stderr: string;
}

/** The mock site in its own process (`semantest-run mock`), as e2e/cli.ts startMockProcess does. */
async function startMock(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [BIN, 'mock', '--port', '0', '--mock-latency-ms', String(LATENCY_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      const match = /mock site at (\S+)/.exec(chunk.toString());
      if (match) resolve(match[1]);
    });
    child.once('exit', () => reject(new Error('the mock site (semantest-run mock) exited before it was ready')));
  });
  return { url, child };
}

function cli(cwd: string, argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...argv], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

async function once(workers: number): Promise<Result> {
  const loadStart = loadavg()[0];
  const cwd = await mkdtemp(path.join(tmpdir(), 'semantest-fleet-bench-'));
  const redis = await startRedis();
  const mock = await startMock().catch(async (err) => {
    await redis.stop();
    throw err;
  });
  const running: Worker[] = [];
  try {
    const file = path.join(cwd, `${BOOK}.yaml`);
    await writeFile(file, `book: ${BOOK}\nstyle: "flat colours"\nprompts:\n${Array.from({ length: JOBS }, (_, i) => `  - "${BOOK} panel ${i + 1}, a lighthouse at dusk"`).join('\n')}\n`);
    const enqueued = await cli(cwd, ['enqueue', file, '--redis', redis.url]);
    if (enqueued.code !== 0 || !enqueued.stdout.includes(`${JOBS} new jobs`)) {
      throw new Error(`enqueue ${file} exited ${enqueued.code}: ${enqueued.stdout}${enqueued.stderr}`);
    }

    let firstStart: number | undefined;
    let lastDone = 0;
    const profiles = Array.from({ length: workers }, (_, i) => `w${i + 1}`);
    for (const profile of profiles) {
      const child = spawn(
        process.execPath,
        [BIN, 'worker', '--redis', redis.url, '--profile', profile, '--out', 'out', '--base-url', mock.url, '--headless', '--json',
          '--concurrency', String(CONCURRENCY), '--min-gap', String(MIN_GAP_S), '--jitter', '0', '--cooldown-every', '0'],
        { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const worker: Worker = { profile, child, stderr: '', done: new Promise((resolve) => child.on('close', (code) => resolve(code))) };
      // A JSON line can be split across chunks: keep the tail until its newline arrives.
      let pending = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        pending += chunk.toString();
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const line of lines) {
          if (!line.startsWith('{')) continue;
          const e = JSON.parse(line) as { type: string; id?: string; kind?: string; message?: string };
          if (e.type === 'job-start') firstStart ??= performance.now();
          if (e.type === 'job-verified') lastDone = performance.now();
          if (e.type === 'job-failed') console.error(`  ${profile}: failed ${e.id} ${e.kind} ${e.message}`);
        }
      });
      child.stderr!.on('data', (chunk: Buffer) => (worker.stderr += chunk.toString()));
      running.push(worker);
    }
    // A worker that never ends would hold the whole bench: stop it (SIGINT hands its jobs back) and say so.
    const timer = setTimeout(() => {
      for (const w of running) if (w.child.exitCode === null) {
        console.error(`  ${w.profile}: still running after --timeout-s ${TIMEOUT_S}; sending SIGINT`);
        w.child.kill('SIGINT');
      }
    }, TIMEOUT_S * 1000);
    const exitCodes = await Promise.all(running.map((w) => w.done));
    clearTimeout(timer);
    running.forEach((w, i) => {
      if (exitCodes[i] !== 0) console.error(`  ${w.profile} exited ${exitCodes[i]}: ${w.stderr.trim().split('\n').slice(-5).join('\n    ')}`);
    });

    const redisResults = Number(execFileSync('redis-cli', ['-p', String(redis.port), 'HLEN', `semantest:fleet:${BOOK}:results`], { encoding: 'utf8' }).trim());
    // Each panel's state in each worker's own checkpoint, as its store reads it.
    const verifiedBy = new Map<string, string[]>();
    const counts: string[] = [];
    for (const profile of profiles) {
      const store = await openJobStore(path.join(cwd, 'checkpoints', `fleet-${profile}`, BOOK));
      try {
        const verified = Object.values(store.state().jobs).filter((r) => r.state === 'verified');
        counts.push(`${profile} ${verified.length}`);
        for (const r of verified) verifiedBy.set(r.id, [...(verifiedBy.get(r.id) ?? []), profile]);
      } finally {
        await store.close();
      }
    }
    const onceInJournals = verifiedBy.size === JOBS && [...verifiedBy.values()].every((who) => who.length === 1);
    const stats = (await (await fetch(new URL('/__mock/stats', mock.url))).json()) as { prompts: number };
    const jobs = [...verifiedBy.keys()].length;
    return {
      workers,
      jobs,
      jobsPerMin: firstStart === undefined || lastDone <= firstStart ? 0 : (jobs / (lastDone - firstStart)) * 60_000,
      perWorker: counts.join(', '),
      exitCodes,
      redisResults,
      onceInJournals,
      sitePrompts: stats.prompts,
      exactlyOnce: exitCodes.every((c) => c === 0) && redisResults === JOBS && onceInJournals && stats.prompts === JOBS,
      loadStart,
      loadEnd: loadavg()[0],
    };
  } finally {
    for (const w of running) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(running.map((w) => w.done));
    mock.child.kill('SIGINT');
    await redis.stop();
    await rm(cwd, { recursive: true, force: true }).catch(() => undefined);
  }
}

console.log(`jobs ${JOBS} per run, mock latency ${LATENCY_MS} ms; per worker: 1 profile, ${CONCURRENCY} tabs, ${MIN_GAP_S} s between starts, no jitter, no cooldown; headless; fresh redis-server per run`);
const results: Result[] = [];
for (const n of COUNTS) {
  const r = await once(n);
  results.push(r);
  const base = results.find((x) => x.workers === 1)?.jobsPerMin;
  console.log(
    `  ${n} worker${n === 1 ? '' : 's'}: ${r.jobs} jobs, ${r.jobsPerMin.toFixed(1)} jobs/min${base ? ` (×${(r.jobsPerMin / base).toFixed(2)} vs 1 worker)` : ''}, verified per worker: ${r.perWorker}; ` +
      `exit codes ${r.exitCodes.join(',')}, Redis results ${r.redisResults}, once in journals ${r.onceInJournals ? 'yes' : 'NO'}, site prompts ${r.sitePrompts}; ` +
      `exactly once: ${r.exactlyOnce ? 'yes' : 'NO'}; load avg ${r.loadStart.toFixed(2)} → ${r.loadEnd.toFixed(2)}`,
  );
}
const base = results.find((r) => r.workers === 1)?.jobsPerMin;
console.log('\n| workers | jobs | jobs/min | ratio vs 1 worker | verified per worker | site prompts | exactly once | load avg (start → end) |');
console.log('|---:|---:|---:|---:|---|---:|---|---|');
for (const r of results) {
  console.log(`| ${r.workers} | ${r.jobs} | ${r.jobsPerMin.toFixed(1)} | ${base ? (r.jobsPerMin / base).toFixed(2) : '–'} | ${r.perWorker} | ${r.sitePrompts} | ${r.exactlyOnce ? 'yes' : 'NO'} | ${r.loadStart.toFixed(2)} → ${r.loadEnd.toFixed(2)} |`);
}
