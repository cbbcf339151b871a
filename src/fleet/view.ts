// The whole book as the fleet sees it (issue 17, "Watching a fleet"): `status --redis` and
// `report --redis` read it from the fleet's Redis (src/fleet/keys.ts), never from a local journal.
// Read only: nothing here writes a key, so watching a fleet cannot disturb it.
//
// A panel's fleet state, for the book's current jobs (FleetBook.jobs, as enqueued last):
//   verified   a FleetResult under its job id (panel@hash): which worker, host and profile, and where the file is
//   failed     BullMQ's failed job of that id, with its failedReason (`kind: message`, link.ts)
//   in-flight  pinned to a profile (it started there) and not verified
//   stale      no result for this prompt, but one for an older prompt hash of the panel
//   queued     none of these: waiting in BullMQ (or taken by a worker that has not started it yet)
import type { Redis } from 'ioredis';
import type { Job } from '../prompts/types.js';
import { parseBook } from './enqueue.js';
import { BEAT_MS, FLEET_PREFIX, parseStored, fleetJobId, fleetKey, queueName, type FleetBook, type FleetResult, type Pin, type ProfileBeat, type Refused, type Rejection } from './keys.js';
import { loadBullmq, type RedisTarget } from './redis.js';

/** A beat older than this (three missed beats) means its worker is gone: killed, or cut off from Redis. */
export const GONE_AFTER_MS = 3 * BEAT_MS;

export type FleetPanelState = 'verified' | 'failed' | 'in-flight' | 'stale' | 'queued';

/** The order states are counted and shown in. */
export const FLEET_STATES: readonly FleetPanelState[] = ['verified', 'failed', 'in-flight', 'stale', 'queued'];

export interface FleetPanel {
  readonly job: Job;
  /** Its id in the fleet (panel@hash16). */
  readonly jobId: string;
  readonly state: FleetPanelState;
  /** verified: the result kept for this job. */
  readonly result?: FleetResult;
  /** failed: BullMQ's failedReason. */
  readonly failedReason?: string;
  /** The profile that took it last (in-flight; a pin can outlive a failure for a moment). */
  readonly pin?: Pin;
  /** A result for an older prompt of this panel (the newest one), whatever the state. */
  readonly staleResult?: FleetResult;
  /** A rejection from the fleet's dashboard not yet made again (no result since). */
  readonly rejection?: Rejection;
}

export interface FleetProfile {
  readonly beat: ProfileBeat;
  /** How long since its last beat. */
  readonly ageMs: number;
  /** No beat for GONE_AFTER_MS while it said it was not stopped or finished. */
  readonly gone: boolean;
  /** This book's current panels it verified (from the results, so a restarted worker's count is whole). */
  readonly verified: number;
  /** Current panels pinned to it and not verified. */
  readonly pinned: number;
}

export interface FleetView {
  readonly book: string;
  readonly fleetBook: FleetBook;
  /** When the view was read (ms). */
  readonly now: number;
  /** Every current job, in book order. */
  readonly panels: FleetPanel[];
  readonly counts: Record<FleetPanelState, number>;
  /** Second results the fleet refused, as the workers reported them (oldest first). */
  readonly refused: Refused[];
  /** One per profile that ever beat for this book, by name. */
  readonly profiles: FleetProfile[];
  /** Verified panels per worker and profile, most first. */
  readonly makers: Array<{ worker: string; host: string; profile: string; panels: number }>;
  /** BullMQ's own job counts of the book's queue (every job ever enqueued, older prompts too). */
  readonly queue: Record<string, number>;
}

/**
 * Reads the book `slug` from the fleet's Redis, or undefined when it was never enqueued there.
 * `redis` is a client for Semantest's keys (connectRedis); BullMQ's queue opens its own from `target`.
 */
export async function readFleetView(redis: Redis, target: RedisTarget, slug: string, opts: { now?: number } = {}): Promise<FleetView | undefined> {
  const fleetBook = parseBook(await redis.get(fleetKey(slug, 'book')), slug);
  if (!fleetBook) return undefined;
  const [resultsRaw, pinsRaw, beatsRaw, refusedRaw, rejectsRaw] = await Promise.all([
    redis.hgetall(fleetKey(slug, 'results')),
    redis.hgetall(fleetKey(slug, 'pins')),
    redis.hgetall(fleetKey(slug, 'profiles')),
    redis.lrange(fleetKey(slug, 'refused'), 0, -1),
    redis.hgetall(fleetKey(slug, 'rejects')),
  ]);
  const { failed, queue } = await readQueue(target, slug);
  const now = opts.now ?? Date.now();

  const results = new Map<string, FleetResult>();
  for (const [id, text] of Object.entries(resultsRaw)) {
    const result = parseStored<FleetResult>(text, (r) => typeof r.panel === 'string' && typeof r.file === 'string');
    if (result) results.set(id, result);
  }
  // A panel's results under other prompt hashes: the newest is what a stale panel still has.
  const olderOf = new Map<string, FleetResult>();
  for (const result of results.values()) {
    const known = olderOf.get(result.panel);
    if (!known || result.verifiedAt > known.verifiedAt) olderOf.set(result.panel, result);
  }

  const counts = Object.fromEntries(FLEET_STATES.map((s) => [s, 0])) as Record<FleetPanelState, number>;
  const panels: FleetPanel[] = [];
  for (const job of [...fleetBook.jobs].sort((a, b) => a.order - b.order)) {
    const jobId = fleetJobId(job);
    const result = results.get(jobId);
    const pin = parseStored<Pin>(pinsRaw[jobId], (p) => typeof p.profile === 'string');
    const older = olderOf.get(job.id);
    const staleResult = older && older.jobId !== jobId && older.promptHash !== job.promptHash ? older : undefined;
    const failedReason = failed.get(jobId);
    const rejection = result ? undefined : parseStored<Rejection>(rejectsRaw[jobId], (r) => typeof r.sha256 === 'string');
    const state: FleetPanelState = result ? 'verified' : failedReason !== undefined ? 'failed' : pin ? 'in-flight' : staleResult ? 'stale' : 'queued';
    counts[state] += 1;
    panels.push({
      job,
      jobId,
      state,
      ...(result ? { result } : {}),
      ...(failedReason !== undefined && !result ? { failedReason } : {}),
      ...(pin && !result ? { pin } : {}),
      ...(staleResult && !result ? { staleResult } : {}),
      ...(rejection ? { rejection } : {}),
    });
  }

  const makerOf = new Map<string, { worker: string; host: string; profile: string; panels: number }>();
  const verifiedBy = new Map<string, number>();
  const pinnedTo = new Map<string, number>();
  for (const panel of panels) {
    if (panel.result) {
      const { worker, host, profile } = panel.result;
      const key = `${profile}\u0000${worker}`;
      const maker = makerOf.get(key) ?? { worker, host, profile, panels: 0 };
      maker.panels += 1;
      makerOf.set(key, maker);
      verifiedBy.set(profile, (verifiedBy.get(profile) ?? 0) + 1);
    } else if (panel.pin) {
      pinnedTo.set(panel.pin.profile, (pinnedTo.get(panel.pin.profile) ?? 0) + 1);
    }
  }

  const profiles: FleetProfile[] = [];
  for (const [name, text] of Object.entries(beatsRaw).sort(([a], [b]) => a.localeCompare(b))) {
    const beat = parseStored<ProfileBeat>(text, (b) => Number.isFinite(b.seen) && typeof b.state === 'string');
    if (!beat) continue;
    const ageMs = Math.max(0, now - beat.seen);
    const ended = beat.state === 'stopped' || beat.state === 'finished';
    profiles.push({ beat: { ...beat, profile: beat.profile ?? name, doing: Array.isArray(beat.doing) ? beat.doing : [] }, ageMs, gone: !ended && ageMs > GONE_AFTER_MS, verified: verifiedBy.get(name) ?? 0, pinned: pinnedTo.get(name) ?? 0 });
  }

  const refused = refusedRaw.map((text) => parseStored<Refused>(text, (r) => typeof r.panel === 'string')).filter((r): r is Refused => r !== undefined);
  const makers = [...makerOf.values()].sort((a, b) => b.panels - a.panels || a.profile.localeCompare(b.profile) || a.worker.localeCompare(b.worker));
  return { book: slug, fleetBook, now, panels, counts, refused, profiles, makers, queue };
}

/** BullMQ's failed jobs of the book (id → failedReason) and its job counts. */
async function readQueue(target: RedisTarget, slug: string): Promise<{ failed: Map<string, string>; queue: Record<string, number> }> {
  const { Queue } = await loadBullmq();
  const queue = new Queue(queueName(slug), { connection: target.connection, prefix: FLEET_PREFIX });
  // Its connection's errors come back from the calls below; an unhandled 'error' event would end the process.
  queue.on('error', () => undefined);
  try {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed');
    const failed = new Map<string, string>();
    for (const job of await queue.getFailed(0, -1)) if (job?.id) failed.set(job.id, job.failedReason ?? '');
    return { failed, queue: counts };
  } finally {
    await queue.close();
  }
}

/** A worker's JSON, or undefined when it is absent or not of the shape `ok` checks (a partial write, a newer worker). */
