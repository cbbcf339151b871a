// `semantest-run plan <file>`: how long the book's jobs left take on N accounts, and how many
// accounts a deadline needs (the model: src/plan/estimate.ts; docs/ARCHITECTURE.md §10 "The estimate").
import { existsSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../protocol/errors.js';
import { loadBookFor } from '../prompts/index.js';
import type { Quota } from '../prompts/types.js';
import { formatDuration } from '../report/format.js';
import { pacingToGateOptions } from '../schedule/gate.js';
import { openJobStore } from '../store/index.js';
import { estimateRun, profilesNeeded } from '../plan/estimate.js';
import { measuredImageMs, TYPICAL_IMAGE_MS } from '../plan/measure.js';

export interface PlanCommandOptions {
  readonly file: string;
  readonly checkpointsDir: string;
  /** Accounts to plan for; default: the file's `profiles:`, else 1. */
  readonly profiles?: number;
  /** `--by`: a time (18:00, 2026-12-06 09:00) or a duration from now (20h). */
  readonly by?: string;
  /** `--quota 50/3h`; default: the file's `quota:`. */
  readonly quota?: string;
  readonly now?: number;
  readonly write?: (line: string) => void;
}

const MAX_PROFILES = 50;

export async function runPlan(opts: PlanCommandOptions): Promise<number> {
  const write = opts.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const now = opts.now ?? Date.now();
  // `refs: sheet` characters: their sheets where a run with the default --out wrote them.
  const book = await loadBookFor(opts.file);
  if (opts.profiles !== undefined && (!Number.isInteger(opts.profiles) || opts.profiles < 1 || opts.profiles > MAX_PROFILES)) {
    throw new UsageError(`--profiles expects a whole number from 1 to ${MAX_PROFILES}, got ${opts.profiles}`);
  }
  const quota = opts.quota !== undefined ? parseQuota(opts.quota) : book.quota;
  const by = opts.by !== undefined ? parseBy(opts.by, now) : undefined;
  const profiles = opts.profiles ?? book.profiles?.length ?? 1;

  // The jobs left and the measured time per image, from the checkpoint if there is one.
  let left = book.jobs.length;
  let imageMs: number | undefined;
  const dir = path.join(opts.checkpointsDir, book.book);
  if (existsSync(dir)) {
    const store = await openJobStore(dir);
    try {
      const records = book.jobs.map((job) => store.get(job.id));
      left = records.filter((r) => r?.state !== 'verified').length;
      imageMs = await measuredImageMs(records);
    } finally {
      await store.close();
    }
  }
  // Sheets a run makes first (`refs: sheet`, not made yet) are images too.
  const sheets = book.sheetsToMake?.length ?? 0;
  const gate = pacingToGateOptions(book.pacing);
  const base = { jobs: left + sheets, gate, imageMs: imageMs ?? TYPICAL_IMAGE_MS, now, ...(quota ? { quota: { images: quota.images, windowMs: quota.hours * 3_600_000 } } : {}) };
  const estimate = estimateRun({ ...base, profiles });
  const p = book.pacing;
  write(`${book.book}: ${left} of ${book.jobs.length} jobs left${sheets ? `, and first ${sheets} character sheet${sheets === 1 ? '' : 's'} not made yet (${book.sheetsToMake!.join(', ')})` : ''}`);
  write(`  pacing per profile: ${p.concurrency} tab${p.concurrency === 1 ? '' : 's'}, ${p.minGapSeconds} s apart (+ up to ${p.jitterSeconds} s), a ${p.cooldownSeconds} s rest every ${p.cooldownEvery || '∞'} images`);
  write(
    quota
      ? `  quota per account: ${quota.images} images per ${formatHours(quota.hours)}${opts.quota !== undefined ? ' (--quota)' : ' (the file\'s quota:)'}`
      : '  quota: none given (the estimate assumes none; a paid plan allows about 50 images per 3 h: add quota: { images: 50, hours: 3 } or --quota 50/3h)',
  );
  write(`  time per image: ${formatDuration(base.imageMs)} ${imageMs !== undefined ? '(measured on this book\'s images)' : '(a typical figure: nothing measured yet)'}`);
  write(`  on ${profiles} profile${profiles === 1 ? '' : 's'}: about ${long(estimate.durationMs)}, done ${whenText(estimate.finishAt, now)} (limited by ${LIMITS[estimate.limitedBy]})`);
  if (by !== undefined) {
    const needed = profilesNeeded(base, by, MAX_PROFILES);
    write(
      needed === undefined
        ? `  by ${whenText(by, now, '')}: no number of profiles up to ${MAX_PROFILES} finishes in time`
        : `  by ${whenText(by, now, '')}: ${needed} profile${needed === 1 ? '' : 's'} (about ${long(estimateRun({ ...base, profiles: needed }).durationMs)})`,
    );
  }
  return 0;
}

const LIMITS = { quota: "the accounts' quota", pacing: 'the pacing', generation: 'the time an image takes with every tab busy' } as const;

/** `50/3h`, `50/180m`, `50/1d`. */
export function parseQuota(text: string): Quota {
  const match = /^\s*(\d+)\s*\/\s*(\d+(?:\.\d+)?)\s*(h|m|d)\s*$/i.exec(text);
  if (!match) throw new UsageError(`--quota expects images per time, e.g. 50/3h or 50/180m, got "${text}"`);
  const images = Number(match[1]);
  const amount = Number(match[2]);
  const hours = match[3].toLowerCase() === 'h' ? amount : match[3].toLowerCase() === 'm' ? amount / 60 : amount * 24;
  if (images < 1 || !(hours > 0)) throw new UsageError(`--quota expects at least 1 image per a time above 0, got "${text}"`);
  return { images, hours };
}

/** `18:00` (today, or tomorrow if past), `2026-12-06 09:00` (local time), or a duration from now: `20h`, `90m`, `2d`. */
export function parseBy(text: string, now: number): number {
  const trimmed = text.trim();
  const duration = /^(\d+(?:\.\d+)?)\s*(h|m|d)$/i.exec(trimmed);
  if (duration) {
    const n = Number(duration[1]);
    return now + n * { h: 3_600_000, m: 60_000, d: 86_400_000 }[duration[2].toLowerCase() as 'h' | 'm' | 'd'];
  }
  const clock = /^(\d{1,2}):(\d{2})$/.exec(trimmed);
  if (clock && Number(clock[1]) < 24 && Number(clock[2]) < 60) {
    const at = new Date(now);
    at.setHours(Number(clock[1]), Number(clock[2]), 0, 0);
    return at.getTime() > now ? at.getTime() : at.getTime() + 86_400_000;
  }
  const date = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{1,2}):(\d{2}))?$/.exec(trimmed);
  if (date) {
    const at = new Date(Number(date[1]), Number(date[2]) - 1, Number(date[3]), Number(date[4] ?? 0), Number(date[5] ?? 0)).getTime();
    if (Number.isFinite(at) && at > now) return at;
    if (Number.isFinite(at)) throw new UsageError(`--by: "${text}" is in the past`);
  }
  throw new UsageError(`--by expects a time (18:00), a date and time (2026-12-06 09:00) or a duration from now (20h, 90m, 2d), got "${text}"`);
}

/** A duration, with days beside it once it runs past two of them. */
function long(ms: number): string {
  return ms > 2 * 86_400_000 ? `${formatDuration(ms)} (${(ms / 86_400_000).toFixed(1)} days)` : formatDuration(ms);
}

function formatHours(hours: number): string {
  return hours === 1 ? 'hour' : Number.isInteger(hours) ? `${hours} h` : `${Math.round(hours * 60)} min`;
}

/** "today at 18:05", "on Sat 6 Dec 2026 at 09:00" (local time; `on` is left out after "by"). */
function whenText(at: number, now: number, on = 'on '): string {
  const d = new Date(at);
  const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  if (new Date(now).toDateString() === d.toDateString()) return `today at ${hm}`;
  return `${on}${d.toLocaleDateString('en-GB', { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' }).replace(',', '')} at ${hm}`;
}
