// The store's vocabulary (ARCHITECTURE §6): what a job goes through, what the journal holds, what a load gives.

export type JobState = 'pending' | 'started' | 'submitted' | 'downloaded' | 'verified' | 'failed';

export const JOB_STATES: readonly JobState[] = ['pending', 'started', 'submitted', 'downloaded', 'verified', 'failed'];

export interface JobFailure {
  /** transient, cooldown, quota, policy, login, challenge, disconnect, verify, timeout… */
  kind: string;
  message: string;
  /** Files kept to show what went wrong (screenshots, rejected downloads). */
  evidence?: string[];
  /** false: the attempt failed and the job will be tried again; true: the job has failed for good. */
  final?: boolean;
}

export interface JobRecord {
  id: string;
  state: JobState;
  /** sha256 of the final prompt and parameters, as last recorded ('' until a `started` event names it). */
  promptHash: string;
  /** Attempts begun so far; the n of the latest `started(attempt n)`. */
  attempts: number;
  conversationUrl?: string;
  fileId?: string;
  path?: string;
  sha256?: string;
  /** Present only while the job is `failed`. */
  failure?: JobFailure;
  /** ISO time of the journal line that last changed this job. */
  updatedAt: string;
}

/** The pacing gate's memory, so a crash loop cannot fire a burst of starts. */
export interface PacingState {
  /** epoch ms */
  lastStartAt?: number;
  startsSinceCooldown: number;
  /** epoch ms */
  pauseUntil?: number;
  pauseReason?: string;
}

export type JournalEvent =
  | {
      t: 'job';
      id: string;
      state: JobState;
      promptHash?: string;
      attempt?: number;
      conversationUrl?: string;
      fileId?: string;
      path?: string;
      sha256?: string;
      failure?: JobFailure;
    }
  | { t: 'pacing'; pacing: PacingState }
  | { t: 'run'; event: 'start' | 'stop'; pid: number; argv?: string[]; reason?: string };

/** One line of journal.jsonl. */
export type JournalLine = { seq: number; at: string } & JournalEvent;

export interface StoreSnapshot {
  version: 1;
  /** The last journal sequence number folded into this state. */
  seq: number;
  jobs: Record<string, JobRecord>;
  pacing: PacingState;
}

/** The seam for later back-ends (BullMQ/Redis): the runner only talks to this interface. */
export interface JobStore {
  readonly dir: string;
  /** The current state; shared, so do not mutate it. */
  state(): StoreSnapshot;
  get(id: string): JobRecord | undefined;
  /** Appends the event durably, then applies it; rejects (state unchanged) if it could not be written. */
  record(event: JournalEvent): Promise<void>;
  /** Writes snapshot.json durably, then starts a fresh journal segment after it. */
  compact(): Promise<void>;
  close(): Promise<void>;
}
