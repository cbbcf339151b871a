// A fleet worker's link to the book's BullMQ queue (docs/ARCHITECTURE.md §10 "Fleet: workers on
// BullMQ and Redis"). The run on the worker is the ordinary book run (src/run/run-book.ts) with an
// open job source; this link is its feed: it takes a job from BullMQ only when one of its profiles
// could start it now (so a panel never started goes to whichever profile can start soonest), keeps
// the job's BullMQ lock while the job is in the run, and reports how it ended.
//
// Exactly once comes from the journals, not from the queue: BullMQ delivers at least once (a job
// whose worker died comes back after its lock expires, DESIGN §13). So before a job runs here the
// link asks the fleet: verified already (a result in Redis, or in this worker's own journal)?
// Then it is completed, not run. Taken last by a profile of another worker that is still alive (or
// gone for less than --reassign-after)? Then it waits for that profile. The first result for a job
// is kept (HSETNX); a second is refused and reported.
import { hostname } from 'node:os';
import type { Queue, Worker, Job as BullJob, ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Job } from '../prompts/types.js';
import type { RunEvent, RunEvents } from '../events.js';
import { serializeError } from '../protocol/errors.js';
import type { FeedContext, JobFeed } from '../run/run-book.js';
import type { Ticket } from '../run/job-source.js';
import type { JobRecord } from '../store/types.js';
import { sidecarOf } from '../store/files.js';
import { NotRejectableError, rejectImage } from '../store/index.js';
import { fleetJobProblem } from './enqueue.js';
import { BEAT_MS, CONTROL_PAUSE_FIELD, fleetJobId, fleetKey, openJobs, parsePause, parseStored, queueName, type FleetResult, type Pin, type ProfileBeat, type Refused, type Rejection } from './keys.js';

/** What a BullMQ job of the fleet carries: the job as enqueued (prompt, hash, references by sha256). */
export interface FleetJobData {
  readonly job: Job;
}

export interface FleetLinkOptions {
  /** BullMQ, loaded by the worker (src/fleet/redis.ts loadBullmq). */
  readonly bullmq: typeof import('bullmq');
  /** Our own keys (pins, results, beats). */
  readonly redis: Redis;
  /** BullMQ's connections (it opens its own). */
  readonly connection: ConnectionOptions;
  readonly book: string;
  readonly profiles: readonly string[];
  /** This worker's name in results and beats: host and pid. */
  readonly worker: string;
  readonly reassignAfterMs: number;
  /** BullMQ's lock on a job in the run; renewed every third of it. @default 30 s */
  readonly lockMs?: number;
  /** Jobs of the fleet not verified when the worker started (what it shows as "to run"). */
  readonly expected: number;
  /** The job as this machine runs it (its references' bytes written locally). */
  readonly localize: (job: Job) => Job;
  /** The book's current jobs (as enqueued last), for reporting what the journal has. */
  readonly jobs: readonly Job[];
  readonly events: RunEvents;
  /** @default Date.now */
  readonly now?: () => number;
}

interface Lease {
  readonly bull: BullJob<FleetJobData>;
  readonly token: string;
  readonly fleetId: string;
  readonly job: Job;
}

/** How often a worker with nothing to take asks the queue again. */
const POLL_MS = 500;
/** A profile paused this long or longer gives its queued jobs back to the fleet. */
const HAND_BACK_PAUSE_MS = 10_000;
/** How long the end of a worker waits for Redis to hear of its last results and hand-backs. */
const FINAL_REPORT_MS = 30_000;

export class FleetLink implements JobFeed {
  readonly #opts: FleetLinkOptions;
  readonly #now: () => number;
  readonly #lockMs: number;
  readonly #queue: Queue;
  readonly #worker: Worker<FleetJobData>;
  readonly #leases = new Map<string, Lease>();
  /** Panels each profile holds now, from the run's own events (for the beat). */
  readonly #doing = new Map<string, Set<string>>();
  readonly #verified = new Map<string, number>();
  readonly #bookJobs: ReadonlyMap<string, Job>;
  #ctx: FeedContext | undefined;
  #seq = 0;
  #stopping = false;
  #pump: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #reports: Promise<void> = Promise.resolve();
  #timers: NodeJS.Timeout[] = [];
  #redisDown = false;
  #stopped: Promise<void> | undefined;
  #offEvents: (() => void) | undefined;
  /** The fleet dashboard's pause: every profile, or these. */
  #paused: 'all' | ReadonlySet<string> = new Set();

  constructor(opts: FleetLinkOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#lockMs = opts.lockMs ?? 30_000;
    this.#bookJobs = new Map(opts.jobs.map((job) => [job.id, job]));
    const name = queueName(opts.book);
    const { Queue, Worker } = opts.bullmq;
    this.#queue = new Queue(name, { connection: opts.connection, prefix: 'semantest' });
    // No processor: the run takes jobs itself (getNextJob) when a profile can start one. A job whose
    // worker died comes back however often that happens: the journal, not the stall count, says
    // whether it was done.
    this.#worker = new Worker<FleetJobData>(name, null, {
      connection: opts.connection,
      prefix: 'semantest',
      autorun: false,
      lockDuration: this.#lockMs,
      stalledInterval: this.#lockMs,
      maxStalledCount: Number.MAX_SAFE_INTEGER,
    });
    // BullMQ reports a lost connection here; the pump says so once and carries on when it is back.
    this.#queue.on('error', () => undefined);
    this.#worker.on('error', () => undefined);
  }

  get expected(): number {
    return this.#opts.expected;
  }

  async start(ctx: FeedContext): Promise<void> {
    this.#ctx = ctx;
    const onEvent = (event: RunEvent) => this.#onEvent(event);
    ctx.events.on('event', onEvent);
    this.#offEvents = () => ctx.events.off('event', onEvent);
    await this.#worker.startStalledCheckTimer().catch(() => undefined);
    this.#timers.push(setInterval(() => void this.#renewLocks(), Math.max(250, Math.floor(this.#lockMs / 3))));
    this.#timers.push(setInterval(() => void this.#beat('working').then(() => this.#readControl()).catch(() => undefined), BEAT_MS));
    await this.#beat('working').catch(() => undefined);
    await this.#readControl().catch(() => undefined);
    await this.#reconcile().catch((error) => this.#lost(error));
    const off = ctx.source.onChange(() => this.#wake?.());
    this.#pump = this.#run().finally(off);
  }

  /**
   * Before the job starts on `profile` (awaited by the run): the fleet's pin says this profile has it,
   * so while it lives no other worker starts it; a panel taken but never started carries no pin and
   * flows to any worker at once if this one dies. While Redis is away this waits for it.
   */
  async beforeStart(job: Job, profile: string): Promise<void> {
    const lease = this.#leases.get(job.id);
    if (!lease) return;
    const pin: Pin = { profile, worker: this.#opts.worker, at: this.#now() };
    await this.#withRedis(() => this.#opts.redis.hset(fleetKey(this.#opts.book, 'pins'), lease.fleetId, JSON.stringify(pin)), this.#ctx?.interrupt.soft);
  }

  finished(ticket: Ticket): void {
    const lease = this.#leases.get(ticket.job.id);
    if (!lease) return;
    this.#leases.delete(ticket.job.id);
    this.#later(() => this.#settle(lease));
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#pump;
    const { source } = this.#ctx ?? {};
    // Whatever is still here was not finished: back to the fleet, pinned if its conversation exists.
    for (const lease of [...this.#leases.values()]) {
      source?.drop(lease.job.id);
      this.#leases.delete(lease.job.id);
      this.#later(() => this.#handBack(lease));
    }
    const late = new Promise<'late'>((resolve) => this.#timers.push(setTimeout(() => resolve('late'), FINAL_REPORT_MS)));
    if ((await Promise.race([this.#reports.then(() => 'done' as const), late])) === 'late') {
      this.#note(`the fleet's Redis did not hear of every result before this worker stopped; its journal keeps them, and the next start of this worker reports them`);
    }
    for (const timer of this.#timers) clearTimeout(timer);
    await this.#beat('stopped').catch(() => undefined);
    this.#offEvents?.();
    await Promise.allSettled([this.#worker.close(), this.#queue.close()]);
  }

  /** Takes jobs while a profile could start one; closes the run's source once the book is done everywhere. */
  async #run(): Promise<void> {
    const ctx = this.#ctx!;
    while (!this.#stopping) {
      let took = false;
      try {
        if (this.#wanted() > 0) {
          const token = `${this.#opts.worker}.${++this.#seq}`;
          const bull = (await this.#worker.getNextJob(token, { block: false })) as BullJob<FleetJobData> | undefined;
          if (bull) {
            took = true;
            await this.#receive(bull, token);
          }
        } else {
          await this.#handBackWhilePaused();
        }
        if (!took && this.#leases.size === 0 && ctx.source.size === 0 && (await this.#bookDone())) {
          ctx.source.close();
          return;
        }
        this.#back();
      } catch (error) {
        if (isConnectionError(error)) this.#lost(error);
        else this.#note(`could not take a job from the fleet: ${serializeError(error).message}; trying again`);
      }
      if (!took) await this.#sleep(POLL_MS);
    }
  }

  /** Jobs the run could start now beyond those it has: each profile not paused nor retired, one per tab. */
  #wanted(): number {
    const ctx = this.#ctx!;
    const want = ctx.sessions.filter((session) => this.#canStartWithin(session, 1_000)).reduce((sum, session) => sum + session.lanes, 0);
    return want - ctx.source.size;
  }

  /** Whether `session` may start a job within `ms`: not retired, not waiting for a login, not paused (by its gate or the fleet) beyond it. */
  #canStartWithin(session: FeedContext['sessions'][number], ms: number): boolean {
    if (session.state === 'retired' || session.state === 'waiting for a login' || this.#pausedByFleet(session.name)) return false;
    const pause = session.gate.state().pauseUntil;
    return pause === undefined || pause <= this.#now() + ms;
  }

  async #receive(bull: BullJob<FleetJobData>, token: string): Promise<void> {
    const ctx = this.#ctx!;
    const { redis } = this.#opts;
    const fleetId = bull.id!;
    const enqueued = bull.data?.job;
    const problem = fleetJobProblem(enqueued) ?? (fleetJobId(enqueued) !== fleetId ? 'its data does not name the panel its id does' : undefined);
    if (problem) {
      this.#note(`the fleet's job ${fleetId.slice(0, 120)} is not one Semantest enqueued (${problem}): marked failed, not run`);
      await bull.moveToFailed(new Error(`not a Semantest job: ${problem}`), token, false);
      return;
    }
    const job = this.#opts.localize(enqueued);
    // Verified somewhere in the fleet already: a second delivery (at least once), not a second job.
    const known = await redis.hget(fleetKey(this.#opts.book, 'results'), fleetId);
    if (known) {
      await bull.moveToCompleted(parseStored<FleetResult>(known) ?? known, token, false);
      return;
    }
    // Rejected from the fleet's dashboard: if the rejected image is ours, journal it as `reject` does.
    const rejection = parseStored<Rejection>(await redis.hget(fleetKey(this.#opts.book, 'rejects'), fleetId), (r) => typeof r.sha256 === 'string');
    const mine = ctx.store.get(job.id);
    if (rejection && mine?.state === 'verified' && mine.sha256 === rejection.sha256) {
      try {
        const { rejection: kept } = await rejectImage(ctx.store, { id: job.id, bookDir: ctx.bookDir, outputPath: job.outputPath, reason: String(rejection.reason ?? '') });
        this.#note(`${job.id}: rejected from the fleet's dashboard${rejection.reason ? ` (${rejection.reason})` : ''}; its image is kept as ${kept.keptAs}, and it is made again`);
      } catch (error) {
        if (!(error instanceof NotRejectableError)) throw error;
        this.#note(error.message);
      }
    }
    // Verified here, and the fleet never heard (the worker died between its journal and Redis).
    const record = ctx.store.get(job.id);
    if (record?.state === 'verified' && record.promptHash === job.promptHash && record.path && record.sha256) {
      const result = await this.#report(fleetId, job, record);
      await bull.moveToCompleted(result, token, false);
      return;
    }
    // A panel taken by a profile of another worker stays with it while it lives (DESIGN §13).
    const pin = parseStored<Pin>(await redis.hget(fleetKey(this.#opts.book, 'pins'), fleetId), (p) => typeof p.profile === 'string' && Number.isFinite(p.at));
    const now = this.#now();
    let moved: Pin | undefined;
    if (pin && !this.#opts.profiles.includes(pin.profile)) {
      const beat = parseStored<ProfileBeat>(await redis.hget(fleetKey(this.#opts.book, 'profiles'), pin.profile), (b) => Number.isFinite(b.seen));
      const lastSign = Math.max(pin.at, beat?.seen ?? 0);
      const goneFor = now - lastSign;
      if (goneFor < this.#opts.reassignAfterMs) {
        await bull.moveToDelayed(now + Math.min(this.#opts.reassignAfterMs - goneFor, 3_000) + 100, token);
        return;
      }
      moved = pin;
    }
    // Another job of the same panel is here already (the file was enqueued again with a changed prompt): later.
    if (ctx.source.has(job.id) || this.#leases.has(job.id)) {
      await bull.moveToDelayed(now + 3_000, token);
      return;
    }
    // A pin to a gone profile lapses here: this worker sends the panel afresh (beforeStart pins it to ours).
    if (moved) {
      await redis.hdel(fleetKey(this.#opts.book, 'pins'), fleetId);
      this.#note(`${job.id}: taken last by profile "${moved.profile}" (${moved.worker}), gone for ${Math.round((now - moved.at) / 1000)} s; sending it again from here (one more prompt)`);
    }
    this.#leases.set(job.id, { bull, token, fleetId, job });
    // A rejected image may never come back as this panel's new one: the run's requeue sees to that.
    if (ctx.store.get(job.id)?.state === 'rejected') {
      ctx.control.requeue(job.id);
      if (ctx.source.has(job.id)) return;
    }
    if (!ctx.deliver(job)) {
      this.#leases.delete(job.id);
      await bull.moveToDelayed(now + 3_000, token);
    }
  }

  /** After a job left the run: its result (or final failure) to the fleet, or the job back to it. */
  async #settle(lease: Lease): Promise<void> {
    const record = this.#ctx!.store.get(lease.job.id);
    const pins = fleetKey(this.#opts.book, 'pins');
    if (record?.state === 'verified' && record.promptHash === lease.job.promptHash && record.path && record.sha256) {
      const result = await this.#report(lease.fleetId, lease.job, record);
      await this.#withRedis(() => this.#opts.redis.hdel(pins, lease.fleetId));
      await this.#finishBull(() => lease.bull.moveToCompleted(result, lease.token, false));
      return;
    }
    if (record?.state === 'failed' && record.failure?.final) {
      const { kind, message } = record.failure;
      await this.#withRedis(() => this.#opts.redis.hdel(pins, lease.fleetId));
      await this.#finishBull(() => lease.bull.moveToFailed(new Error(`${kind}: ${message}`), lease.token, false));
      return;
    }
    await this.#handBack(lease);
  }

  /** The job goes back to the fleet's queue: pinned to the profile whose conversation holds it, else free. */
  async #handBack(lease: Lease): Promise<void> {
    const record = this.#ctx!.store.get(lease.job.id);
    const pins = fleetKey(this.#opts.book, 'pins');
    if (record?.conversationUrl && record.profile && record.state !== 'verified') {
      const pin: Pin = { profile: record.profile, worker: this.#opts.worker, at: this.#now() };
      await this.#withRedis(() => this.#opts.redis.hset(pins, lease.fleetId, JSON.stringify(pin)));
    } else {
      await this.#withRedis(() => this.#opts.redis.hdel(pins, lease.fleetId));
    }
    await this.#finishBull(() => lease.bull.moveToWait(lease.token));
  }

  /** The first result for a job is kept; a second one (another worker's) is refused and said. */
  async #report(fleetId: string, job: Job, record: JobRecord): Promise<FleetResult> {
    const result: FleetResult = {
      jobId: fleetId,
      panel: job.id,
      promptHash: job.promptHash,
      file: record.path!,
      outputPath: job.outputPath,
      sha256: record.sha256!,
      sidecar: sidecarOf(record.path!),
      host: hostname(),
      worker: this.#opts.worker,
      profile: record.profile ?? this.#opts.profiles[0],
      verifiedAt: Date.parse(record.updatedAt) || this.#now(),
    };
    const key = fleetKey(this.#opts.book, 'results');
    const set = await this.#withRedis(() => this.#opts.redis.hsetnx(key, fleetId, JSON.stringify(result)));
    if (set === 1) return result;
    const kept = parseStored<FleetResult>(await this.#withRedis(() => this.#opts.redis.hget(key, fleetId)));
    if (kept && kept.sha256 === result.sha256 && kept.profile === result.profile && kept.host === result.host) return kept; // our own, told again
    const refused: Refused = { ...result, keptResultOf: kept ? `${kept.profile} on ${kept.worker}` : 'unknown' };
    await this.#withRedis(() => this.#opts.redis.rpush(fleetKey(this.#opts.book, 'refused'), JSON.stringify(refused)));
    this.#note(`${job.id}: verified here too, but ${refused.keptResultOf} verified it first; this result is refused (its image stays at ${result.file})`);
    return kept ?? result;
  }

  /** At start: results this worker's journal has and the fleet does not (it died in between). */
  async #reconcile(): Promise<void> {
    const ctx = this.#ctx!;
    // One read of what the fleet knows, not one per verified panel.
    const known = new Set(await this.#opts.redis.hkeys(fleetKey(this.#opts.book, 'results')));
    for (const record of Object.values(ctx.store.state().jobs)) {
      if (record.state !== 'verified' || !record.path || !record.sha256) continue;
      const job = this.#jobOf(record);
      if (!job || known.has(fleetJobId(job))) continue;
      await this.#report(fleetJobId(job), job, record);
    }
  }

  #jobOf(record: JobRecord): Job | undefined {
    const job = this.#bookJobs.get(record.id);
    return job && job.promptHash === record.promptHash ? job : undefined;
  }

  async #handBackWhilePaused(): Promise<void> {
    if (this.#ctx!.sessions.some((session) => this.#canStartWithin(session, HAND_BACK_PAUSE_MS))) return;
    await this.#handBackQueued();
  }

  /** Queued jobs no profile here has started go back to the fleet, for a worker that can start them. */
  async #handBackQueued(): Promise<void> {
    const ctx = this.#ctx!;
    for (const ticket of ctx.source.queuedTickets()) {
      if (ticket.pin !== undefined) continue; // its conversation is in one of ours: only we can continue it
      const lease = this.#leases.get(ticket.job.id);
      if (!lease || !ctx.source.drop(ticket.job.id)) continue;
      this.#leases.delete(ticket.job.id);
      this.#later(() => this.#handBack(lease));
    }
  }

  #pausedByFleet(profile: string): boolean {
    return this.#paused === 'all' || this.#paused.has(profile);
  }

  /** The fleet dashboard's pause: a worker all of whose profiles are paused starts nothing new (panels in flight finish). */
  async #readControl(): Promise<void> {
    const ctx = this.#ctx;
    if (!ctx) return;
    const pause = parsePause(await this.#opts.redis.hget(fleetKey(this.#opts.book, 'control'), CONTROL_PAUSE_FIELD));
    this.#paused = pause === 'all' ? 'all' : new Set(pause);
    const all = this.#opts.profiles.every((name) => this.#pausedByFleet(name));
    if (all && !ctx.control.paused) {
      ctx.control.pause();
      this.#note(`paused from the fleet's dashboard: no new panel starts here until it resumes`);
    } else if (!all && ctx.control.paused) {
      ctx.control.resume();
      this.#note(`resumed from the fleet's dashboard`);
    }
    if (all) await this.#handBackQueued();
  }

  async #bookDone(): Promise<boolean> {
    return (await openJobs(this.#queue)) === 0;
  }

  async #renewLocks(): Promise<void> {
    for (const lease of this.#leases.values()) {
      // A lost renewal does not stop the job (DESIGN §13): the pin keeps other workers off it.
      await lease.bull.extendLock(lease.token, this.#lockMs).catch(() => undefined);
    }
  }

  async #beat(state: string): Promise<void> {
    const ctx = this.#ctx;
    const now = this.#now();
    const fields: string[] = [];
    for (const name of this.#opts.profiles) {
      const session = ctx?.sessions.find((s) => s.name === name);
      const gate = session?.gate.state();
      const beat: ProfileBeat = {
        profile: name,
        worker: this.#opts.worker,
        host: hostname(),
        pid: process.pid,
        seen: now,
        state: state === 'stopped' ? 'stopped' : session?.state ?? state,
        ...(gate?.pauseUntil !== undefined && gate.pauseUntil > now ? { until: gate.pauseUntil, reason: gate.pauseReason } : {}),
        doing: [...(this.#doing.get(name) ?? [])],
        verified: this.#verified.get(name) ?? 0,
      };
      fields.push(name, JSON.stringify(beat));
    }
    await this.#opts.redis.hset(fleetKey(this.#opts.book, 'profiles'), ...fields);
  }

  #onEvent(event: { type: string; id?: string; profile?: string }): void {
    const { id, profile } = event;
    if (!id || !profile) return;
    if (event.type === 'job-start') {
      let set = this.#doing.get(profile);
      if (!set) this.#doing.set(profile, (set = new Set()));
      set.add(id);
    } else if (event.type === 'job-verified' || event.type === 'job-failed' || event.type === 'job-retry') {
      this.#doing.get(profile)?.delete(id);
      if (event.type === 'job-verified') this.#verified.set(profile, (this.#verified.get(profile) ?? 0) + 1);
    }
  }

  /** Runs `step` after every earlier report, in order; a failure is said, never thrown at the run. */
  #later(step: () => Promise<void>): void {
    this.#reports = this.#reports.then(step).catch((error) => this.#note(`could not tell the fleet: ${serializeError(error).message}`));
  }

  /** Retries `fn` while Redis is away (until `stop`, a second Ctrl-C, or FINAL_REPORT_MS into the worker's end); other errors are thrown. */
  async #withRedis<T>(fn: () => Promise<T>, stop?: AbortSignal): Promise<T> {
    const since = this.#now();
    for (let delay = 250; ; delay = Math.min(delay * 2, 2_000)) {
      // A second Ctrl-C, or the end of a worker whose Redis stays away, gives up: the journal keeps it.
      if (stop?.aborted || this.#ctx?.interrupt.hard.aborted || (this.#stopping && this.#now() - since > FINAL_REPORT_MS)) {
        throw new Error(`the fleet's Redis did not answer in time`);
      }
      try {
        const value = await fn();
        this.#back();
        return value;
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        this.#lost(error);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** A BullMQ move of a job we may no longer hold: a lost lock means another worker has it, and the pin and results decide. */
  async #finishBull(fn: () => Promise<unknown>): Promise<void> {
    try {
      await this.#withRedis(fn);
    } catch (error) {
      if (!/lock|not in the active|Missing key/i.test(serializeError(error).message)) throw error;
    }
  }

  #lost(error: unknown): void {
    if (this.#redisDown) return;
    this.#redisDown = true;
    this.#note(`the fleet's Redis does not answer (${serializeError(error).message}); images in flight go on, new ones wait for it`);
  }

  #back(): void {
    if (!this.#redisDown) return;
    this.#redisDown = false;
    this.#note(`the fleet's Redis answers again`);
  }

  #note(message: string): void {
    this.#opts.events.emitEvent({ type: 'note', message });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}

function isConnectionError(error: unknown): boolean {
  const { message } = serializeError(error);
  return /ECONNREFUSED|ECONNRESET|EPIPE|Connection is closed|Stream isn't writeable|enableOfflineQueue|connect ETIMEDOUT|Socket closed|MaxRetriesPerRequest/i.test(message);
}
