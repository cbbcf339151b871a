// The validation batch (`--validate [N]`): a small sample spread over the book, run for real, then
// judged against a bar before anyone scales up to the whole book.
import type { Job } from '../prompts/types.js';
import type { RunEvent, RunEvents, RunSummary } from '../events.js';

/** What one job of this run came to; `attempts` counts the attempts made in this run. */
export type JobOutcome = NonNullable<RunSummary['jobs']>[number];

/**
 * The sample: up to `n` of `jobs` (the jobs a run would do, in book order), spread over the book.
 * Round-robin over chapters, in book order; a chapter hands out its strips in turn (s1, s2, …, then
 * s1 again); a strip hands out its jobs panel by panel, a panel all its locales/variants before the
 * next panel. So the first picks are the first panels of every chapter, then of every strip, then
 * the other locales of those panels. The locales/variants rotate: the k-th strip the sample reaches
 * (0-based) starts each of its panels at that panel's (k mod count)-th locale/variant, so a sample
 * of a two-locale book shows both locales within its first two picks. Deterministic: no randomness,
 * nothing but the order of the book.
 */
export function spreadSample(jobs: readonly Job[], n: number): Job[] {
  interface Strip {
    panels: Job[][];
    queue?: Job[];
  }
  interface Chapter {
    strips: Strip[];
    next: number;
  }
  const chapters: Chapter[] = [];
  const byChapter = new Map<string, Chapter>();
  const byStrip = new Map<string, Strip>();
  const byPanel = new Map<string, Job[]>();
  for (const job of jobs) {
    let chapter = byChapter.get(job.chapter);
    if (!chapter) {
      chapter = { strips: [], next: 0 };
      byChapter.set(job.chapter, chapter);
      chapters.push(chapter);
    }
    const stripKey = `${job.chapter}/${job.strip}`;
    let strip = byStrip.get(stripKey);
    if (!strip) {
      strip = { panels: [] };
      byStrip.set(stripKey, strip);
      chapter.strips.push(strip);
    }
    const panelKey = `${stripKey}/${job.panel}`;
    let panel = byPanel.get(panelKey);
    if (!panel) {
      panel = [];
      byPanel.set(panelKey, panel);
      strip.panels.push(panel);
    }
    panel.push(job);
  }

  const sample: Job[] = [];
  let stripsReached = 0;
  const left = (strip: Strip) => (strip.queue ? strip.queue.length > 0 : strip.panels.length > 0);
  while (sample.length < n) {
    let took = false;
    for (const chapter of chapters) {
      if (sample.length >= n) break;
      // The chapter's next strip that still has a job, from where it left off.
      let strip: Strip | undefined;
      for (let i = 0; i < chapter.strips.length && !strip; i++) {
        const candidate = chapter.strips[(chapter.next + i) % chapter.strips.length];
        if (left(candidate)) {
          strip = candidate;
          chapter.next = (chapter.strips.indexOf(candidate) + 1) % chapter.strips.length;
        }
      }
      if (!strip) continue;
      if (!strip.queue) {
        const offset = stripsReached++;
        strip.queue = strip.panels.flatMap((panel) => rotate(panel, offset % panel.length));
      }
      sample.push(strip.queue.shift()!);
      took = true;
    }
    if (!took) break;
  }
  return sample;
}

function rotate<T>(items: readonly T[], by: number): T[] {
  return [...items.slice(by), ...items.slice(0, by)];
}

/** `ch1/s2/p3.ja~2` → its chapter, strip, locale and variant (ids use only letters, digits, - and _). */
export function partsOfId(id: string): { chapter: string; strip: string; locale?: string; variant?: string } {
  const [chapter = '', strip = '', last = ''] = id.split('/');
  const match = /^[^.~]+(?:\.([^~]+))?(?:~(.+))?$/.exec(last);
  return { chapter, strip, ...(match?.[1] ? { locale: match[1] } : {}), ...(match?.[2] ? { variant: match[2] } : {}) };
}

/** The one line that says which jobs the sample holds, printed before the run. */
export function describeSample(sample: readonly Job[], candidates: number, verifiedEarlier: number): string {
  const spread = spreadOf(sample.map((j) => j.id));
  const earlier = verifiedEarlier > 0 ? `; the ${verifiedEarlier} verified earlier are not part of it` : '';
  return `validation sample: ${sample.length} of the ${candidates} jobs not yet verified, over ${spread}${earlier}: ${sample.map((j) => j.id).join(', ')}`;
}

export function spreadOf(ids: readonly string[]): string {
  const parts = ids.map(partsOfId);
  const chapters = new Set(parts.map((p) => p.chapter)).size;
  const strips = new Set(parts.map((p) => `${p.chapter}/${p.strip}`)).size;
  const locales = [...new Set(parts.flatMap((p) => (p.locale ? [p.locale] : [])))];
  const variants = new Set(parts.flatMap((p) => (p.variant ? [p.variant] : []))).size;
  const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
  return [
    plural(chapters, 'chapter'),
    plural(strips, 'strip'),
    ...(locales.length ? [`${plural(locales.length, 'locale')} (${locales.join(', ')})`] : []),
    ...(variants ? [plural(variants, 'variant')] : []),
  ].join(', ');
}

/** With `--validate N`: the plan's jobs to run become the spread sample of them (and a note says which). */
export function applyValidationSample(plan: { toRun: Job[]; skipped: readonly Job[]; notes: string[]; sampledFrom?: number }, n: number): void {
  plan.sampledFrom = plan.toRun.length;
  plan.toRun = spreadSample(plan.toRun, n);
  plan.notes.push(
    plan.toRun.length > 0
      ? describeSample(plan.toRun, plan.sampledFrom, plan.skipped.length)
      : `validation sample: no job left to sample (${plan.skipped.length} verified earlier)`,
  );
}

/**
 * Follows the run's events and keeps, for each job this run set out to do, how it went: the
 * attempts made in this run, whether it ended verified and how long its verified attempt took,
 * and the last failure seen (final or retried). The list is live: read it once the run has ended.
 */
export function collectJobOutcomes(events: RunEvents, jobs: readonly Job[]): { jobs: JobOutcome[]; stop(): void } {
  const list: JobOutcome[] = jobs.map((job) => ({ id: job.id, verified: false, attempts: 0 }));
  const byId = new Map(list.map((entry) => [entry.id, entry]));
  const listener = (event: RunEvent) => {
    const entry = 'id' in event ? byId.get(event.id) : undefined;
    if (!entry) return;
    switch (event.type) {
      case 'job-start':
        entry.attempts += 1;
        break;
      case 'job-verified':
        entry.verified = true;
        entry.ms = event.ms;
        if (event.profile !== undefined) entry.profile = event.profile;
        break;
      case 'job-retry':
      case 'job-failed':
        entry.kind = event.kind;
        entry.message = event.message;
        break;
    }
  };
  events.on('event', listener);
  return { jobs: list, stop: () => void events.off('event', listener) };
}

export interface ValidationResult {
  /** Jobs in the sample (run this time). */
  sampled: number;
  /** Jobs not yet verified the sample was drawn from. */
  candidates: number;
  /** Jobs verified by earlier runs: not part of the sample. */
  verifiedEarlier: number;
  verified: number;
  /** Verified at the first attempt made for them in this run. */
  firstTry: number;
  /** Mean time of the verified attempts (send to saved, proven file); absent when none was verified. */
  meanMs?: number;
  /** The bar in percent of the sample. */
  bar: number;
  clears: boolean;
  /** The spread of the sample, e.g. "3 chapters, 6 strips, 2 locales (en, ja)". */
  spread: string;
  /** Every sampled job that did not end verified: its failure kind and the reason. */
  failures: Array<{ id: string; kind: string; message: string }>;
  interrupted: boolean;
}

/** Judges a validation run from its summary. Success = verified / sampled; it clears the bar at ≥ bar %. */
export function evaluateValidation(summary: RunSummary, bar: number): ValidationResult {
  const jobs = summary.jobs ?? [];
  const verified = jobs.filter((j) => j.verified);
  const failedById = new Map(summary.failed.map((f) => [f.id, f]));
  const interrupted = summary.stopReason !== undefined;
  const failures = jobs
    .filter((j) => !j.verified)
    .map((j) => {
      const failed = failedById.get(j.id);
      if (failed) return { id: j.id, kind: failed.kind, message: failed.message };
      const why = interrupted ? `the run stopped (${summary.stopReason}) before it ended` : 'it did not end';
      if (j.kind) return { id: j.id, kind: j.kind, message: `${j.message ?? ''} (not retried: ${why})` };
      return { id: j.id, kind: 'not run', message: j.attempts > 0 ? `${why}` : `never started: ${why}` };
    });
  const times = verified.flatMap((j) => (j.ms !== undefined ? [j.ms] : []));
  return {
    sampled: jobs.length,
    candidates: summary.sampledFrom ?? jobs.length,
    verifiedEarlier: summary.skipped,
    verified: verified.length,
    firstTry: verified.filter((j) => j.attempts === 1).length,
    ...(times.length ? { meanMs: times.reduce((a, b) => a + b, 0) / times.length } : {}),
    bar,
    // Exact: 17 of 19 (89.47 %) does not clear 90 %, whatever the rounding shows.
    // A run that stopped before its sample was done gives no verdict to scale up on.
    clears: !interrupted && (jobs.length === 0 || verified.length * 100 >= bar * jobs.length),
    spread: spreadOf(jobs.map((j) => j.id)),
    failures,
    interrupted,
  };
}
