// The checkpoint store (DESIGN §6): journal + snapshot per book, and the run locks.
export type { JobFailure, JobRecord, JobState, JobStore, JournalEvent, JournalLine, PacingState, StoreSnapshot } from './types.js';
export { JOB_STATES } from './types.js';
export { LocalJobStore, openJobStore, type CompactionStep, type JobStoreOptions } from './job-store.js';
export { acquireLock, type Lock } from './lock.js';
