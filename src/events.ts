// Moved here from src/report so the run's code (src/run) depends on no reporting code; report/events.ts re-exports it.
// Every state change of a run is one of these events. The console reporter, a JSON-lines log and a
// later dashboard all consume the same stream; nothing else reports progress.
import { EventEmitter } from 'node:events';

export interface RunSummary {
  book: string;
  total: number;
  verified: number;
  skipped: number;
  failed: Array<{ id: string; kind: string; message: string }>;
  stale: string[];
  notRun: number;
  elapsedMs: number;
  /** Prompts that reached the site's send button this run (a look into an earlier conversation sends none). */
  promptsSent: number;
  /** With --mock: the shortest time between two prompts arriving at the site. */
  siteMinPromptGapMs?: number;
  stopReason?: 'interrupted' | 'human-needed' | 'fatal';
  /**
   * Each job this run set out to do, in the order planned, and how it went: whether it ended
   * verified, the attempts made in this run, the time of its verified attempt, and the last failure
   * seen (its kind and the page's or the check's words).
   */
  jobs?: Array<{ id: string; verified: boolean; attempts: number; ms?: number; kind?: string; message?: string; profile?: string }>;
  /** Per profile (account): images verified by it this run, prompts it sent, and how it ended (`retired` says why). */
  profiles?: Array<{ name: string; verified: number; promptsSent: number; state: ProfileStateName; reason?: string }>;
  /** With --validate: how many jobs not yet verified the sample (`jobs`) was drawn from. */
  sampledFrom?: number;
}

/**
 * What one profile (account) of the run is doing, for the status block, the dashboard and `--json`:
 * `starting` (its browser is coming up), `working`, `paused` (a usage cap or a rate limit, until
 * `until`), `resting` (it kept failing; until `until`), `relaunching` (its browser went away),
 * `waiting for a login` (a person must log in; the others carry on), `retired` (it takes no more jobs
 * this run; `reason` says why) and `finished`.
 */
export type ProfileStateName = 'starting' | 'working' | 'paused' | 'resting' | 'relaunching' | 'waiting for a login' | 'retired' | 'finished';

export type RunEvent =
  /** `profile` is the first of `profiles` (every profile the run uses, in the order given). */
  /** `quota`: the file's, per account (`windowMs` long), for the ETA. */
  | { type: 'run-start'; book: string; total: number; toRun: number; skipped: number; baseUrl: string; profile: string; profiles?: string[]; headless: boolean; concurrency: number; quota?: { images: number; windowMs: number } }
  | { type: 'note'; message: string; profile?: string }
  | { type: 'profile-state'; profile: string; state: ProfileStateName; until?: number; reason?: string }
  | { type: 'job-start'; id: string; attempt: number; profile?: string }
  | { type: 'job-progress'; id: string; phase: string; conversationUrl?: string; profile?: string }
  /** Written to the journal (fsynced) just before this event; one per state change of a job. */
  | { type: 'job-state'; id: string; state: string; attempt: number; conversationUrl?: string; kind?: string; profile?: string }
  | { type: 'job-verified'; id: string; path: string; attempt: number; ms: number; bytes: number; done: number; toRun: number; etaMs?: number; profile?: string }
  | { type: 'job-retry'; id: string; kind: string; message: string; attempt: number; notBefore: number; profile?: string }
  | { type: 'job-failed'; id: string; kind: string; message: string; done: number; toRun: number; profile?: string }
  | { type: 'pause'; until: number; reason: string; profile?: string }
  | { type: 'human-needed'; kind: string; message: string; waiting: boolean; profile?: string }
  | { type: 'stopping'; reason: string }
  /** A profile's pacing, once after `run-start` per profile (concurrency = its tabs), with its restored state: the status block's ETA counts it. */
  | { type: 'pacing'; concurrency: number; minGapMs: number; jitterMs: number; cooldownEvery: number; cooldownMs: number; startsSinceCooldown: number; lastStartAt?: number; profile?: string }
  /** A profile's gate holds its next start until `until` (its `wait` event): the gap, a cooldown, a pause, a retry's backoff, or (`slot`) a job ending. */
  | { type: 'gate-wait'; until: number; reason: 'gap' | 'cooldown' | 'pause' | 'backoff' | 'slot'; profile?: string }
  | { type: 'run-end'; summary: RunSummary };

export class RunEvents extends EventEmitter<{ event: [RunEvent] }> {
  emitEvent(event: RunEvent): void {
    this.emit('event', event);
  }
}
