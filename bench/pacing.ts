// How close a real run comes to the pacing rules' ideal: 200 jobs on the mock site (latency 300 ms),
// gap 100 ms, concurrency 5, cooldown 1 s every 25. Prints ideal / measured (goal ≥ 0.95).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RunEvents } from '../src/report/events.js';
import { runBook } from '../src/run/run-book.js';
import { startMockSite } from '../src/mock/server.js';
import { Gate, pacingToGateOptions } from '../src/schedule/gate.js';

const N = Number(process.argv[2] ?? 200);
const LATENCY_MS = 300;
const pacing = { concurrency: 5, minGapSeconds: 0.1, jitterSeconds: 0, cooldownEvery: 25, cooldownSeconds: 1 };
const work = await mkdtemp(path.join(tmpdir(), 'semantest-pacing-'));
const file = path.join(work, 'pacing.yaml');
await writeFile(file, `book: pacing\nstyle: "ink"\npacing: ${JSON.stringify(pacing)}\nprompts:\n${Array.from({ length: N }, (_, i) => `  - "pacing panel ${i + 1}"`).join('\n')}\n`);

const events = new RunEvents();
let first = 0;
let last = 0;
const starts: number[] = [];
const startedAt = new Map<string, number>();
const jobMs: number[] = [];
events.on('event', (e) => {
  if (e.type === 'job-start') {
    startedAt.set(e.id, performance.now());
    first ||= performance.now();
  }
  // The gate's turn: granted on a fresh chat, right before the prompt goes out.
  if (e.type === 'job-progress' && e.phase === 'paced') starts.push(performance.now());
  if (e.type === 'job-verified' || e.type === 'job-failed') {
    last = performance.now();
    jobMs.push(performance.now() - (startedAt.get(e.id) ?? last));
  }
});
const never = new AbortController().signal;
const site = await startMockSite({ latencyMs: LATENCY_MS, dom: '2024', urlDelayMs: 0 });
const summary = await runBook({
  file,
  out: path.join(work, 'out'),
  profiles: ['pacing'],
  profilesDir: path.join(work, 'profiles'),
  checkpointsDir: path.join(work, 'checkpoints'),
  headless: true,
  baseUrl: site.url,
  resume: false,
  retryFailed: false,
  regenerateChanged: false,
  pacing: {},
  retries: 2,
  backoffBaseMs: 1000,
  quotaMarginMs: 0,
  rateLimitPauseMs: 60_000,
  generationTimeoutMs: 60_000,
  events,
  interrupt: { soft: never, hard: never },
}).finally(() => site.close());
const measured = last - first;
const rules = pacingToGateOptions(pacing);
const ideal = Gate.idealDurationMs(N, LATENCY_MS, rules);
// The same rules with the job time this machine actually needed (page steps, download, proof):
// how much the scheduler itself loses, apart from how long one job takes.
const meanJobMs = jobMs.reduce((a, b) => a + b, 0) / jobMs.length;
const idealMeasuredJob = Gate.idealDurationMs(N, meanJobMs, rules);
const gaps = starts.slice(1).map((t, i) => t - starts[i]);
console.log(`jobs: ${N} (${summary.verified} verified, ${summary.failed.length} failed), mock latency ${LATENCY_MS} ms, gap 100 ms, concurrency 5, cooldown 1 s every 25`);
console.log(`ideal (pacing rules alone, ${LATENCY_MS} ms per job): ${(ideal / 1000).toFixed(2)} s`);
console.log(`measured (first start → last end): ${(measured / 1000).toFixed(2)} s`);
console.log(`ideal / measured: ${(ideal / measured).toFixed(3)}`);
console.log(`mean job time here (start → verified): ${meanJobMs.toFixed(0)} ms; ideal with it: ${(idealMeasuredJob / 1000).toFixed(2)} s; ratio ${(idealMeasuredJob / measured).toFixed(3)}`);
console.log(`smallest gap between the gate's turns (as events reach the listener): ${Math.min(...gaps).toFixed(1)} ms`);
if (summary.siteMinPromptGapMs !== undefined) console.log(`smallest gap between prompts arriving at the site: ${summary.siteMinPromptGapMs.toFixed(1)} ms`);
await rm(work, { recursive: true, force: true });
