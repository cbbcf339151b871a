// A long run's memory, file descriptors and CPU: N jobs (default 2000) through the real runner on
// the mock site (latency 0, concurrency 5, a seeded 5 % of transient "Something went wrong" answers),
// headless, the site in its own process, sampled every 100 verified jobs from /proc (docs/ARCHITECTURE.md "Long runs"). At the
// end: the table, a check that every job was verified exactly once, and CPU per image beside a naive
// Playwright loop on the same machine.
//   node scripts/run-ts.mjs bench/soak.ts [--jobs N] [--faults error:0.05] [--recycle-tabs-every N] [--naive N]
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright';
import { findChromium } from '../src/browser/discover.js';
import { startMockSite } from '../src/mock/server.js';
import { loadProvider } from '../src/providers/index.js';
import { attachConsole } from '../src/report/console.js';
import { RunEvents } from '../src/report/events.js';
import { BrowserCpu, chromiumPids, cpuOf, fdCount, pssKb } from './proc.js';
import { runBook } from '../src/run/run-book.js';

const args = process.argv.slice(2);
function option(name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
}
const N = Number(option('jobs', '2000'));
const FAULTS = option('faults', 'error:0.05');
const RECYCLE = option('recycle-tabs-every', '');
const NAIVE = Number(option('naive', '200'));
const EVERY = Number(option('sample-every', '100'));
// The site runs in its own process (as an independent site would), so the runner's figures are the runner's.
if (args[0] === '--serve-mock') {
  const site = await startMockSite({ latencyMs: 0, urlDelayMs: 0, faults: args[1], seed: 14 });
  process.stdout.write(`mock site at ${site.url}\n`);
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await site.close();
  process.exit(0);
}
if (!Number.isInteger(N) || N < 1) throw new Error(`--jobs expects a whole number ≥ 1, got ${option('jobs', '')}`);

// The /proc readers are shared with bench/profiles.ts.

interface Sample {
  jobs: number;
  atS: number;
  load: number;
  browserPssMb: number;
  rendererMaxMb: number;
  renderers: number;
  /** Every renderer's PSS, largest first (tabs, the extension's page). */
  rendererMbs: number[];
  runnerRssMb: number;
  heapUsedMb: number;
  runnerFds: number;
  browserFds: number;
  runnerCpuS: number;
  browserCpuS: number;
}

function sampleNow(jobs: number, t0: number, profileDir: string, cpu: BrowserCpu): Sample {
  const procs = chromiumPids(profileDir);
  let total = 0;
  let rendererMax = 0;
  const rendererMbs: number[] = [];
  let browserFds = 0;
  for (const p of procs) {
    const kb = pssKb(p.pid);
    total += kb;
    if (p.renderer) {
      rendererMax = Math.max(rendererMax, kb);
      rendererMbs.push(Math.round(kb / 1024));
    }
    browserFds += fdCount(p.pid);
  }
  const mem = process.memoryUsage();
  return {
    jobs,
    atS: (performance.now() - t0) / 1000,
    load: loadavg()[0],
    browserPssMb: total / 1024,
    rendererMaxMb: rendererMax / 1024,
    renderers: procs.filter((p) => p.renderer).length,
    rendererMbs: rendererMbs.sort((x, y) => y - x),
    runnerRssMb: mem.rss / 1048576,
    heapUsedMb: mem.heapUsed / 1048576,
    runnerFds: fdCount('self'),
    browserFds,
    runnerCpuS: cpuOf('self')?.cpu ?? 0,
    browserCpuS: cpu.sample(procs.map((p) => p.pid)),
  };
}

function table(samples: Sample[]): string {
  const head = ['jobs', 'time s', 'load', 'browser PSS MB', 'max renderer MB', 'renderers', 'runner RSS MB', 'heapUsed MB', 'runner fds', 'browser fds', 'runner CPU s', 'browser CPU s'];
  const rows = samples.map((s) => [s.jobs, s.atS.toFixed(0), s.load.toFixed(2), s.browserPssMb.toFixed(0), s.rendererMaxMb.toFixed(0), s.renderers, s.runnerRssMb.toFixed(0), s.heapUsedMb.toFixed(0), s.runnerFds, s.browserFds, s.runnerCpuS.toFixed(0), s.browserCpuS.toFixed(0)].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

// ---------- the soak ----------

// scripts/run-ts.mjs preloads dist/tune.cjs as bin/semantest-run.cjs does; say what it set (SEMANTEST_TUNE=off: the baseline).
const tuning = (createRequire(import.meta.url)('../tune.cjs') as { tuning: { applied: string[]; skipped: string[] } }).tuning;
console.log(`[soak] runner tuning: ${tuning.applied.join('; ') || 'none'}${tuning.skipped.length ? ` (skipped: ${tuning.skipped.join('; ')})` : ''}`);
const work = await mkdtemp(path.join(tmpdir(), 'semantest-soak-'));
const promptFile = path.join(work, 'soak.yaml');
await writeFile(
  promptFile,
  `book: soak\nstyle: "flat colours"\npacing: { concurrency: 5, minGapSeconds: 0, jitterSeconds: 0, cooldownEvery: 0, cooldownSeconds: 0 }\nprompts:\n${Array.from({ length: N }, (_, i) => `  - "soak panel number ${i + 1}, a lighthouse at dusk"`).join('\n')}\n`,
);
const mockProcess = spawn(process.execPath, [process.argv[1], '--serve-mock', FAULTS], { stdio: ['ignore', 'pipe', 'inherit'] });
const siteUrl = await new Promise<string>((resolve, reject) => {
  mockProcess.stdout.on('data', (chunk: Buffer) => {
    const match = /mock site at (\S+)/.exec(chunk.toString());
    if (match) resolve(match[1]);
  });
  mockProcess.once('exit', () => reject(new Error('the mock site exited before it was ready')));
});
// A soak stopped early (Ctrl-C, kill) must not leave its site running.
process.on('exit', () => mockProcess.kill('SIGTERM'));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
const siteStats = async () => (await (await fetch(new URL('/__mock/stats', siteUrl))).json()) as { prompts: number; faults: Record<string, number> };
const profilesDir = path.join(work, 'profiles');
const profileDir = path.resolve(profilesDir, 'soak');
const outDir = path.join(work, 'out');

const events = new RunEvents();
// The CLI's own line printer is attached (as in a real non-terminal run), its lines dropped.
attachConsole(events, { json: false, live: false, write: () => undefined });
const verifiedPerJob = new Map<string, number>();
let retries = 0;
let failedEvents = 0;
const samples: Sample[] = [];
const browserCpu = new BrowserCpu();
let t0 = 0;
events.on('event', (e) => {
  if (e.type === 'run-start') {
    t0 = performance.now();
    samples.push(sampleNow(0, t0, profileDir, browserCpu));
  }
  if (e.type === 'job-retry') retries += 1;
  if (e.type === 'job-failed') {
    failedEvents += 1;
    console.error(`failed: ${e.id} ${e.kind} ${e.message}`);
  }
  if (e.type === 'job-verified') {
    verifiedPerJob.set(e.id, (verifiedPerJob.get(e.id) ?? 0) + 1);
    const done = verifiedPerJob.size;
    if (done % EVERY === 0) {
      const s = sampleNow(done, t0, profileDir, browserCpu);
      samples.push(s);
      const m = process.memoryUsage();
      console.log(`[soak] ${done}/${N} at ${s.atS.toFixed(0)} s (load ${s.load.toFixed(2)}): browser PSS ${s.browserPssMb.toFixed(0)} MB, max renderer ${s.rendererMaxMb.toFixed(0)} MB, runner RSS ${s.runnerRssMb.toFixed(0)} MB, heap ${s.heapUsedMb.toFixed(0)}/${(m.heapTotal / 1048576).toFixed(0)} MB, external ${(m.external / 1048576).toFixed(0)} MB, fds ${s.runnerFds}/${s.browserFds}, renderers ${s.rendererMbs.join(' ')}`);
    }
  }
  if (e.type === 'note') console.log(`[note] ${e.message}`);
});
const never = new AbortController().signal;
const runOptions = {
  file: promptFile,
  out: outDir,
  profiles: ['soak'],
  profilesDir,
  checkpointsDir: path.join(work, 'checkpoints'),
  headless: true,
  baseUrl: siteUrl,
  resume: false,
  retryFailed: false,
  regenerateChanged: false,
  pacing: {},
  retries: 3,
  backoffBaseMs: 200,
  quotaMarginMs: 0,
  rateLimitPauseMs: 60_000,
  generationTimeoutMs: 60_000,
  events,
  interrupt: { soft: never, hard: never },
  ...(RECYCLE !== '' ? { recycleTabsEvery: Number(RECYCLE) } : {}),
};
const cpuBefore = cpuOf('self')?.cpu ?? 0;
const summary = await runBook(runOptions as Parameters<typeof runBook>[0]);
// The last reading of every browser process was taken at the last sample; the browser is closed now.
const runnerCpu = (cpuOf('self')?.cpu ?? 0) - cpuBefore;
const last = samples[samples.length - 1];
const stats = await siteStats();
mockProcess.kill('SIGTERM');

// ---------- exactly once ----------

const problems: string[] = [];
const doubled = [...verifiedPerJob].filter(([, n]) => n > 1).map(([id]) => id);
if (doubled.length) problems.push(`verified more than once: ${doubled.slice(0, 5).join(', ')}`);
if (verifiedPerJob.size !== N || summary.verified !== N) problems.push(`verified ${verifiedPerJob.size} distinct jobs (summary ${summary.verified}) of ${N}`);
// Every prompt the site received is a job's first send or one retry of it: none lost, none sent twice.
if (stats.prompts !== N + retries) problems.push(`the site received ${stats.prompts} prompts for ${N} jobs and ${retries} retries`);
const bookDir = path.join(outDir, 'soak');
const entries = await readdir(bookDir, { recursive: true, withFileTypes: true });
const pngs = entries.filter((e) => e.isFile() && e.name.endsWith('.png') && !path.join(e.parentPath, e.name).includes(`${path.sep}.evidence${path.sep}`)).map((e) => path.join(e.parentPath, e.name));
const sidecarIds = new Set<string>();
const hashes = new Set<string>();
for (const png of pngs) {
  const sidecar = JSON.parse(await readFile(png.replace(/\.png$/, '.json'), 'utf8')) as { jobId: string; sha256: string };
  sidecarIds.add(sidecar.jobId);
  hashes.add(sidecar.sha256);
}
if (pngs.length !== N || sidecarIds.size !== N || hashes.size !== N) problems.push(`on disk: ${pngs.length} images, ${sidecarIds.size} distinct job ids, ${hashes.size} distinct hashes (want ${N} of each)`);
if (failedEvents) problems.push(`${failedEvents} jobs failed`);

// ---------- a naive loop on the same machine ----------

/** Plain Playwright on the mock: fill the composer, wait, fetch the image, write it. Nothing else. */
async function naiveLoop(n: number): Promise<{ cpuPerImage: number; runnerCpu: number; browserCpu: number }> {
  const site = await startMockSite({ latencyMs: 0, urlDelayMs: 0 });
  const p = loadProvider('chatgpt', site.url);
  const dir = path.join(work, 'naive');
  await mkdir(dir, { recursive: true });
  const naiveProfile = path.join(work, 'naive-profile');
  const context = await chromium.launchPersistentContext(naiveProfile, { executablePath: findChromium(), headless: true, viewport: { width: 1280, height: 900 } });
  const cpu = new BrowserCpu();
  const one = async (page: import('playwright').Page, i: number) => {
    await page.goto(site.url, { waitUntil: 'domcontentloaded' });
    const composer = page.locator(p.selectors.composer.join(', ')).first();
    await composer.click();
    // The 2026 page answers in words unless asked for an image: the prefix asks.
    await page.keyboard.insertText(`${p.imagePrefix}naive panel ${i}, a lighthouse at dusk`);
    await page.locator(p.selectors.send.join(', ')).first().click();
    await page.getByText('Image created').waitFor();
    const img = page.locator('img[alt^="Generated image"]:not([alt*="partial"])').last();
    const src = await img.evaluate((e) => (e as HTMLImageElement).src);
    await writeFile(path.join(dir, `${i}.png`), await (await context.request.get(src)).body());
  };
  const pages = await Promise.all(Array.from({ length: 5 }, () => context.newPage()));
  await Promise.all(pages.map((page, w) => one(page, -1 - w))); // warm-up: first loads
  const pids = () => chromiumPids(naiveProfile).map((x) => x.pid);
  const runner0 = cpuOf('self')?.cpu ?? 0;
  const browser0 = cpu.sample(pids());
  let next = 0;
  await Promise.all(pages.map(async (page) => {
    for (let i = next++; i < n; i = next++) await one(page, i);
  }));
  const runnerCpu = (cpuOf('self')?.cpu ?? 0) - runner0;
  const browserCpuS = cpu.sample(pids()) - browser0;
  await context.close();
  await site.close();
  return { cpuPerImage: (runnerCpu + browserCpuS) / n, runnerCpu, browserCpu: browserCpuS };
}

// ---------- report ----------

console.log(`\nsoak: ${N} jobs, mock latency 0, concurrency 5, faults ${FAULTS} (seed 14), headless${RECYCLE ? `, --recycle-tabs-every ${RECYCLE}` : ''}`);
console.log(table(samples));
const at = (jobs: number) => samples.find((s) => s.jobs === jobs);
const from = at(200) ?? samples[1];
if (from && last) {
  const growth = (last.browserPssMb / from.browserPssMb - 1) * 100;
  console.log(`browser PSS job ${from.jobs} → ${last.jobs}: ${from.browserPssMb.toFixed(0)} → ${last.browserPssMb.toFixed(0)} MB (${growth >= 0 ? '+' : ''}${growth.toFixed(1)} %)`);
  console.log(`runner RSS peak over samples: ${Math.max(...samples.map((s) => s.runnerRssMb)).toFixed(0)} MB; fds runner ${from.runnerFds} → ${last.runnerFds}, browser ${from.browserFds} → ${last.browserFds}`);
}
const semCpu = (runnerCpu + (last?.browserCpuS ?? 0)) / N;
console.log(`prompts the site received: ${stats.prompts} (${N} jobs + ${retries} retries; faults ${JSON.stringify(stats.faults)}); wall ${(summary.elapsedMs / 1000).toFixed(0)} s`);
console.log(`CPU per image: semantest ${semCpu.toFixed(3)} s (runner ${(runnerCpu / N).toFixed(3)} + browser ${((last?.browserCpuS ?? 0) / N).toFixed(3)}; browser CPU up to the last sample)`);
let naive: Awaited<ReturnType<typeof naiveLoop>> | undefined;
try {
  naive = NAIVE > 0 ? await naiveLoop(NAIVE) : undefined;
} catch (error) {
  console.log(`naive loop failed: ${(error as Error).message.split('\n')[0]}`);
}
if (naive) console.log(`CPU per image: naive Playwright loop (${NAIVE} images, 5 tabs) ${naive.cpuPerImage.toFixed(3)} s (runner ${(naive.runnerCpu / NAIVE).toFixed(3)} + browser ${(naive.browserCpu / NAIVE).toFixed(3)}); ratio ${(semCpu / naive.cpuPerImage).toFixed(2)}`);
console.log(`load average (1/5/15 min) at the end: ${loadavg().map((l) => l.toFixed(2)).join(' / ')}`);
if (problems.length) {
  console.log(`NOT exactly once:\n  ${problems.join('\n  ')}`);
  process.exitCode = 1;
} else {
  console.log(`exactly once: ${N} jobs verified once each; ${pngs.length} images on disk with ${N} distinct job ids and hashes`);
}
await rm(work, { recursive: true, force: true }).catch(() => undefined); // a browser still closing may hold its profile
// Whatever a failed naive loop left open must not keep the bench alive.
process.exit(process.exitCode ?? 0);
