// Jobs per minute and memory with 1, 2, 3… profiles (accounts) on one machine (issue 15): the real
// runBook with N profiles (N browsers, each with its hub, tabs and gate) against a mock site in its
// own process (latency 3 s), headless. Per run: jobs per minute from the first start to the last
// verified image, the ratio against the 1-profile run of this invocation, every job verified
// exactly once (journal, files, the site's prompt count), and, sampled as images are verified,
// each profile's browser PSS (its process tree) and the runner's RSS.
//   node scripts/run-ts.mjs bench/profiles.ts [--profiles 1,2,3] [--jobs 30] [--latency-ms 3000]
//     [--concurrency 2] [--min-gap 2]
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { startMockSite } from '../src/mock/server.js';
import { RunEvents } from '../src/report/events.js';
import { runBook } from '../src/run/run-book.js';
import { chromiumPids, pssKb } from './proc.js';

const args = process.argv.slice(2);
function option(name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
}
if (args[0] === '--serve-mock') {
  const site = await startMockSite({ latencyMs: Number(args[1]), urlDelayMs: 700 });
  process.stdout.write(`mock site at ${site.url}\n`);
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await site.close();
  process.exit(0);
}
const COUNTS = option('profiles', '1,2,3').split(',').map(Number);
const JOBS = Number(option('jobs', '30'));
const LATENCY_MS = Number(option('latency-ms', '3000'));
const CONCURRENCY = Number(option('concurrency', '2'));
const MIN_GAP_S = Number(option('min-gap', '2'));
if (COUNTS.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(JOBS) || JOBS < 1) throw new Error('--profiles expects whole numbers ≥ 1 (e.g. 1,2,3) and --jobs a whole number ≥ 1');

interface Result {
  profiles: number;
  jobsPerMin: number;
  verified: number;
  exactlyOnce: boolean;
  sitePrompts: number;
  perProfile: string;
  maxPssMb: number;
  maxTotalPssMb: number;
  maxRunnerRssMb: number;
  load: number;
}

async function once(profiles: number): Promise<Result> {
  const work = await mkdtemp(path.join(tmpdir(), 'semantest-profiles-'));
  const file = path.join(work, 'pool.yaml');
  await writeFile(
    file,
    `book: pool\nstyle: "flat colours"\npacing: { concurrency: ${CONCURRENCY}, minGapSeconds: ${MIN_GAP_S}, jitterSeconds: 0, cooldownEvery: 0, cooldownSeconds: 0 }\nprompts:\n${Array.from({ length: JOBS }, (_, i) => `  - "pool panel ${i + 1}, a lighthouse at dusk"`).join('\n')}\n`,
  );
  const site = spawn(process.execPath, [process.argv[1], '--serve-mock', String(LATENCY_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    site.stdout.on('data', (chunk: Buffer) => {
      const match = /mock site at (\S+)/.exec(chunk.toString());
      if (match) resolve(match[1]);
    });
    site.once('exit', () => reject(new Error('the mock site exited before it was ready')));
  });
  const names = Array.from({ length: profiles }, (_, i) => `p${i + 1}`);
  const profilesDir = path.join(work, 'profiles');
  const events = new RunEvents();
  let firstStart: number | undefined;
  let lastDone = 0;
  let maxPss = 0;
  let maxTotal = 0;
  let maxRss = 0;
  const sample = () => {
    let total = 0;
    for (const name of names) {
      const mb = chromiumPids(path.resolve(profilesDir, name)).reduce((sum, p) => sum + pssKb(p.pid), 0) / 1024;
      maxPss = Math.max(maxPss, mb);
      total += mb;
    }
    maxTotal = Math.max(maxTotal, total);
    maxRss = Math.max(maxRss, process.memoryUsage().rss / 1048576);
  };
  events.on('event', (e) => {
    if (e.type === 'job-start') firstStart ??= performance.now();
    if (e.type === 'job-verified') {
      lastDone = performance.now();
      if (e.done % 5 === 0) sample();
    }
    if (e.type === 'job-failed') console.error('failed', e.id, e.kind, e.message);
  });
  const never = new AbortController().signal;
  try {
    const summary = await runBook({
      file,
      out: path.join(work, 'out'),
      profiles: names,
      profilesDir,
      checkpointsDir: path.join(work, 'checkpoints'),
      headless: true,
      baseUrl: url,
      resume: false,
      retryFailed: false,
      regenerateChanged: false,
      pacing: {},
      retries: 3,
      backoffBaseMs: 500,
      quotaMarginMs: 0,
      rateLimitPauseMs: 60_000,
      generationTimeoutMs: 60_000,
      events,
      interrupt: { soft: never, hard: never },
    });
    const journal = (await readFile(path.join(work, 'checkpoints', 'pool', 'journal.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { state?: string; id?: string });
    const verifiedIds = journal.filter((l) => l.state === 'verified').map((l) => l.id);
    const stats = (await (await fetch(new URL('/__mock/stats', url))).json()) as { prompts: number };
    return {
      profiles,
      jobsPerMin: firstStart === undefined ? 0 : (summary.verified / (lastDone - firstStart)) * 60_000,
      verified: summary.verified,
      exactlyOnce: verifiedIds.length === JOBS && new Set(verifiedIds).size === JOBS && stats.prompts === summary.promptsSent,
      sitePrompts: stats.prompts,
      perProfile: (summary.profiles ?? []).map((p) => `${p.name} ${p.verified}`).join(', '),
      maxPssMb: maxPss,
      maxTotalPssMb: maxTotal,
      maxRunnerRssMb: maxRss,
      load: loadavg()[0],
    };
  } finally {
    site.kill('SIGTERM');
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

console.log(`jobs ${JOBS} per run, mock latency ${LATENCY_MS} ms, per profile: ${CONCURRENCY} tabs, ${MIN_GAP_S} s between starts, no jitter, no cooldown; headless`);
const results: Result[] = [];
for (const n of COUNTS) {
  results.push(await once(n));
  const r = results.at(-1)!;
  console.log(`  ${n} profile${n === 1 ? '' : 's'}: ${r.jobsPerMin.toFixed(1)} jobs/min (${r.perProfile}), exactly once: ${r.exactlyOnce}`);
}
const base = results.find((r) => r.profiles === 1)?.jobsPerMin;
console.log('\n| profiles | jobs | jobs/min | ratio vs 1 profile | PSS per browser, max (MB) | all browsers PSS, max (MB) | runner RSS max (MB) | site prompts | exactly once | load avg |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|');
for (const r of results) {
  console.log(`| ${r.profiles} | ${r.verified} | ${r.jobsPerMin.toFixed(1)} | ${base ? (r.jobsPerMin / base).toFixed(2) : '–'} | ${r.maxPssMb.toFixed(0)} | ${r.maxTotalPssMb.toFixed(0)} | ${r.maxRunnerRssMb.toFixed(0)} | ${r.sitePrompts} | ${r.exactlyOnce ? 'yes' : 'NO'} | ${r.load.toFixed(2)} |`);
}
