// The checkpoint store (ARCHITECTURE §6): journal + snapshot per book, the run locks, and the one durable write.
export type { JobFailure, JobRecord, JobRejection, JobState, JobStore, JournalEvent, JournalLine, PacingState, StoreSnapshot } from './types.js';
export { JOB_STATES } from './types.js';
export { LocalJobStore, openJobStore, type CompactionStep, type JobStoreOptions } from './job-store.js';
export { makeDirDurably, renameDurably, replaceFileDurably, syncDir, writeFileDurably, type DurableStep, type ReplaceOptions } from './durable.js';
export { acquireLock, type Lock } from './lock.js';
export { bookDirOf, firstFreeKeptAs, NotRejectableError, REJECTED_DIR, rejectImage, rejectionMoves, repairRejection, type RejectionMove, type RejectRequest, type RejectResult } from './rejection.js';
