// What the fleet keeps in Redis (docs/ARCHITECTURE.md §10 "Fleet: workers on BullMQ and Redis").
// The journals on each worker are the truth; Redis carries the work and what the fleet needs to
// know of each other: the book (so a worker needs no prompt file), who started which panel, who
// is alive, and one result per job. Every key is under one prefix so `redis-cli --scan` finds them.
//
//   BullMQ queue  `<prefix>:book.<slug>:…`   one job per panel and prompt hash (jobId below)
//   <prefix>:fleet:books                      zset slug → enqueue time (ms): the books, oldest first
//   <prefix>:fleet:<slug>:book                string: FleetBook JSON (the book, every job of it)
//   <prefix>:fleet:<slug>:ref:<sha256>        string: a reference image's bytes (content-addressed)
//   <prefix>:fleet:<slug>:pins                hash jobId → Pin JSON: the profile that took it last
//   <prefix>:fleet:<slug>:results             hash jobId → FleetResult JSON: written once (HSETNX)
//   <prefix>:fleet:<slug>:refused             list of Refused JSON: second results, kept for the report
//   <prefix>:fleet:<slug>:profiles            hash profile → ProfileBeat JSON, every few seconds
//   <prefix>:fleet:<slug>:control             hash: `pause` → "all" | JSON string[] of profiles (FleetControl)
//   <prefix>:fleet:<slug>:rejects             hash jobId → Rejection JSON: an image a person rejected from the fleet's dashboard
import type { Job, PromptBook } from '../prompts/types.js';

export const FLEET_PREFIX = 'semantest';

/** BullMQ's queue of one book: one queue per book (BullMQ's ids deduplicate within a queue only, DESIGN §13). */
export function queueName(book: string): string {
  return `book.${book}`;
}

/**
 * A job's id in the fleet: the panel and the first 16 hex of its prompt hash, so enqueueing the same
 * file twice adds nothing and a changed prompt is a new job. Panel ids never hold ":" (BullMQ's separator).
 */
export function fleetJobId(job: Pick<Job, 'id' | 'promptHash'>): string {
  return `${job.id}@${job.promptHash.slice(0, 16)}`;
}

export function fleetKey(book: string, ...parts: string[]): string {
  return [FLEET_PREFIX, 'fleet', book, ...parts].join(':');
}

export const BOOKS_KEY = `${FLEET_PREFIX}:fleet:books`;

/** The book as enqueued: everything a worker needs without the prompt file. Reference files travel as bytes under `ref:<sha256>`. */
export interface FleetBook {
  readonly version: 1;
  /** The prompt file's path on the machine that enqueued it (for messages only). */
  readonly file: string;
  readonly enqueuedAt: number;
  readonly book: Omit<PromptBook, 'file' | 'jobs'>;
  /** Every job of the book in book order (the current prompt of each panel). */
  readonly jobs: Job[];
}

/** Who took a job last: only that profile may continue it while it is alive (DESIGN §13). */
export interface Pin {
  readonly profile: string;
  readonly worker: string;
  readonly at: number;
}

/** One verified panel, as its worker reports it. */
export interface FleetResult {
  readonly jobId: string;
  readonly panel: string;
  readonly promptHash: string;
  /** The image's path on the worker that made it (under its --out), and relative to `<out>/<book>`. */
  readonly file: string;
  readonly outputPath: string;
  readonly sha256: string;
  readonly sidecar: string;
  readonly host: string;
  readonly worker: string;
  readonly profile: string;
  readonly verifiedAt: number;
}

/** A second result for a job already verified: refused, and kept so the report can say so. */
export interface Refused extends FleetResult {
  readonly keptResultOf: string;
}

/** A profile's heartbeat: written every BEAT_MS by the worker that has it. */
export interface ProfileBeat {
  readonly profile: string;
  readonly worker: string;
  readonly host: string;
  readonly pid: number;
  readonly seen: number;
  /** working, paused (until, reason), waiting for a login, finished, stopped. */
  readonly state: string;
  readonly until?: number;
  readonly reason?: string;
  /** Panels it holds now (started or about to start). */
  readonly doing: string[];
  readonly verified: number;
}

export const BEAT_MS = 2_000;

/**
 * What the fleet's dashboard asks of the workers (read by each worker every BEAT_MS): `pause` "all"
 * stops every worker starting new panels; a JSON list of profile names pauses only those. Panels
 * in flight finish. Absent: running.
 */
export const CONTROL_PAUSE_FIELD = 'pause';

/**
 * A rejection from the fleet's dashboard: the result is removed (HDEL results), this written, and the
 * BullMQ job removed and added again (same id, same data). The worker whose journal holds the
 * rejected image (same sha256) journals the rejection (its files moved aside, as `reject` does)
 * before it makes the panel again; any other worker just makes it.
 */
export interface Rejection {
  readonly jobId: string;
  readonly panel: string;
  /** The rejected image's sha256 (the result's). */
  readonly sha256: string;
  readonly reason: string;
  readonly at: number;
}

/**
 * A JSON value read from the fleet's Redis: what `ok` accepts, else undefined. Redis is outside
 * input: a damaged or foreign value counts as absent, never as a crash.
 */
export function parseStored<T>(text: string | null | undefined, ok: (value: T) => boolean = () => true): T | undefined {
  if (!text) return undefined;
  let value: T;
  try {
    value = JSON.parse(text) as T;
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
  return value !== null && typeof value === 'object' && ok(value) ? value : undefined;
}

/** The dashboard's pause (the `control` hash's `pause` field): "all", or the profiles listed; a damaged value pauses nothing. */
export type FleetPause = 'all' | readonly string[];

export function parsePause(text: string | null | undefined): FleetPause {
  if (text === 'all') return 'all';
  const names = parseStored<unknown[]>(text, Array.isArray);
  return names ? names.filter((n): n is string => typeof n === 'string') : [];
}

/** BullMQ states of a job not done yet (failed and completed are done). */
export const OPEN_JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/** How many jobs of a book's queue are not done yet. */
export async function openJobs(queue: { getJobCounts(...types: string[]): Promise<Record<string, number>> }): Promise<number> {
  const counts = await queue.getJobCounts(...OPEN_JOB_STATES);
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}
