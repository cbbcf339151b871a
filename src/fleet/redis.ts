// The fleet's Redis: one URL given with --redis, checked before anything starts (docs/ARCHITECTURE.md
// §10 "Fleet: workers on BullMQ and Redis"). BullMQ opens its own connections from the same options.
import type { ConnectionOptions } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import { UsageError } from '../protocol/errors.js';

export interface RedisTarget {
  /** ioredis options (BullMQ's `connection` takes them as they are). */
  readonly options: RedisOptions;
  /** The same, as BullMQ's `connection`. */
  readonly connection: ConnectionOptions;
  /** The URL without its password, for messages. */
  readonly display: string;
}

/** `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS); anything else is refused naming --redis. */
export function parseRedisUrl(text: string, option = '--redis'): RedisTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${option}: "${text}" is not a URL; give one such as redis://127.0.0.1:6379`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new UsageError(`${option}: ${url.protocol}// is not Redis; give redis://host:port or rediss://host:port`);
  if (!url.hostname) throw new UsageError(`${option}: "${text}" names no host`);
  const port = url.port ? Number(url.port) : 6379;
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || db > 15) throw new UsageError(`${option}: the database number "${dbText}" must be 0–15`);
  if (url.search || url.hash) throw new UsageError(`${option}: "${text}" has options Semantest does not read (${url.search || url.hash}); give redis://host:port/db`);
  const options: RedisOptions = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    db,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ's workers block on Redis: they must wait for it, never give a command up (its docs).
    maxRetriesPerRequest: null,
    // Back within 2 s of Redis coming back, however long it was away.
    retryStrategy: (times: number) => Math.min(100 * times, 2_000),
  };
  const display = `${url.protocol}//${url.username ? `${url.username}@` : ''}${url.host}${db ? `/${db}` : ''}`;
  return { options, connection: options as unknown as ConnectionOptions, display };
}

/**
 * A client for Semantest's own keys. Unlike BullMQ's, a command fails after a few retries while
 * Redis is away, so the worker can say so and try again, instead of hanging silently.
 */
export async function connectRedis(target: RedisTarget, option = '--redis'): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const redis = new Redis({ ...target.options, maxRetriesPerRequest: 2, lazyConnect: true, connectTimeout: 5_000 });
  // ioredis retries by itself; each call says what failed. The socket's own error is the clearer one.
  let cause: Error | undefined;
  redis.on('error', (error: Error) => (cause = error));
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    throw new UsageError(`${option}: cannot reach Redis at ${target.display} (${(cause ?? (error as Error)).message}); start it, or check the URL`);
  }
  return redis;
}

/**
 * BullMQ, loaded only when a fleet command runs: with ioredis it weighs about 50 MB of a process's
 * memory, which a local run (most runs) does not need (issue 14's memory goal).
 */
export function loadBullmq(): Promise<typeof import('bullmq')> {
  return import('bullmq');
}
