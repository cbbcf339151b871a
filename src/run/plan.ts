// Decides which jobs a run will do, from the prompt file and the checkpoint (ARCHITECTURE §6 resume rules).
import picomatch from 'picomatch';
import { UsageError } from '../protocol/errors.js';
import type { Job, PromptBook } from '../prompts/types.js';
import { applyValidationSample } from './validation.js';
import { repairRejection, type JobRecord, type JobStore } from '../store/index.js';
import { sha256OfFile } from '../store/files.js';
import { isSheetId } from '../prompts/sheets.js';

export interface PlanOptions {
  readonly resume: boolean;
  readonly only?: string;
  readonly limit?: number;
  readonly retryFailed: boolean;
  readonly regenerateChanged: boolean;
  /** --validate N: run a spread sample of N of the jobs not yet verified (validation.ts). */
  readonly validate?: number;
}

export interface Plan {
  toRun: Job[];
  /** Verified earlier, file present and intact. */
  skipped: Job[];
  /** Verified earlier with a prompt that has since changed (kept unless --regenerate-changed). */
  stale: Job[];
  /** Failed earlier with a kind that is not retried without --retry-failed. */
  failedBefore: Array<{ job: Job; record: JobRecord }>;
  notes: string[];
  /** With --validate: how many jobs not yet verified the sample in `toRun` was drawn from. */
  sampledFrom?: number;
}

/** Kinds a plain resume does not try again: the site refused, or the proof failed every time. */
const FINAL_KINDS = new Set(['policy', 'verify']);

export async function planJobs(book: PromptBook, store: JobStore, opts: PlanOptions): Promise<Plan> {
  // Character sheets share the book's checkpoint (src/prompts/sheets.ts): a run of the panels and a
  // run of the sheets each count only their own records as an earlier run.
  const sheets = book.jobs.length > 0 && book.jobs.every((job) => isSheetId(job.id));
  const records = Object.values(store.state().jobs).filter((r) => isSheetId(r.id) === sheets);
  const started = records.filter((r) => r.state !== 'pending');
  if (started.length > 0 && !opts.resume) {
    const verified = started.filter((r) => r.state === 'verified').length;
    const rejected = started.filter((r) => r.state === 'rejected').length;
    throw new UsageError(
      `${store.dir} holds an earlier run of "${book.book}" (${verified} verified, ${rejected ? `${rejected} rejected, ` : ''}${started.length - verified - rejected} unfinished): add --resume to continue it, or move that folder away to start over`,
    );
  }
  const plan: Plan = { toRun: [], skipped: [], stale: [], failedBefore: [], notes: [] };
  if (opts.resume && started.length === 0) plan.notes.push('nothing to resume: starting fresh');

  // A rejection is journalled before its files are moved aside; a crash between left them at their
  // old paths. Under the book's lock, finish the move before anything can write a new image there.
  for (const job of book.jobs) {
    const record = store.get(job.id);
    if (record?.state !== 'rejected') continue;
    const moved = await repairRejection(record, job.outputPath);
    if (moved.length > 0) plan.notes.push(`${job.id}: moved its rejected ${moved.map((m) => m.what).join(', ')} aside to ${record.rejection?.keptAs} (the rejection had stopped before moving ${moved.length === 1 ? 'it' : 'them'})`);
  }

  const matches = opts.only ? picomatch(opts.only) : undefined;
  for (const job of book.jobs) {
    if (matches && !matches(job.id)) continue;
    const record = store.get(job.id);
    if (record?.state === 'verified') {
      if (record.promptHash !== undefined && record.promptHash !== job.promptHash && !opts.regenerateChanged) {
        plan.stale.push(job);
        continue;
      }
      if (record.promptHash === job.promptHash || record.promptHash === undefined) {
        const actual = record.path ? await sha256OfFile(record.path) : undefined;
        if (actual !== undefined && actual === record.sha256) {
          plan.skipped.push(job);
          continue;
        }
        plan.notes.push(`${job.id}: its verified file is ${actual === undefined ? 'missing' : 'changed on disk'}, generating it again`);
      }
    } else if (record?.state === 'rejected') {
      // Always generated again (even with a changed prompt); the attempts go on counting.
      plan.notes.push(`${job.id}: rejected (${record.rejection?.reason || 'no reason given'}), generating it again`);
    } else if (record?.state === 'failed' && FINAL_KINDS.has(record.failure?.kind ?? '') && record.failure?.final !== false && !opts.retryFailed) {
      // (An attempt that failed verification and was waiting for its retry when the run stopped is not final.)
      plan.failedBefore.push({ job, record });
      continue;
    }
    plan.toRun.push(job);
  }
  if (opts.validate !== undefined) applyValidationSample(plan, opts.validate);
  if (opts.limit !== undefined && plan.toRun.length > opts.limit) plan.toRun = plan.toRun.slice(0, opts.limit);
  if (matches && plan.toRun.length + plan.skipped.length + plan.stale.length + plan.failedBefore.length === 0) {
    throw new UsageError(`--only ${opts.only}: no job id matches (ids look like ${book.jobs[0]?.id ?? 'ch1/s1/p1'})`);
  }
  return plan;
}
