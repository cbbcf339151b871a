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
  promptsSent: number;
  /** With --mock: the shortest time between two prompts arriving at the site. */
  siteMinPromptGapMs?: number;
  stopReason?: 'interrupted' | 'human-needed' | 'fatal';
  /**
   * Each job this run set out to do, in the order planned, and how it went: whether it ended
   * verified, the attempts made in this run, the time of its verified attempt, and the last failure
   * seen (its kind and the page's or the check's words).
   */
  jobs?: Array<{ id: string; verified: boolean; attempts: number; ms?: number; kind?: string; message?: string }>;
  /** With --validate: how many jobs not yet verified the sample (`jobs`) was drawn from. */
  sampledFrom?: number;
}

export type RunEvent =
  | { type: 'run-start'; book: string; total: number; toRun: number; skipped: number; baseUrl: string; profile: string; headless: boolean; concurrency: number }
  | { type: 'note'; message: string }
  | { type: 'job-start'; id: string; attempt: number }
  | { type: 'job-progress'; id: string; phase: string; conversationUrl?: string }
  /** Written to the journal (fsynced) just before this event; one per state change of a job. */
  | { type: 'job-state'; id: string; state: string; attempt: number; conversationUrl?: string; kind?: string }
  | { type: 'job-verified'; id: string; path: string; attempt: number; ms: number; bytes: number; done: number; toRun: number; etaMs?: number }
  | { type: 'job-retry'; id: string; kind: string; message: string; attempt: number; notBefore: number }
  | { type: 'job-failed'; id: string; kind: string; message: string; done: number; toRun: number }
  | { type: 'pause'; until: number; reason: string }
  | { type: 'human-needed'; kind: string; message: string; waiting: boolean }
  | { type: 'stopping'; reason: string }
  /** The gate's pacing, once after `run-start` (concurrency = tabs), with its restored state: the status block's ETA counts it. */
  | { type: 'pacing'; concurrency: number; minGapMs: number; jitterMs: number; cooldownEvery: number; cooldownMs: number; startsSinceCooldown: number; lastStartAt?: number }
  /** The gate holds the next start until `until` (its `wait` event): the gap, a cooldown, a pause, a retry's backoff, or (`slot`) a job ending. */
  | { type: 'gate-wait'; until: number; reason: 'gap' | 'cooldown' | 'pause' | 'backoff' | 'slot' }
  | { type: 'run-end'; summary: RunSummary };

export class RunEvents extends EventEmitter<{ event: [RunEvent] }> {
  emitEvent(event: RunEvent): void {
    this.emit('event', event);
  }
}
