// The local JobStore: journal.jsonl is the truth, snapshot.json (lowdb) a shortcut through it.
// Every change is appended and fsynced before it is applied, so the caller never acts on a
// transition a crash could forget; calls are queued so seqs follow the order of the calls.
import path from 'node:path';
import type { Low } from 'lowdb';
import { CheckpointError, DiskFullError, isDiskFull } from '../protocol/errors.js';
import { applyLine } from './apply.js';
import { makeDirDurably } from './durable.js';
import { JournalFile } from './journal-file.js';
import { JOURNAL_FILE, loadState, SegmentGapError, snapshotDb, type Loaded } from './load.js';
import type { JobRecord, JobStore, JournalEvent, JournalLine, StoreSnapshot } from './types.js';

/** Every durable step of a compaction, in order (tests crash at each one). */
export const COMPACTION_STEPS = [
  'snapshot-temp-written',
  'snapshot-temp-synced',
  'snapshot-renamed',
  'snapshot-dir-synced',
  'journal-temp-written',
  'journal-temp-synced',
  'journal-renamed',
  'journal-dir-synced',
] as const;
export type CompactionStep = (typeof COMPACTION_STEPS)[number];

export interface JobStoreOptions {
  /** Compact after this many events since the last snapshot.
   * @default 500, or the SEMANTEST_COMPACT_EVERY environment variable */
  readonly compactEvery?: number;
  /** Test hook between compaction's system calls; throwing there leaves the files as a crash would. */
  readonly onCompactionStep?: (step: CompactionStep) => void | Promise<void>;
  /** @default Date.now */
  readonly now?: () => number;
  /** Called at each point where the chaos tests may kill the process: `mid-snapshot` is after
   * snapshot.json is durable and before the journal's new segment. The store never crashes itself;
   * the run layer passes its crash hook here.
   * @default does nothing */
  readonly onCrashPoint?: (point: 'mid-snapshot') => void;
  /** A compaction failed (the journal still holds everything; it is tried again later): the run says so. */
  readonly onCompactionError?: (error: unknown) => void;
}

const DEFAULT_COMPACT_EVERY = 500;
/** Attempts at reading a folder that a running compaction may be switching under us. */
const GAP_RETRIES = 3;

export async function openJobStore(dir: string, opts: JobStoreOptions = {}): Promise<LocalJobStore> {
  const compactEvery = opts.compactEvery ?? compactEveryFromEnv();
  if (!Number.isInteger(compactEvery) || compactEvery < 1) throw new TypeError('Expected `compactEvery` to be a positive integer.');
  const step = opts.onCompactionStep ?? (() => undefined);
  const db = snapshotDb(dir, (s) => step(`snapshot-${s}`));
  for (let attempt = 1; ; attempt++) {
    try {
      await makeDirDurably(dir);
      const loaded = await loadState(dir, db);
      return new LocalJobStore(dir, db, loaded, { compactEvery, step, now: opts.now ?? Date.now, onCrashPoint: opts.onCrashPoint ?? (() => undefined), onCompactionError: opts.onCompactionError ?? (() => undefined) });
    } catch (error) {
      if (error instanceof SegmentGapError && attempt < GAP_RETRIES) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      if (error instanceof CheckpointError) throw error;
      throw Object.assign(new CheckpointError(`could not read the checkpoint in ${dir}: ${(error as Error).message}`), { cause: error });
    }
  }
}

function compactEveryFromEnv(): number {
  const raw = process.env.SEMANTEST_COMPACT_EVERY;
  if (raw === undefined || raw === '') return DEFAULT_COMPACT_EVERY;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`Expected SEMANTEST_COMPACT_EVERY to be a positive integer, got "${raw}".`);
  return value;
}

interface Settings {
  compactEvery: number;
  step: (step: CompactionStep) => void | Promise<void>;
  now: () => number;
  onCrashPoint: (point: 'mid-snapshot') => void;
  onCompactionError: (error: unknown) => void;
}

export class LocalJobStore implements JobStore {
  readonly dir: string;
  readonly #db: Low<StoreSnapshot>;
  readonly #state: StoreSnapshot;
  readonly #journal: JournalFile;
  readonly #settings: Settings;
  #sinceSnapshot: number;
  #nextCompaction: number;
  #journalBehind: boolean;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(dir: string, db: Low<StoreSnapshot>, loaded: Loaded, settings: Settings) {
    this.dir = dir;
    this.#db = db;
    this.#state = loaded.state;
    this.#journal = new JournalFile(path.join(dir, JOURNAL_FILE), loaded.journalValidBytes);
    this.#settings = settings;
    this.#sinceSnapshot = loaded.sinceSnapshot;
    this.#nextCompaction = settings.compactEvery;
    this.#journalBehind = loaded.journalBehind;
  }

  state(): StoreSnapshot {
    return this.#state;
  }

  get(id: string): JobRecord | undefined {
    // Own keys only: an id like "constructor" must not find Object.prototype's.
    return Object.hasOwn(this.#state.jobs, id) ? this.#state.jobs[id] : undefined;
  }

  record(event: JournalEvent): Promise<void> {
    return this.#enqueue(async () => {
      await this.#append(event);
      if (this.#sinceSnapshot >= this.#nextCompaction) {
        // The event is safe in the journal whatever happens here; a failed compaction waits for
        // another round of events rather than retrying on every append of a full disk.
        await this.#compact().catch((error: unknown) => {
          this.#nextCompaction = this.#sinceSnapshot + this.#settings.compactEvery;
          this.#settings.onCompactionError(error);
        });
      }
    });
  }

  compact(): Promise<void> {
    return this.#enqueue(() => this.#compact());
  }

  /** Waits for queued calls, then closes the journal; calling it again does nothing. */
  close(): Promise<void> {
    return this.#enqueue(async () => {
      this.#closed = true;
      await this.#journal.close();
    }, true);
  }

  #enqueue(task: () => Promise<void>, evenIfClosed = false): Promise<void> {
    const run = this.#queue.then(() => {
      if (this.#closed && evenIfClosed) return undefined;
      if (this.#closed) throw new Error(`the job store for ${this.dir} is closed`);
      return task();
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #append(event: JournalEvent): Promise<void> {
    const line = { seq: this.#state.seq + 1, at: new Date(this.#settings.now()).toISOString(), ...event };
    const text = `${JSON.stringify(line)}\n`;
    try {
      if (this.#journalBehind) await this.#startSegment();
      await this.#journal.append(text);
    } catch (error) {
      if (isDiskFull(error)) throw new DiskFullError(path.join(this.dir, JOURNAL_FILE), { cause: error });
      const code = (error as NodeJS.ErrnoException).code;
      const detail = code && !(error as Error).message.startsWith(code) ? `${code} ${(error as Error).message}` : (error as Error).message;
      throw Object.assign(new CheckpointError(`could not write ${path.join(this.dir, JOURNAL_FILE)}: ${detail}`), { cause: error });
    }
    // Applied from the bytes on disk, so the live state is exactly what a replay will rebuild.
    applyLine(this.#state, JSON.parse(text) as JournalLine);
    this.#sinceSnapshot += 1;
  }

  async #compact(): Promise<void> {
    this.#db.data = this.#state;
    await this.#db.write();
    // The snapshot is durable; the old journal still holds everything, so stopping here is safe.
    this.#settings.onCrashPoint('mid-snapshot');
    await this.#startSegment();
    this.#sinceSnapshot = 0;
    this.#nextCompaction = this.#settings.compactEvery;
  }

  async #startSegment(): Promise<void> {
    const header = { seq: this.#state.seq, at: new Date(this.#settings.now()).toISOString(), t: 'segment' };
    await this.#journal.startSegment(`${JSON.stringify(header)}\n`, (s) => this.#settings.step(`journal-${s}`));
    this.#journalBehind = false;
  }
}
