// What the fleet's dashboard shows and does (`semantest-run dashboard <file> --redis URL`, issue 17):
// everything comes from the fleet's Redis (src/fleet/keys.ts), nothing from a run on this machine.
// It reads the fleet through src/fleet/view.ts (as `status --redis` does: each panel verified, failed,
// in flight, stale or queued, a rejection not yet made again, each profile's beat) and the dashboard's
// pause. It writes only what keys.ts documents, so the workers act on it when they next poll:
//   pause    `control` hash, field `pause`: "all", or a JSON list of profile names
//   retry    BullMQ's own retry of the panel's failed job
//   reject   `rejects` jobId → Rejection, the result removed, the completed job added again (same id, data)
import { hostname } from 'node:os';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { isInsideLexically } from '../inside.js';
import { PROFILE_NAME } from '../prompts/schema.js';
import type { Job } from '../prompts/types.js';
import { parseBook } from '../fleet/enqueue.js';
import { CONTROL_PAUSE_FIELD, FLEET_PREFIX, fleetJobId, fleetKey, parsePause, parseStored, queueName, type FleetBook, type FleetPause, type FleetResult, type Rejection } from '../fleet/keys.js';
import { readFleetView } from '../fleet/view.js';
import type { FleetJobData } from '../fleet/link.js';
import { loadBullmq, type RedisTarget } from '../fleet/redis.js';

/** The book (every job, prompts included) is large; it changes only when the file is enqueued again. */
const BOOK_TTL_MS = 10_000;


/** The local dashboard's snapshot (page.ts draws it), with the fleet's own fields. */
export interface FleetSnapshot {
  book: string;
  paused: boolean;
  fleet: { redis: string; pause: FleetPause; workers: number };
  profile: { state: string; until?: number; reason?: string };
  profiles: Array<{ name: string; worker?: string; state: string; until?: number; reason?: string; verified: number; paused: boolean; seen?: number }>;
  progress: { verified: number; failed: number; total: number; inFlight: string[] };
  panels: Array<{
    id: string;
    chapter: string;
    strip: string;
    panel: string;
    label: string;
    state: string;
    attempts: number;
    kind?: string;
    message?: string;
    profile?: string;
    worker?: string;
    /** Second results for this panel that the fleet refused (the first verified one is kept). */
    refused?: number;
    /** Its image is on this machine, under the dashboard's book folder: /thumb serves it. */
    thumb?: boolean;
    /** Changes with the image (its sha256), so the page loads a remade panel's thumbnail afresh. */
    version?: string;
  }>;
}

/** An action the fleet cannot take as asked: its HTTP status and our own words (never the request's). */
export class FleetActionError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface FleetSourceOptions {
  readonly redis: Redis;
  readonly target: RedisTarget;
  /** The book's slug (`book:` of the prompt file), as enqueued. */
  readonly slug: string;
  /**
   * `<out>/<book>` on this machine: a verified image a worker on this host wrote under it is shown
   * as a thumbnail; other images are on other machines, and only named.
   */
  readonly bookDir?: string;
  /** @default Date.now */
  readonly now?: () => number;
}

export class FleetSource {
  readonly #opts: FleetSourceOptions;
  readonly #now: () => number;
  /** BullMQ's queue of the book, opened on the first action (BullMQ loads only when a fleet command runs). */
  #queueOpen: Promise<Queue<FleetJobData>> | undefined;
  #book: { value: FleetBook; at: number } | undefined;
  /** Actions one after another, so a read-modify-write of the pause list never interleaves with another. */
  #actions: Promise<unknown> = Promise.resolve();

  constructor(opts: FleetSourceOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  #queue(): Promise<Queue<FleetJobData>> {
    this.#queueOpen ??= loadBullmq().then(({ Queue }) => {
      const queue = new Queue<FleetJobData>(queueName(this.#opts.slug), { connection: this.#opts.target.connection, prefix: FLEET_PREFIX });
      // A lost connection shows as a failed action, said where it happens.
      queue.on('error', () => undefined);
      return queue;
    });
    return this.#queueOpen;
  }

  get slug(): string {
    return this.#opts.slug;
  }

  /** The book as enqueued; undefined if it is not (yet) in Redis. */
  async book(fresh = false): Promise<FleetBook | undefined> {
    if (!fresh && this.#book && this.#now() - this.#book.at < BOOK_TTL_MS) return this.#book.value;
    const value = parseBook(await this.#opts.redis.get(fleetKey(this.#opts.slug, 'book')));
    this.#book = value ? { value, at: this.#now() } : undefined;
    return value;
  }

  /** The fleet as src/fleet/view.ts reads it (the same view as `status --redis`), drawn as the local dashboard's snapshot. */
  async snapshot(): Promise<FleetSnapshot> {
    const { redis, target, slug } = this.#opts;
    const now = this.#now();
    const [view, pauseText] = await Promise.all([readFleetView(redis, target, slug, { now }), redis.hget(fleetKey(slug, 'control'), CONTROL_PAUSE_FIELD)]);
    const pause = parsePause(pauseText);
    if (view) this.#book = { value: view.fleetBook, at: now };
    const refused = new Map<string, number>();
    for (const r of view?.refused ?? []) refused.set(r.jobId, (refused.get(r.jobId) ?? 0) + 1);

    const inFlight: string[] = [];
    const panels = (view?.panels ?? []).map(({ job, jobId, state, result, failedReason, pin, rejection }): FleetSnapshot['panels'][number] => {
      const base = {
        id: job.id,
        chapter: job.chapter,
        strip: job.strip,
        panel: job.panel,
        label: `${job.panel}${job.locale ? `.${job.locale}` : ''}${job.variant ? `~${job.variant}` : ''}`,
        attempts: 0,
        ...(refused.has(jobId) ? { refused: refused.get(jobId) } : {}),
      };
      if (state === 'verified' && result) {
        const here = this.#local(result) ? { thumb: true, version: String(result.sha256).slice(0, 16) } : {};
        return { ...base, state: 'verified', profile: result.profile, worker: result.worker, ...here };
      }
      const who = pin ? { profile: pin.profile, worker: pin.worker } : {};
      if (state === 'failed') {
        // The worker fails a job as "<kind>: <message>" (src/fleet/link.ts).
        const match = /^([a-z-]+): ([\s\S]*)$/.exec(failedReason ?? '');
        return { ...base, state: 'failed', kind: match?.[1] ?? 'failed', message: match?.[2] ?? failedReason ?? '', ...who };
      }
      if (state === 'in-flight') {
        inFlight.push(job.id);
        return { ...base, state: 'in flight', ...who };
      }
      if (rejection) return { ...base, state: 'rejected', message: `rejected: ${rejection.reason}`, ...who };
      // stale: made for an older prompt; queued: waiting for a worker.
      return { ...base, state: state === 'stale' ? 'stale' : 'pending', ...who };
    });

    let workers = 0;
    const profiles: FleetSnapshot['profiles'] = (view?.profiles ?? []).map(({ beat, ageMs, gone, verified }) => {
      const paused = pause === 'all' || pause.includes(beat.profile);
      if (!gone && beat.state !== 'stopped' && beat.state !== 'finished') workers += 1;
      const entry: FleetSnapshot['profiles'][number] = {
        name: beat.profile,
        worker: beat.worker,
        state: gone ? 'gone' : beat.state,
        ...(gone ? { reason: `no beat for ${Math.round(ageMs / 1000)} s` } : {}),
        ...(!gone && beat.until !== undefined ? { until: beat.until } : {}),
        ...(!gone && beat.reason ? { reason: beat.reason } : {}),
        verified,
        paused,
        seen: beat.seen,
      };
      // The dashboard's pause says so on a worker that is otherwise working; its own pauses keep their reason.
      if (paused && !gone && beat.state === 'working') Object.assign(entry, { state: 'paused', reason: "paused from the fleet's dashboard: no new panel starts" });
      return entry;
    });
    // A profile paused by name before any worker of it beat: still shown, so it can be resumed.
    const named = new Set(profiles.map((p) => p.name));
    if (pause !== 'all') for (const name of pause) if (!named.has(name)) profiles.push({ name, state: 'paused', reason: "paused from the fleet's dashboard (no worker has it yet)", verified: 0, paused: true });
    profiles.sort((a, b) => a.name.localeCompare(b.name));

    const verified = view?.counts.verified ?? 0;
    const total = panels.length;
    const display = target.display;
    const profile: FleetSnapshot['profile'] = !view
      ? { state: 'starting', reason: `"${slug}" is not enqueued on ${display} yet` }
      : total > 0 && verified === total
        ? { state: 'finished' }
        : pause === 'all'
          ? { state: 'paused', reason: "paused from the fleet's dashboard: no worker starts a new panel" }
          : workers === 0
            ? { state: 'no workers', reason: `no worker beats on ${display}; start one with semantest-run worker --redis …` }
            : { state: 'working', reason: `${workers} profile${workers === 1 ? '' : 's'} working on ${display}` };
    return {
      book: slug,
      paused: pause === 'all',
      fleet: { redis: display, pause, workers },
      profile,
      profiles,
      progress: { verified, failed: view?.counts.failed ?? 0, total, inFlight },
      panels,
    };
  }

  /** Pause every worker (no profile given) or one profile more. */
  pause(profile?: string): Promise<FleetPause> {
    return this.#serial(() =>
      this.#changePause((current) => {
        if (profile === undefined || current === 'all') return 'all';
        return current.includes(profile) ? current : [...current, profile];
      }, profile),
    );
  }

  /**
   * Resume every worker (no profile given) or one profile. While everything is paused, resuming one
   * profile leaves every other profile the fleet knows paused by name.
   */
  resume(profile?: string): Promise<FleetPause> {
    return this.#serial(() =>
      this.#changePause(async (current) => {
        if (profile === undefined) return [];
        const names = current === 'all' ? await this.#knownProfiles() : current;
        return names.filter((name) => name !== profile);
      }, profile),
    );
  }

  /** A failed panel goes back to BullMQ's waiting list, so the next worker free takes it again. */
  retry(panel: unknown): Promise<string> {
    return this.#serial(async () => {
      const job = await this.#job(panel);
      const bull = await (await this.#queue()).getJob(fleetJobId(job));
      if (!bull || (await bull.getState()) !== 'failed') throw new FleetActionError(409, `${job.id} has not failed`);
      await bull.retry('failed');
      return job.id;
    });
  }

  /**
   * A verified panel is rejected: the rejection written (the worker that has the image in its journal
   * moves it aside), the result removed, and its job made new in BullMQ (same id, same data), so a
   * worker makes the panel again.
   */
  reject(panel: unknown, reason: string): Promise<Rejection> {
    return this.#serial(async () => {
      const job = await this.#job(panel);
      const jobId = fleetJobId(job);
      const { redis, slug } = this.#opts;
      const resultsKey = fleetKey(slug, 'results');
      // WATCH: a result written or removed between the read and the write (another dashboard) is not lost.
      await redis.watch(resultsKey);
      let rejection: Rejection;
      try {
        const result = parseStored<FleetResult>(await redis.hget(resultsKey, jobId));
        const earlier = parseStored<Rejection>(await redis.hget(fleetKey(slug, 'rejects'), jobId));
        if (!result && !earlier) throw new FleetActionError(409, `${job.id} is not verified`);
        if (result) {
          rejection = { jobId, panel: job.id, sha256: result.sha256, reason, at: this.#now() };
          const done = await redis.multi().hset(fleetKey(slug, 'rejects'), jobId, JSON.stringify(rejection)).hdel(resultsKey, jobId).exec();
          if (!done) throw new FleetActionError(409, `${job.id} changed while it was being rejected; look again and retry`);
        } else {
          // An earlier rejection stopped before its job was added again (it is still done in BullMQ):
          // rejecting again finishes it. One whose job is back in the queue is being made again.
          const state = await (await (await this.#queue()).getJob(jobId))?.getState();
          if (state !== 'completed' && state !== 'failed') throw new FleetActionError(409, `${job.id} is not verified (it is being made again)`);
          rejection = earlier!;
        }
      } finally {
        await redis.unwatch().catch(() => undefined);
      }
      const queue = await this.#queue();
      const bull = await queue.getJob(jobId);
      const state = bull ? await bull.getState() : undefined;
      // A job still waiting or under way is made anyway (its result is gone); a finished one is made new.
      if (!bull || state === 'completed' || state === 'failed' || state === 'unknown') {
        const data = bull?.data?.job ? bull.data : { job };
        if (bull) await bull.remove();
        await queue.add('panel', data, { jobId, attempts: 1, removeOnComplete: false, removeOnFail: false });
      }
      return rejection;
    });
  }

  /** The image of a verified panel, if it is on this machine under the book folder (as the snapshot's `thumb`). */
  async image(panel: string): Promise<{ file: string; sha256: string } | undefined> {
    const book = await this.book();
    const job = book?.jobs.find((j) => j.id === panel);
    if (!job) return undefined;
    const result = parseStored<FleetResult>(await this.#opts.redis.hget(fleetKey(this.#opts.slug, 'results'), fleetJobId(job)));
    return result && this.#local(result) ? { file: result.file, sha256: result.sha256 } : undefined;
  }

  #local(result: FleetResult): boolean {
    const { bookDir } = this.#opts;
    return !!bookDir && result.host === hostname() && typeof result.file === 'string' && isInsideLexically(bookDir, result.file);
  }

  async close(): Promise<void> {
    await this.#actions.catch(() => undefined);
    await this.#queueOpen?.then((queue) => queue.close()).catch(() => undefined);
  }

  async #job(panel: unknown): Promise<Job> {
    const book = await this.book(true);
    const job = typeof panel === 'string' ? book?.jobs.find((j) => j.id === panel) : undefined;
    if (!job) throw new FleetActionError(400, 'no such panel');
    return job;
  }

  async #changePause(change: (current: FleetPause) => FleetPause | Promise<FleetPause>, profile: string | undefined): Promise<FleetPause> {
    if (profile !== undefined && !PROFILE_NAME.test(profile)) throw new FleetActionError(400, 'not a profile name (letters, digits, ".", "_" and "-", at most 64)');
    const { redis, slug } = this.#opts;
    const key = fleetKey(slug, 'control');
    // WATCH: two dashboards changing the list at once both count, one after the other.
    for (let attempt = 0; attempt < 10; attempt += 1) {
      await redis.watch(key);
      try {
        const next = await change(parsePause(await redis.hget(key, CONTROL_PAUSE_FIELD)));
        const tx = redis.multi();
        if (next === 'all') tx.hset(key, CONTROL_PAUSE_FIELD, 'all');
        else if (next.length === 0) tx.hdel(key, CONTROL_PAUSE_FIELD);
        else tx.hset(key, CONTROL_PAUSE_FIELD, JSON.stringify(next));
        if (await tx.exec()) return next;
      } finally {
        await redis.unwatch().catch(() => undefined);
      }
    }
    throw new FleetActionError(409, 'the pause kept changing under this dashboard; try again');
  }

  async #knownProfiles(): Promise<string[]> {
    const names = await this.#opts.redis.hkeys(fleetKey(this.#opts.slug, 'profiles'));
    return names.filter((name) => PROFILE_NAME.test(name)).sort();
  }

  #serial<T>(action: () => Promise<T>): Promise<T> {
    const next = this.#actions.then(action, action);
    this.#actions = next.catch(() => undefined);
    return next;
  }
}

