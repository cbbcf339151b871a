// The fleet's commands (docs/ARCHITECTURE.md §10 "Fleet: workers on BullMQ and Redis"): `enqueue`
// puts a book's jobs in Redis, `worker` makes them with this machine's profiles. A worker takes every
// option of a run (pacing, --headless, --base-url, --browser, --mock…) but no prompt file: the book
// comes from Redis.
import type { Argv, CommandModule } from 'yargs';
import type { RunEvents } from '../events.js';
import { UsageError } from '../protocol/errors.js';
import type { PromptBook } from '../prompts/types.js';
import type { JobFeed } from '../run/run-book.js';
import { enqueueBook } from '../fleet/enqueue.js';
import { connectRedis, parseRedisUrl } from '../fleet/redis.js';
import { openWorker } from '../fleet/worker.js';
import { parseDurationOption } from './duration.js';

type Run = (args: Record<string, unknown>, loadBook: (file: string) => Promise<PromptBook>, feedFor: (events: RunEvents) => JobFeed) => Promise<number>;
type Execute = (action: () => Promise<number | void>) => Promise<never>;

const REDIS_HELP = "the fleet's Redis, e.g. redis://127.0.0.1:6379 (run it with appendonly yes and maxmemory-policy noeviction)";

export function fleetCommands(runOptions: (y: Argv) => Argv<any>, run: Run, execute: Execute): CommandModule<any, any>[] {
  return [
    {
      command: 'enqueue <file>',
      describe: "make a book's jobs known to a fleet of workers (BullMQ on Redis); enqueueing it again adds only changed panels",
      builder: (y: Argv) =>
        y
          .positional('file', { type: 'string', demandOption: true, describe: 'the prompt file (YAML)' })
          .option('redis', { type: 'string', demandOption: true, describe: REDIS_HELP })
          .option('out', { type: 'string', default: 'output', describe: 'output folder whose <book>/characters/ holds the sheets of `refs: sheet`' }),
      handler: (args: Record<string, unknown>) =>
        execute(async () => {
          const target = parseRedisUrl(String(args.redis));
          const redis = await connectRedis(target);
          try {
            const r = await enqueueBook({ file: String(args.file), out: String(args.out), redis, target });
            const replaced = r.replaced ? `, ${r.replaced} replaced (changed prompts)` : '';
            process.stdout.write(`enqueued "${r.book}" on ${target.display}: ${r.added} new job${r.added === 1 ? '' : 's'}, ${r.known} already known${replaced} (${r.total} panels)\n`);
            return 0;
          } finally {
            redis.disconnect();
          }
        }),
    },
    {
      command: 'worker',
      describe: "make the panels of a book enqueued in Redis with this machine's profiles, alongside other workers; takes a run's options",
      builder: (y: Argv) =>
        runOptions(y)
          .option('redis', { type: 'string', demandOption: true, describe: REDIS_HELP })
          .option('book', { type: 'string', describe: 'the book to work on (default: the oldest enqueued book with work left)' })
          .group(['redis', 'book'], 'Fleet:'),
      handler: (args: Record<string, unknown>) => execute(() => worker(args, run)),
    },
  ];
}

async function worker(args: Record<string, unknown>, run: Run): Promise<number> {
  for (const option of ['dry-run', 'limit', 'only', 'validate', 'resume', 'retry-failed', 'regenerate-changed'] as const) {
    const value = args[option];
    if (value !== undefined && value !== false) throw new UsageError(`--${option} is not for a worker: the fleet decides which panels it makes (the worker always continues its own journal)`);
  }
  const profiles = ((args.profile as unknown[] | undefined) ?? []).map(String);
  // Ctrl-C while it waits for a book to be enqueued ends the wait; the run has its own handling.
  const waiting = new AbortController();
  const stopWaiting = () => waiting.abort();
  process.once('SIGINT', stopWaiting);
  process.once('SIGTERM', stopWaiting);
  let setup: Awaited<ReturnType<typeof openWorker>>;
  try {
    setup = await openWorker({
      redis: String(args.redis),
      profiles,
      book: args.book === undefined ? undefined : String(args.book),
      checkpointsDir: String(args['checkpoints-dir']),
      reassignAfterMs: parseDurationOption(args['reassign-after'], 'reassign-after'),
      say: (line) => process.stdout.write(`${line}\n`),
      signal: waiting.signal,
    });
  } finally {
    process.off('SIGINT', stopWaiting);
    process.off('SIGTERM', stopWaiting);
  }
  if (!setup) return waiting.signal.aborted ? 130 : 0;
  try {
    // Its journal is its own (under checkpoints/fleet-<profiles>) and always continued; the fleet's
    // dashboard is `dashboard <file> --redis`, so a worker serves none of its own.
    return await run({ ...args, file: setup.file, resume: true, dashboard: false, 'checkpoints-dir': setup.checkpointsDir }, setup.loadBook, setup.feedFor);
  } finally {
    await setup.close();
  }
}
