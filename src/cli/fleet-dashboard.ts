// `semantest-run dashboard <file> --redis URL [--port N]` (issue 17): the live dashboard of a fleet,
// read from and acted on through Redis (src/dashboard/fleet-server.ts), served until Ctrl-C. The
// prompt file names the book (its `book:`); what the fleet makes is the book as enqueued.
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { UsageError } from '../protocol/errors.js';
import { loadBookFor } from '../prompts/index.js';
import { connectRedis, parseRedisUrl } from '../fleet/redis.js';
import { FleetSource } from '../dashboard/fleet-source.js';
import { startFleetDashboard } from '../dashboard/fleet-server.js';
import { ThumbnailCache } from '../report/thumbnails.js';

type Execute = (action: () => Promise<number | void>) => Promise<never>;

export function fleetDashboardCommand(execute: Execute): CommandModule<any, any> {
  return {
    command: 'dashboard <file>',
    describe: "serve the live dashboard of a fleet (workers on Redis): every panel, worker and profile; pause all or one profile, retry, reject",
    builder: (y: Argv) =>
      y
        .positional('file', { type: 'string', demandOption: true, describe: 'the prompt file (YAML) of the enqueued book' })
        .option('redis', { type: 'string', demandOption: true, describe: "the fleet's Redis, e.g. redis://127.0.0.1:6379" })
        .option('port', { type: 'number', default: 0, describe: 'port on 127.0.0.1 (0 = any free one)' })
        .option('out', { type: 'string', default: 'output', describe: "output folder of the workers on this machine (their images show as thumbnails), whose <book>/characters/ holds the sheets of `refs: sheet`" }),
    handler: (args: Record<string, unknown>) => execute(() => serveFleetDashboard(args)),
  };
}

async function serveFleetDashboard(args: Record<string, unknown>): Promise<number> {
  const port = Number(args.port ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UsageError(`--port expects a port number 0–65535, got ${String(args.port)}`);
  const book = await loadBookFor(String(args.file), String(args.out));
  const target = parseRedisUrl(String(args.redis));
  const redis = await connectRedis(target);
  const bookDir = path.resolve(String(args.out), book.book);
  const source = new FleetSource({ redis, target, slug: book.book, bookDir });
  // Opened on the first thumbnail: a dashboard on a machine without workers never writes under --out.
  let thumbnails: Promise<ThumbnailCache> | undefined;
  const thumbnail = async (png: string, sha256: string) => {
    const cache = await (thumbnails ??= ThumbnailCache.open(bookDir));
    const thumb = await cache.thumbnailFor(png, { sha256 });
    if (thumb.made) await cache.save();
    return thumb.file;
  };
  try {
    if (!(await source.book(true))) {
      throw new UsageError(`${String(args.file)}: the book "${book.book}" is not enqueued on ${target.display}; run semantest-run enqueue ${String(args.file)} --redis ${target.display} first`);
    }
    const dashboard = await startFleetDashboard({ source, port, bookDir, thumbnail });
    process.stdout.write(`dashboard: ${dashboard.url}\n(the fleet of "${book.book}" on ${target.display}; Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await dashboard.close();
    return 0;
  } finally {
    await source.close();
    redis.disconnect();
  }
}
