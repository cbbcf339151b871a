// The store's vocabulary (ARCHITECTURE §6): what a job goes through, what the journal holds, what a load gives.

export type JobState = 'pending' | 'started' | 'submitted' | 'downloaded' | 'verified' | 'failed' | 'rejected';

export const JOB_STATES: readonly JobState[] = ['pending', 'started', 'submitted', 'downloaded', 'verified', 'failed', 'rejected'];

export interface JobFailure {
  /** transient, cooldown, quota, policy, login, challenge, disconnect, verify, timeout… */
  kind: string;
  message: string;
  /** Files kept to show what went wrong (screenshots, rejected downloads). */
  evidence?: string[];
  /** false: the attempt failed and the job will be tried again; true: the job has failed for good. */
  final?: boolean;
}

/**
 * A person said a verified image is not right (`semantest-run reject`, or the dashboard). The file,
 * its sidecar and its evidence screenshot were moved aside, never overwritten or deleted; the next
 * run generates the panel again, and the new image's sidecar names this one (`replaces`).
 */
export interface JobRejection {
  reason: string;
  /** ISO time of the rejection. */
  at: string;
  /** Absolute path the rejected image was moved to: `<out>/<book>/.rejected/<relative path without .png>.<n>.png`. */
  keptAs: string;
  /** sha256 of the rejected file: the record's own `sha256` is the new download's once a retry gets that far. */
  sha256: string;
}

export interface JobRecord {
  id: string;
  state: JobState;
  /** sha256 of the final prompt and parameters, as last recorded ('' until a `started` event names it). */
  promptHash: string;
  /** Attempts begun so far; the n of the latest `started(attempt n)`. */
  attempts: number;
  conversationUrl?: string;
  /**
   * The browser profile (account) whose attempt this is, set by each `started` line: its
   * conversation exists only in that account, so only that profile may look in it again.
   */
  profile?: string;
  fileId?: string;
  path?: string;
  sha256?: string;
  /** Present only while the job is `failed`. */
  failure?: JobFailure;
  /**
   * Set by a `rejected` line and kept through the attempts that regenerate the panel (`started`,
   * `submitted`, `downloaded`, `failed`), so the attempt that saves the new image can name the one
   * it replaces in its sidecar; cleared by the next `verified`. While it is set, `path` and
   * `sha256` are the rejected image's until a new download replaces them.
   */
  rejection?: JobRejection;
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
      profile?: string;
      fileId?: string;
      path?: string;
      sha256?: string;
      failure?: JobFailure;
      /** Only on a `rejected` line. */
      rejection?: JobRejection;
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
