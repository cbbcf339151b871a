// The semantest-run command line (ARCHITECTURE §9). Library code never exits; `execute` owns messages,
// exit codes and process.exit for every command.
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { SemantestError, UsageError } from '../protocol/errors.js';
import { RunEvents } from '../report/events.js';
import { attachConsole, jsonLine, liveStatusWanted } from '../report/console.js';
import { cleanText } from '../protocol/text.js';
import { runBook } from '../run/run-book.js';
import { DEFAULT_RECYCLE_TABS_EVERY } from '../run/tab-pool.js';
import { evaluateValidation } from '../run/validation.js';
import { formatValidationReport } from '../report/validation-report.js';
import { loadBookFor } from '../prompts/index.js';
import { startMockSite } from '../mock/server.js';
import { attachDashboard } from '../dashboard/attach.js';
import { printStatus } from './status.js';
import { runPlan } from './plan.js';
import { runReject } from './reject.js';
import { runReport } from './report.js';
import { runLogin } from './login.js';
import { runDoctor } from './doctor.js';
import { hooksFromEnv } from './test-hooks.js';
import { referencePath } from '../run/references.js';
import { runWithSheetsFirst, sheetLoader } from './sheets-first.js';
import type { PromptBook } from '../prompts/types.js';
import type { JobFeed } from '../run/run-book.js';
import { fleetCommands } from './fleet.js';
import { fleetDashboardCommand } from './fleet-dashboard.js';
import { parseDurationOption } from './duration.js';
import { findChromium } from '../browser/discover.js';

async function execute(action: () => Promise<number | void>): Promise<never> {
  let code: number;
  try {
    code = (await action()) ?? 0;
  } catch (error) {
    if (error instanceof SemantestError) {
      // A message may quote a prompt file or the page: no control character reaches the terminal.
      process.stderr.write(`semantest-run: ${cleanText(error.message)}\n`);
      code = error.exitCode;
    } else {
      process.stderr.write(`semantest-run: unexpected error: ${cleanText((error as Error)?.stack ?? String(error))}\n`);
      code = 1;
    }
  }
  process.exit(code);
}

function nonNegative(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < 0) throw new UsageError(`--${name} expects a number ≥ 0, got ${value}`);
  return value;
}

/** Longest wait a seconds option may ask for: a day (Node's timers cannot wait past 24.8 days at all). */
const MAX_SECONDS = 86_400;

/** A number of seconds ≥ 0 and at most a day. */
function seconds(name: string, value: number | undefined): number | undefined {
  const checked = nonNegative(name, value);
  if (checked !== undefined && checked > MAX_SECONDS) throw new UsageError(`--${name} expects at most ${MAX_SECONDS} seconds (a day), got ${checked}`);
  return checked;
}

function wholeNumber(name: string, value: number | undefined): number | undefined {
  if (value !== undefined && !Number.isInteger(value)) throw new UsageError(`--${name} expects a whole number ≥ 0, got ${value}`);
  return nonNegative(name, value);
}

/** Options given as lists (`--profile a --profile b`, `characters --only mara tom`, `reject`'s ids). */
const LISTS = new Set(['_', 'profile', 'ids']);

/** Options that name a file or folder: an empty one would silently mean the current folder. */
const PATHS = ['out', 'checkpoints-dir', 'profiles-dir', 'provider-file', 'browser'];

/**
 * What every command's options must be, said as a usage error naming the option (exit 2) before
 * anything runs: given once (a second one is yargs' array of both, which no command expects), a
 * path not empty, a port a port.
 */
function commonChecks(argv: Record<string, unknown>): true | string {
  for (const key of PATHS) if (argv[key] === '') return `--${key} expects a path, got ""`;
  for (const key of ['port', 'dashboard-port']) {
    const value = argv[key];
    if (value !== undefined && !Array.isArray(value) && !(Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 65_535)) {
      return `--${key} expects a port from 0 to 65535 (0: any free one), got ${String(value).slice(0, 40)}`;
    }
  }
  for (const [key, value] of Object.entries(argv)) {
    if (!Array.isArray(value) || LISTS.has(key) || /[A-Z]/.test(key)) continue;
    if (key === 'only' && argv._ instanceof Array && argv._[0] === 'characters') continue;
    const shown = value.slice(0, 4).map((v) => JSON.stringify(String(v).slice(0, 80))).join(', ');
    return `--${key} was given ${value.length} times (${shown}${value.length > 4 ? ', …' : ''}): give it once`;
  }
  return true;
}

const MOCK_OPTIONS = ['mock-latency-ms', 'mock-url-delay-ms', 'mock-faults', 'mock-seed', 'mock-quota-reset', 'mock-dom', 'mock-churn', 'mock-image-tool', 'mock-composer', 'mock-upload-ms', 'mock-lang'];

/** The mock site's knobs, shared by a run with --mock and by `semantest-run mock`. */
function mockOptions<T>(y: Argv<T>) {
  return y
    .option('mock-latency-ms', { type: 'number', default: 1500, describe: 'mock: time to generate one image' })
    .option('mock-url-delay-ms', {
      type: 'number',
      default: 700,
      describe: 'mock: time from a prompt arriving to the site answering it (the URL becomes /c/<id>); 0 = at once',
    })
    .option('mock-faults', { type: 'string', describe: 'mock: faults to inject, e.g. "error@2,cooldown:0.1,reload+policy@3"' })
    .option('mock-seed', { type: 'number', default: 1, describe: 'mock: seed for probabilistic faults' })
    .option('mock-quota-reset', { type: 'string', describe: 'mock: the reset time its usage-cap message names, e.g. "5 seconds"' })
    .option('mock-dom', { type: 'string', default: '2026', describe: 'mock: which page it renders: 2024 (the 2024–25 page), 2026, or 2026-blob (blob: image srcs)' })
    .option('mock-churn', { type: 'string', default: 'none', describe: 'mock: markup drift: none, cosmetic (the contract\'s anchors stay) or breaking (the composer is gone)' })
    .option('mock-image-tool', { type: 'string', default: 'on', describe: 'mock: whether the 2026 page offers the "Create image" tool: on or off' })
    .option('mock-composer', { type: 'string', default: 'sep-2026', describe: 'mock: the 2026 page\'s composer for attachments: sep-2026 or mid-2026' })
    .option('mock-upload-ms', { type: 'number', default: 1500, describe: 'mock: time for one attached file to upload' })
    .option('mock-lang', { type: 'string', default: 'en', describe: 'mock: the language of the 2026 page\'s two-image question: en or de' });
}

function mockSettings(args: {
  'mock-latency-ms': number;
  'mock-url-delay-ms': number;
  'mock-faults'?: string;
  'mock-seed': number;
  'mock-quota-reset'?: string;
  'mock-dom'?: string;
  'mock-churn'?: string;
  'mock-image-tool'?: string;
  'mock-composer'?: string;
  'mock-upload-ms'?: number;
  'mock-lang'?: string;
}) {
  const oneOf = <T extends string>(name: string, value: string, allowed: readonly T[]): T => {
    if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} expects one of ${allowed.join(', ')}, got "${value}"`);
    return value as T;
  };
  return {
    latencyMs: nonNegative('mock-latency-ms', args['mock-latency-ms'])!,
    urlDelayMs: nonNegative('mock-url-delay-ms', args['mock-url-delay-ms'])!,
    faults: args['mock-faults'],
    seed: args['mock-seed'],
    quotaResetText: args['mock-quota-reset'],
    dom: oneOf('mock-dom', String(args['mock-dom'] ?? '2026'), ['2024', '2026', '2026-blob'] as const),
    churn: oneOf('mock-churn', String(args['mock-churn'] ?? 'none'), ['none', 'cosmetic', 'breaking'] as const),
    imageTool: oneOf('mock-image-tool', String(args['mock-image-tool'] ?? 'on'), ['on', 'off'] as const) === 'on',
    composer: oneOf('mock-composer', String(args['mock-composer'] ?? 'sep-2026'), ['mid-2026', 'sep-2026'] as const),
    uploadMs: nonNegative('mock-upload-ms', args['mock-upload-ms'] ?? 1500)!,
    lang: oneOf('mock-lang', String(args['mock-lang'] ?? 'en'), ['en', 'de'] as const),
  };
}

function runOptions(y: Argv) {
  return mockOptions(y)
    .positional('file', { type: 'string', describe: 'the prompt file (YAML)', demandOption: true })
    .option('resume', { type: 'boolean', default: false, describe: 'continue the book from its checkpoint: verified panels are skipped' })
    .option('out', { type: 'string', default: 'output', describe: 'output folder; images go to <out>/<book>/<chapter>/<strip>/' })
    .option('profile', { type: 'string', array: true, describe: 'browser profile under profiles/ (your logged-in session); repeat it to share the book among several accounts (default: the file\'s profiles:, else "default")' })
    .option('reassign-after', { type: 'string', default: '10m', describe: 'after how long a panel started by a profile that is gone is sent again by another (one more prompt), e.g. 90s or 10m' })
    .option('trace', { type: 'boolean', default: false, describe: 'keep a Playwright trace of each failed attempt in .evidence; it holds your session cookie: never share it' })
    .option('profiles-dir', { type: 'string', default: 'profiles', hidden: true })
    .option('checkpoints-dir', { type: 'string', default: 'checkpoints', hidden: true })
    .option('headless', { type: 'boolean', default: false, describe: 'no browser window (needed on machines without a display)' })
    .option('browser', { type: 'string', describe: 'path to a Chromium binary (also SEMANTEST_CHROMIUM)' })
    .option('mock', { type: 'boolean', default: false, describe: 'run against the built-in mock site instead of the real one' })
    .option('base-url', { type: 'string', describe: 'point the provider at another site with the same page contract' })
    .option('provider-file', { type: 'string', describe: 'an updated provider descriptor (JSON) to use instead of the built-in one' })
    .option('limit', { type: 'number', describe: 'generate at most N images this run' })
    .option('only', { type: 'string', describe: 'only job ids matching this glob, e.g. "ch1/s2/*"' })
    .option('validate', {
      type: 'string',
      describe: 'a validation batch: run N (default 10) jobs not yet verified, spread over chapters, strips and locales, then say whether they clear --validate-bar (exit 0) or not (exit 1); after the file, e.g. `book.yaml --validate 10`',
    })
    .option('validate-bar', { type: 'string', describe: 'with --validate: the share of the sample that must be verified, in percent (default 90)' })
    .option('retry-failed', { type: 'boolean', default: false, describe: 'on --resume, also retry jobs that failed for policy or verification' })
    .option('regenerate-changed', { type: 'boolean', default: false, describe: 'on --resume, redo verified panels whose prompt changed' })
    .option('dry-run', { type: 'boolean', default: false, describe: 'print the jobs and their final prompts, open nothing' })
    .option('concurrency', { type: 'number', describe: 'jobs in flight at once (one tab each)' })
    .option('min-gap', { type: 'number', describe: 'minimum seconds between two prompts' })
    .option('jitter', { type: 'number', describe: 'up to this many random seconds added to each gap' })
    .option('cooldown-every', { type: 'number', describe: 'rest after every N prompts (0 = never)' })
    .option('cooldown', { type: 'number', describe: 'seconds of each rest' })
    .option('retries', { type: 'number', default: 3, describe: 'retries of a job after transient failures' })
    .option('backoff', { type: 'number', default: 10, describe: 'seconds before the first retry (doubles each time)' })
    .option('quota-margin', { type: 'number', default: 120, describe: 'seconds added to a usage cap\'s announced reset time' })
    .option('rate-limit-pause', { type: 'number', default: 300, describe: 'seconds of the first pause when the site says to slow down (grows, jittered)' })
    .option('generation-timeout', { type: 'number', default: 180, describe: 'seconds to wait for one image' })
    .option('json', { type: 'boolean', default: false, describe: 'print progress as JSON lines' })
    .option('dashboard', { type: 'boolean', default: true, describe: 'serve the live dashboard on 127.0.0.1 (--no-dashboard: none)' })
    .option('dashboard-port', { type: 'number', describe: 'port of the dashboard (default: any free one)' })
    .option('recycle-tabs-every', { type: 'number', describe: `replace each tab by a fresh one after this many jobs in it, to keep the browser's memory flat on long runs (0 = never; default ${DEFAULT_RECYCLE_TABS_EVERY})` })
    // --help lists groups in this order: what a first run needs, then pacing, then the rest; the
    // mock's knobs last, since only demos and tests use them. A new option belongs in one of these.
    .group(['resume', 'out', 'profile', 'headless', 'dry-run', 'help'], 'Start here:')
    .group(['concurrency', 'min-gap', 'jitter', 'cooldown-every', 'cooldown'], 'Pacing (default: the file\'s pacing:, else 5 tabs, 8 s apart):')
    .group(['limit', 'only', 'validate', 'validate-bar', 'retry-failed', 'regenerate-changed'], 'Which panels:')
    .group(['retries', 'backoff', 'quota-margin', 'rate-limit-pause', 'generation-timeout', 'recycle-tabs-every', 'reassign-after'], 'Retries and waits:')
    .group(['browser', 'base-url', 'provider-file'], 'Browser and site:')
    .group(['json', 'dashboard', 'dashboard-port', 'trace'], 'Progress and evidence:')
    .group(['mock', ...MOCK_OPTIONS], 'Built-in mock site (demos and tests):');
}

type RunArgs = Awaited<ReturnType<ReturnType<typeof runOptions>['parseAsync']>>;

/**
 * A run's options, checked and converted: every bad value is a UsageError naming the option. The
 * run command checks them before it makes any character sheet, so a typo stops it at once.
 */
function runSettings(args: RunArgs) {
  const concurrency = nonNegative('concurrency', args.concurrency);
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1)) throw new UsageError(`--concurrency expects a whole number ≥ 1, got ${concurrency}`);
  const limit = wholeNumber('limit', args.limit);
  const validation = validationOptions(args.validate, args['validate-bar'], limit);
  const generationTimeout = seconds('generation-timeout', args['generation-timeout'])!;
  if (generationTimeout === 0) throw new UsageError('--generation-timeout must be more than 0 seconds');
  // A browser that is not there is said now, not after the character sheets' first line.
  if (args.browser !== undefined) findChromium(args.browser);
  // --out and the ports are checked for every command by commonChecks.
  const dashboardPort = args['dashboard-port'];
  return {
    concurrency,
    limit,
    validation,
    generationTimeout,
    pacing: {
      concurrency,
      minGapSeconds: seconds('min-gap', args['min-gap']),
      jitterSeconds: seconds('jitter', args.jitter),
      cooldownEvery: wholeNumber('cooldown-every', args['cooldown-every']),
      cooldownSeconds: seconds('cooldown', args.cooldown),
    },
    retries: wholeNumber('retries', args.retries)!,
    backoffBaseMs: seconds('backoff', args.backoff)! * 1000,
    quotaMarginMs: seconds('quota-margin', args['quota-margin'])! * 1000,
    rateLimitPauseMs: seconds('rate-limit-pause', args['rate-limit-pause'])! * 1000,
    dashboardPort,
    reassignAfterMs: parseDurationOption(args['reassign-after'], 'reassign-after'),
    recycleTabsEvery: wholeNumber('recycle-tabs-every', args['recycle-tabs-every']),
    mock: args.mock ? mockSettings(args) : undefined,
  };
}

/** `loadBook`: what the run loads instead of the prompt file's panels (the `characters` command's sheets). */
async function run(args: RunArgs, loadBook?: (file: string) => Promise<PromptBook>, feedFor?: (events: RunEvents) => JobFeed): Promise<number> {
  const file = String(args.file);
  if (args['dry-run']) {
    const book = await loadBookFor(file, args.out);
    for (const job of book.jobs) {
      process.stdout.write(`${job.id}\t${cleanText(job.finalPrompt, { singleLine: true })}\n`);
      // Each reference the panel attaches, in the order it is attached (ARCHITECTURE §4, "Attachments").
      for (const ref of job.refs ?? []) process.stdout.write(`\treference ${cleanText(ref.character, { singleLine: true })}: ${cleanText(referencePath(ref.file, file), { singleLine: true })}\n`);
    }
    process.stdout.write(`${book.jobs.length} jobs in ${book.book}\n`);
    return 0;
  }
  const settings = runSettings(args);
  const { concurrency, limit, validation, generationTimeout } = settings;

  const events = new RunEvents();
  attachConsole(events, { json: args.json, live: liveStatusWanted(process.stdout) });
  const soft = new AbortController();
  const hard = new AbortController();
  const onSigint = () => {
    if (!soft.signal.aborted) {
      events.emitEvent({ type: 'stopping', reason: 'Ctrl-C: finishing the images in flight, then stopping (Ctrl-C again stops now)' });
      soft.abort();
    } else {
      events.emitEvent({ type: 'stopping', reason: 'Ctrl-C again: stopping now; the checkpoint is saved' });
      hard.abort();
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  // The mock site is the CLI's to start (src/run knows only a base URL), and stops after the run.
  const site = settings.mock ? await startMockSite(settings.mock) : undefined;
  const summary = await runBook({
    file,
    out: args.out,
    profiles: (args.profile ?? []).map(String),
    profilesDir: args['profiles-dir'],
    checkpointsDir: args['checkpoints-dir'],
    headless: args.headless,
    browser: args.browser,
    baseUrl: site?.url ?? args['base-url'],
    providerFile: args['provider-file'],
    siteStats: site ? () => site.stats() : undefined,
    resume: args.resume,
    limit,
    only: args.only,
    retryFailed: args['retry-failed'],
    regenerateChanged: args['regenerate-changed'],
    validate: validation?.size,
    pacing: settings.pacing,
    retries: settings.retries,
    backoffBaseMs: settings.backoffBaseMs,
    quotaMarginMs: settings.quotaMarginMs,
    rateLimitPauseMs: settings.rateLimitPauseMs,
    generationTimeoutMs: generationTimeout * 1000,
    events,
    interrupt: { soft: soft.signal, hard: hard.signal },
    hooks: hooksFromEnv(),
    attach: args.dashboard ? (run) => attachDashboard(run, settings.dashboardPort) : undefined,
    reassignAfterMs: settings.reassignAfterMs,
    trace: args.trace,
    recycleTabsEvery: settings.recycleTabsEvery,
    loadBook,
    feed: feedFor?.(events),
  }).finally(() => site?.close());
  if (validation) {
    // Judged on the sample alone: failures listed from earlier runs are in the summary above.
    const result = evaluateValidation(summary, validation.bar);
    process.stdout.write(`${args.json ? jsonLine({ at: new Date().toISOString(), type: 'validation', ...result }) : formatValidationReport(result)}\n`);
    if (summary.stopReason === 'interrupted') return 130;
    return result.clears ? 0 : 1;
  }
  if (summary.stopReason === 'interrupted') return 130;
  return summary.failed.length > 0 ? 1 : 0;
}

/** `characters --dry-run`: each sheet job and its prompt, as a run's --dry-run prints panels. */
async function dryRunSheets(file: string, loadBook: (file: string) => Promise<PromptBook>): Promise<number> {
  const book = await loadBook(file);
  for (const job of book.jobs) process.stdout.write(`${job.id}\t${cleanText(job.finalPrompt, { singleLine: true })}\n`);
  process.stdout.write(`${book.jobs.length} character sheets in ${book.book}\n`);
  return 0;
}

/** `--validate [N]` (N defaults to 10) and `--validate-bar PCT` (default 90); undefined without --validate. */
function validationOptions(validate: unknown, bar: unknown, limit: number | undefined): { size: number; bar: number } | undefined {
  // A repeated option arrives as a list: the last one counts, as for every other option.
  const last = (value: unknown) => (Array.isArray(value) ? value[value.length - 1] : value);
  const rawSize = last(validate);
  const rawBar = last(bar);
  if (rawSize === undefined) {
    if (rawBar !== undefined) throw new UsageError('--validate-bar applies only to a validation batch: add --validate [N]');
    return undefined;
  }
  const sizeText = String(rawSize).trim();
  const size = sizeText === '' ? 10 : Number(sizeText);
  if (!Number.isInteger(size) || size < 1) throw new UsageError(`--validate expects a whole number of jobs ≥ 1 (or nothing, for 10), got "${String(rawSize)}"`);
  if (limit !== undefined) throw new UsageError('--validate N already sets how many jobs run: drop --limit');
  let pct = 90;
  if (rawBar !== undefined) {
    const barText = String(rawBar).trim().replace(/\s*%$/, '');
    pct = barText === '' ? Number.NaN : Number(barText);
    if (!Number.isFinite(pct) || pct < 0 || pct > 100) throw new UsageError(`--validate-bar expects a percentage from 0 to 100, got "${String(rawBar)}"`);
  }
  return { size, bar: pct };
}

const cli = yargs(hideBin(process.argv))
  .scriptName('semantest-run')
  .usage('$0 <prompts.yaml> [options]\n\nGenerates every panel of a prompt file as a verified image, through your logged-in browser profile.')
  .command('$0 <file>', 'generate the images of a prompt file', runOptions, (args) =>
    execute(() => {
      if (!args['dry-run']) runSettings(args as RunArgs);
      return runWithSheetsFirst(args as RunArgs, run);
    }),
  )
  .command(
    'characters <file>',
    'generate a reference sheet (front, side and back views) of each character, saved as <out>/<book>/characters/<name>.png; takes the run\'s options',
    (y) => runOptions(y).option('only', { type: 'string', array: true, describe: 'only these characters (names), e.g. --only mara tom' }),
    (args) =>
      execute(() => {
        const names = (args.only ?? []).map(String);
        const loadBook = sheetLoader(names);
        if (args['dry-run']) return dryRunSheets(String(args.file), loadBook);
        return run({ ...args, only: undefined } as RunArgs, loadBook);
      }),
  )
  .command(fleetCommands(runOptions, (args, loadBook, feedFor) => run(args as RunArgs, loadBook, feedFor), execute))
  .command(fleetDashboardCommand(execute))
  .command(
    'status <file>',
    'show how far a book has got: counts per state, failures, ETA',
    (y) =>
      y
        .positional('file', { type: 'string', demandOption: true })
        .option('redis', { type: 'string', describe: "a fleet's Redis URL: the book across its workers (who made each panel, what each profile is doing) instead of this machine's checkpoint" })
        .option('checkpoints-dir', { type: 'string', default: 'checkpoints', hidden: true })
        .option('profiles-dir', { type: 'string', default: 'profiles', hidden: true }),
    (args) => execute(() => printStatus(String(args.file), args['checkpoints-dir'], undefined, { profilesDir: args['profiles-dir'], ...(args.redis !== undefined ? { redis: String(args.redis) } : {}) })),
  )
  .command(
    'plan <file>',
    'estimate how long the jobs left take on N profiles (accounts), and how many profiles a deadline needs',
    (y) =>
      y
        .positional('file', { type: 'string', demandOption: true, describe: 'the prompt file (YAML)' })
        .option('profiles', { type: 'number', describe: "how many profiles (accounts) to plan for (default: the file's profiles:, else 1)" })
        .option('by', { type: 'string', describe: 'a deadline: 18:00, "2026-12-06 09:00" or a duration such as 20h; says how many profiles it needs' })
        .option('quota', { type: 'string', describe: "images per account per window, e.g. 50/3h (default: the file's quota:)" })
        .option('checkpoints-dir', { type: 'string', default: 'checkpoints', hidden: true }),
    (args) => execute(() => runPlan({ file: String(args.file), checkpointsDir: args['checkpoints-dir'], profiles: args.profiles, by: args.by, quota: args.quota })),
  )
  .command(
    'report <file>',
    'write <out>/<book>/contact-sheet.html: every panel in book order with its thumbnail and state, and a reject-command builder; opens from disk',
    (y) =>
      y
        .positional('file', { type: 'string', demandOption: true, describe: 'the prompt file (YAML)' })
        .option('out', { type: 'string', describe: 'output folder the images are in (default: where the checkpoint says, else output)' })
        .option('open', { type: 'boolean', default: false, describe: 'open the page in the default browser' })
        .option('redis', { type: 'string', describe: "a fleet's Redis URL: every panel the fleet made, each captioned with its worker and profile (an image on another machine is named by host and path)" })
        .option('checkpoints-dir', { type: 'string', default: 'checkpoints', hidden: true }),
    (args) => execute(() => runReport({ file: String(args.file), out: args.out, open: args.open, checkpointsDir: args['checkpoints-dir'], ...(args.redis !== undefined ? { redis: String(args.redis) } : {}) })),
  )
  .command(
    'reject <file> <ids..>',
    'reject verified panels (ids or globs): each image is moved aside under <out>/<book>/.rejected/ and the next --resume generates it again',
    (y) =>
      y
        .positional('file', { type: 'string', demandOption: true })
        .positional('ids', { type: 'string', array: true, demandOption: true, describe: 'job ids or globs, e.g. ch1/s1/p2 "ch1/s2/*"' })
        .option('reason', { type: 'string', describe: 'why, kept with the rejection and in the new image\'s sidecar' })
        .option('out', { type: 'string', describe: 'the output folder the run wrote to (default: where the checkpoint says each image is)' })
        .option('checkpoints-dir', { type: 'string', default: 'checkpoints', hidden: true }),
    (args) =>
      execute(() =>
        runReject({
          file: String(args.file),
          patterns: (args.ids ?? []).map(String),
          // A repeated --reason arrives as a list: the last one counts, as for every other option.
          reason: args.reason === undefined ? undefined : String([args.reason].flat().pop()),
          out: args.out,
          checkpointsDir: args['checkpoints-dir'],
        }),
      ),
  )
  .command(
    'login',
    'open a window on the provider so you can log in to the profile once; ends by itself when the chat shows',
    (y) =>
      y
        .option('profile', { type: 'string', default: 'default', describe: 'browser profile under profiles/' })
        .option('profiles-dir', { type: 'string', default: 'profiles', hidden: true })
        .option('browser', { type: 'string', describe: 'path to a Chromium binary (also SEMANTEST_CHROMIUM)' })
        .option('base-url', { type: 'string', describe: 'log in to another site with the same page contract' })
        .option('headless', { type: 'boolean', default: false, describe: 'refused: a log-in needs a window' })
        .option('timeout', { type: 'number', default: 600, describe: 'seconds to wait for the log-in' }),
    (args) =>
      execute(() =>
        runLogin({
          profile: args.profile,
          profilesDir: args['profiles-dir'],
          browser: args.browser,
          baseUrl: args['base-url'],
          headless: args.headless,
          timeoutSeconds: args.timeout,
        }),
      ),
  )
  .command(
    'doctor',
    'check that a run would work on the profile (browser, display, lock, disk, extension and hub, log-in, the page\'s selectors); sends nothing',
    (y) =>
      mockOptions(y)
        .option('profile', { type: 'string', default: 'default', describe: 'browser profile under profiles/' })
        .option('profiles-dir', { type: 'string', default: 'profiles', hidden: true })
        .option('out', { type: 'string', default: 'output', describe: 'output folder whose free space is checked' })
        .option('headless', { type: 'boolean', default: false, describe: 'no browser window' })
        .option('browser', { type: 'string', describe: 'path to a Chromium binary (also SEMANTEST_CHROMIUM)' })
        .option('mock', { type: 'boolean', default: false, describe: 'check against the built-in mock site instead of the real one' })
        .option('base-url', { type: 'string', describe: 'check another site with the same page contract' })
        .option('provider-file', { type: 'string', describe: 'check an updated provider descriptor (JSON) instead of the built-in one' }),
    (args) =>
      execute(() =>
        runDoctor({
          profile: args.profile,
          profilesDir: args['profiles-dir'],
          out: args.out,
          headless: args.headless,
          browser: args.browser,
          baseUrl: args['base-url'],
          providerFile: args['provider-file'],
          mock: args.mock ? mockSettings(args) : undefined,
        }),
      ),
  )
  .command(
    'mock',
    'serve the built-in mock site (the ChatGPT page contract) until Ctrl-C',
    (y) => mockOptions(y).option('port', { type: 'number', default: 0, describe: 'port on 127.0.0.1 (0 = any free one)' }),
    (args) =>
      execute(async () => {
        const site = await startMockSite({ port: args.port, ...mockSettings(args) });
        process.stdout.write(`mock site at ${site.url} (Ctrl-C to stop)\n`);
        await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
        await site.close();
        return 0;
      }),
  )
  .example('$0 prompts/demo.yaml --mock --headless', 'the demo: the built-in mock site, no window')
  .example('$0 prompts/chapter1.yaml', 'a real run in a window, with profiles/default')
  .example('$0 prompts/chapter1.yaml --resume', 'continue after a crash or Ctrl-C')
  .example('$0 prompts/chapter1.yaml --dry-run', 'print the final prompts')
  .example('$0 status prompts/chapter1.yaml', 'how far the book has got')
  .example('$0 doctor', 'check that a run would work on profiles/default, sending nothing')
  .check(commonChecks)
  .strict()
  .demandCommand(1)
  .help()
  .version(false)
  .fail((message, error) => {
    // A check that returns its sentence (commonChecks) comes here with that string as `error`.
    if (error instanceof Error) throw error;
    process.stderr.write(`semantest-run: ${message}\nRun semantest-run --help for the options.\n`);
    process.exit(2);
  });

await cli.parseAsync();
