// How journal lines fold into state. Pure, so replaying a journal twice gives the same state.
import type { JobRecord, JournalLine, StoreSnapshot } from './types.js';

export function emptyState(): StoreSnapshot {
  return { version: 1, seq: 0, jobs: {}, pacing: { startsSinceCooldown: 0 } };
}

/** Folds one line into `state` in place. Records are replaced, never edited, so a record a caller holds stays as it was. */
export function applyLine(state: StoreSnapshot, line: JournalLine): void {
  state.seq = line.seq;
  if (line.t === 'pacing') {
    state.pacing = { ...line.pacing };
  } else if (line.t === 'job') {
    const previous: JobRecord = (Object.hasOwn(state.jobs, line.id) ? state.jobs[line.id] : undefined) ?? { id: line.id, state: 'pending', promptHash: '', attempts: 0, updatedAt: line.at };
    const next: JobRecord = { ...previous, state: line.state, updatedAt: line.at };
    if (line.promptHash !== undefined) next.promptHash = line.promptHash;
    if (line.attempt !== undefined) next.attempts = line.attempt;
    if (line.conversationUrl !== undefined) next.conversationUrl = line.conversationUrl;
    if (line.profile !== undefined) next.profile = line.profile;
    if (line.fileId !== undefined) next.fileId = line.fileId;
    if (line.path !== undefined) next.path = line.path;
    if (line.sha256 !== undefined) next.sha256 = line.sha256;
    // A failure describes the failed state only; a retried or finished job must not look failed.
    if (line.state === 'failed' && line.failure !== undefined) next.failure = line.failure;
    else if (line.state !== 'failed') delete next.failure;
    // A rejection outlives the attempts that regenerate the panel (the sidecar of the image that
    // replaces it names it) and ends with the next verified image; only a `rejected` line sets one.
    if (line.state === 'rejected' && line.rejection !== undefined) next.rejection = line.rejection;
    else if (line.state === 'verified') delete next.rejection;
    state.jobs[line.id] = next;
  }
}
