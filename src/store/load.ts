// Rebuilds the state from disk: snapshot.json if it is sound, plus the journal lines after it.
// Whatever is wrong, nothing is written here: a refusal leaves the files exactly as they were.
import path from 'node:path';
import { Low } from 'lowdb';
import { CheckpointError } from '../protocol/errors.js';
import { applyLine, emptyState } from './apply.js';
import { DurableJsonFile, UnreadableFileError } from './durable-json-file.js';
import type { DurableStep } from './durable.js';
import { readJournal } from './journal-reader.js';
import { parseSnapshot } from './snapshot-shape.js';
import type { StoreSnapshot } from './types.js';

export const SNAPSHOT_FILE = 'snapshot.json';
export const JOURNAL_FILE = 'journal.jsonl';

/** The way out of a checkpoint that cannot be rebuilt, and its price. */
export const WHAT_TO_DO = (file: string): string =>
  `restore ${file} from a backup and run again with --resume, or move the folder away to start the book fresh (every prompt is sent again)`;

export interface Loaded {
  state: StoreSnapshot;
  /** Events applied on top of the snapshot: how far the journal is from the next compaction. */
  sinceSnapshot: number;
  /** Where the journal's last good line ends. */
  journalValidBytes: number;
  /** The journal stops before the snapshot's seq (deleted or replaced): new events need a new segment. */
  journalBehind: boolean;
}

/** The snapshot and journal disagree in a way a compaction running right now could cause. */
export class SegmentGapError extends CheckpointError {}

export function snapshotDb(dir: string, onStep?: (step: DurableStep) => void | Promise<void>): Low<StoreSnapshot> {
  const adapter = new DurableJsonFile(path.join(dir, SNAPSHOT_FILE), { parse: parseSnapshot, onStep });
  return new Low(adapter, emptyState());
}

export async function loadState(dir: string, db: Low<StoreSnapshot>): Promise<Loaded> {
  const snapshotFile = path.join(dir, SNAPSHOT_FILE);
  const journalFile = path.join(dir, JOURNAL_FILE);
  const defaults = db.data;
  let unreadable: string | undefined;
  try {
    await db.read();
  } catch (error) {
    if (!(error instanceof UnreadableFileError)) throw error;
    unreadable = error.reason;
  }
  // Low.read keeps the default data when the file is missing.
  const snapshot = unreadable === undefined && db.data !== defaults ? db.data : undefined;
  const journal = await readJournal(journalFile);

  if (snapshot === undefined && journal.base > 0) {
    const problem = unreadable === undefined ? 'is missing' : `is unreadable (${unreadable})`;
    throw new CheckpointError(
      `${snapshotFile} ${problem} and ${JOURNAL_FILE} starts at seq ${journal.base + 1}, so the events before it are lost; refusing to start over — ${WHAT_TO_DO(SNAPSHOT_FILE)}`,
    );
  }
  // A damaged snapshot beside an empty or missing journal: starting from nothing would send the whole book again.
  if (unreadable !== undefined && journal.lines.length === 0) {
    throw new CheckpointError(
      `${snapshotFile} is unreadable (${unreadable}) and ${JOURNAL_FILE} holds no events to rebuild it from; refusing to start over — ${WHAT_TO_DO(SNAPSHOT_FILE)}`,
    );
  }
  if (snapshot !== undefined && journal.base > snapshot.seq) {
    throw new SegmentGapError(
      `${snapshotFile} holds events up to seq ${snapshot.seq} but ${JOURNAL_FILE} starts at seq ${journal.base + 1}, so the events between are lost; refusing to start over — ${WHAT_TO_DO(JOURNAL_FILE)}`,
    );
  }
  const state = snapshot ?? emptyState();
  const from = state.seq;
  let sinceSnapshot = 0;
  for (const line of journal.lines) {
    if (line.seq <= from) continue;
    applyLine(state, line);
    sinceSnapshot += 1;
  }
  db.data = state;
  return { state, sinceSnapshot, journalValidBytes: journal.validBytes, journalBehind: journal.last < from };
}
