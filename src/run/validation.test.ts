import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPromptFile, parsePromptText, type PromptBook } from '../prompts/index.js';
import { RunEvents, type RunSummary } from '../events.js';
import { formatPercent, formatValidationReport } from '../report/validation-report.js';
import type { JobRecord, JobStore } from '../store/index.js';
import { planJobs } from './plan.js';
import { collectJobOutcomes, evaluateValidation, partsOfId, spreadSample } from './validation.js';

/** A book of `shape[c]` strips per chapter, `panels` panels per strip, each with text in `locales`. */
function book(shape: number[], panels: number, locales: string[] = []): PromptBook {
  const lines = ['book: spread', ...(locales.length ? [`locales: [${locales.join(', ')}]`] : []), 'chapters:'];
  shape.forEach((strips, c) => {
    lines.push(`  - id: ch${c + 1}`, '    strips:');
    for (let s = 1; s <= strips; s++) {
      lines.push(`      - id: s${s}`, '        panels:');
      for (let p = 1; p <= panels; p++) {
        lines.push(`          - id: p${p}`, `            prompt: "chapter ${c + 1} strip ${s} panel ${p}"`);
        if (locales.length) lines.push(`            text: { ${locales.map((l) => `${l}: "hi ${l}"`).join(', ')} }`);
      }
    }
  });
  return parsePromptText(`${lines.join('\n')}\n`, 'spread.yaml');
}

const ids = (jobs: Array<{ id: string }>) => jobs.map((j) => j.id);

describe('the validation sample', () => {
  it('goes round the chapters, then their strips, then the locales, first panels first', () => {
    const b = book([2, 2, 2], 2, ['en', 'ja']);
    expect(ids(spreadSample(b.jobs, 10))).toEqual([
      'ch1/s1/p1.en',
      'ch2/s1/p1.ja',
      'ch3/s1/p1.en',
      'ch1/s2/p1.ja',
      'ch2/s2/p1.en',
      'ch3/s2/p1.ja',
      'ch1/s1/p1.ja',
      'ch2/s1/p1.en',
      'ch3/s1/p1.ja',
      'ch1/s2/p1.en',
    ]);
    // Both locales within the first two picks; every chapter within the first three.
    expect(ids(spreadSample(b.jobs, 2))).toEqual(['ch1/s1/p1.en', 'ch2/s1/p1.ja']);
    expect(new Set(spreadSample(b.jobs, 3).map((j) => j.chapter))).toEqual(new Set(['ch1', 'ch2', 'ch3']));
  });

  it('is deterministic, never repeats a job, and takes every job when N is larger than the book', () => {
    const b = book([3, 1, 2], 3, ['en', 'ja', 'fr']);
    expect(ids(spreadSample(b.jobs, 12))).toEqual(ids(spreadSample(b.jobs, 12)));
    const all = spreadSample(b.jobs, 1000);
    expect(all).toHaveLength(b.jobs.length);
    expect(new Set(ids(all))).toEqual(new Set(ids(b.jobs)));
    // A prefix of a bigger sample: N only decides where the list stops.
    expect(ids(spreadSample(b.jobs, 7))).toEqual(ids(all).slice(0, 7));
  });

  it('skips a chapter that has run out and goes on with the others', () => {
    const b = book([3, 1], 1);
    expect(ids(spreadSample(b.jobs, 4))).toEqual(['ch1/s1/p1', 'ch2/s1/p1', 'ch1/s2/p1', 'ch1/s3/p1']);
  });

  it('spreads a one-chapter book over its strips (prompts/chapter1.yaml)', async () => {
    const b = await loadPromptFile(path.resolve('prompts/chapter1.yaml'));
    expect(ids(spreadSample(b.jobs, 10))).toEqual([
      'ch1/s1/p1~1',
      'ch1/s2/p1',
      'ch1/s3/p1',
      'ch1/s4/p1',
      'ch1/s5/p1',
      'ch1/s1/p1~2',
      'ch1/s2/p2',
      'ch1/s3/p2',
      'ch1/s4/p2',
      'ch1/s5/p2',
    ]);
  });

  it('is drawn from the jobs not yet verified: a --resume --validate run leaves verified panels out', async () => {
    const b = book([2, 2, 2], 2, ['en', 'ja']);
    const dir = await mkdtemp(path.join(tmpdir(), 'semantest-validate-'));
    try {
      const records: Record<string, JobRecord> = {};
      for (const job of b.jobs.slice(0, 4)) {
        const file = path.join(dir, job.outputPath.replaceAll('/', '_'));
        await writeFile(file, job.id);
        records[job.id] = { id: job.id, state: 'verified', promptHash: job.promptHash, attempts: 1, path: file, sha256: createHash('sha256').update(job.id).digest('hex'), updatedAt: '' };
      }
      const store = { dir, state: () => ({ jobs: records }), get: (id: string) => records[id] } as unknown as JobStore;
      const plan = await planJobs(b, store, { resume: true, retryFailed: false, regenerateChanged: false, validate: 10 });
      expect(plan.skipped).toHaveLength(4);
      expect(plan.sampledFrom).toBe(b.jobs.length - 4);
      expect(plan.toRun).toHaveLength(10);
      expect(ids(plan.toRun).filter((id) => id in records)).toEqual([]);
      // All of ch1/s1 is verified: ch1 starts at its next strip.
      expect(ids(plan.toRun).slice(0, 3)).toEqual(['ch1/s2/p1.en', 'ch2/s1/p1.ja', 'ch3/s1/p1.en']);
      expect(plan.notes.at(-1)).toMatch(/^validation sample: 10 of the 20 jobs not yet verified, over 3 chapters, \d strips, 2 locales \(en, ja\); the 4 verified earlier are not part of it: ch1\/s2\/p1\.en, /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads chapter, strip, locale and variant from a job id', () => {
    expect(partsOfId('ch1/s2/p3.pt-BR~2')).toEqual({ chapter: 'ch1', strip: 's2', locale: 'pt-BR', variant: '2' });
    expect(partsOfId('ch1/s2/p3~a')).toEqual({ chapter: 'ch1', strip: 's2', variant: 'a' });
    expect(partsOfId('ch1/s2/p3')).toEqual({ chapter: 'ch1', strip: 's2' });
  });
});

function summary(jobs: NonNullable<RunSummary['jobs']>, extra: Partial<RunSummary> = {}): RunSummary {
  const failed = jobs.filter((j) => !j.verified && j.kind).map((j) => ({ id: j.id, kind: j.kind!, message: j.message ?? '' }));
  return { book: 'spread', total: 40, verified: jobs.filter((j) => j.verified).length, skipped: 0, failed, stale: [], notRun: 0, elapsedMs: 1, promptsSent: jobs.length, jobs, sampledFrom: 40, ...extra };
}

const ok = (id: string, attempts = 1, ms = 41_000) => ({ id, verified: true, attempts, ms });

describe('the validation report', () => {
  it('says it clears the bar at exactly the bar, with the first-try count and the mean time', () => {
    const jobs = [...Array.from({ length: 8 }, (_, i) => ok(`ch${(i % 3) + 1}/s1/p${i + 1}.en`)), ok('ch1/s2/p1.ja', 2), { id: 'ch1/s2/p1', verified: false, attempts: 1, kind: 'transient', message: 'Something went wrong' }];
    const result = evaluateValidation(summary(jobs), 90);
    expect(result).toMatchObject({ sampled: 10, verified: 9, firstTry: 8, meanMs: 41_000, clears: true });
    const text = formatValidationReport(result);
    expect(text).toContain('validation sample: 10 of the 40 jobs not yet verified, over 3 chapters, 4 strips, 2 locales (en, ja)');
    expect(text).toContain('validation: 9/10 verified (90 %), 8 on the first try (80 %), 41 s per image on average — clears the 90 % bar; failed:\n  ch1/s2/p1 failed (transient): Something went wrong');
  });

  it('says plainly that it does not clear the bar and names each failure with its kind and reason', () => {
    const jobs = [
      ok('ch1/s1/p1', 1, 1_500),
      ok('ch2/s1/p1', 1, 2_500),
      { id: 'ch1/s2/p1', verified: false, attempts: 1, kind: 'transient', message: 'Something went wrong' },
      { id: 'ch3/s1/p1', verified: false, attempts: 2, kind: 'policy', message: 'This request may violate our content policy' },
    ];
    const text = formatValidationReport(evaluateValidation(summary(jobs), 90));
    expect(text.split('\n').slice(1)).toEqual([
      'validation: 2/4 verified (50 %), 2 on the first try (50 %), 2.0 s per image on average — does not clear the 90 % bar: scale up only after fixing:',
      '  ch1/s2/p1 failed (transient): Something went wrong',
      '  ch3/s1/p1 failed (policy): This request may violate our content policy',
    ]);
  });

  it('never rounds a rate up to the bar: 17 of 19 is 89.4 % and does not clear 90 %', () => {
    const jobs = [...Array.from({ length: 17 }, (_, i) => ok(`ch1/s1/p${i + 1}`)), ...[18, 19].map((i) => ({ id: `ch1/s1/p${i}`, verified: false, attempts: 1, kind: 'timeout', message: 'no image' }))];
    const result = evaluateValidation(summary(jobs), 90);
    expect(result.clears).toBe(false);
    expect(formatValidationReport(result)).toContain('17/19 verified (89.4 %)');
    expect(evaluateValidation(summary(jobs), 89).clears).toBe(true);
    expect(formatPercent(2, 3)).toBe('66.6 %');
  });

  it('takes a failure the run listed without an event (a browser that kept going away) from the summary', () => {
    const jobs = [ok('ch1/s1/p1'), { id: 'ch1/s1/p2', verified: false, attempts: 0 }];
    const s = summary(jobs, { failed: [{ id: 'ch1/s1/p2', kind: 'disconnect', message: 'not run: the browser kept going away' }] });
    expect(formatValidationReport(evaluateValidation(s, 50))).toContain('— clears the 50 % bar; failed:\n  ch1/s1/p2 failed (disconnect): not run: the browser kept going away');
  });

  it('gives no verdict on a sample the run stopped in the middle of', () => {
    const jobs = [ok('ch1/s1/p1'), { id: 'ch1/s1/p2', verified: false, attempts: 0 }];
    const result = evaluateValidation(summary(jobs, { stopReason: 'interrupted' }), 50);
    expect(result.clears).toBe(false);
    const text = formatValidationReport(result);
    expect(text).toContain('the run stopped before the sample was done, so it says nothing about the 50 % bar');
    expect(text).toContain('ch1/s1/p2 not run: never started: the run stopped (interrupted) before it ended');
  });

  it('says so when nothing was left to sample', () => {
    const text = formatValidationReport(evaluateValidation(summary([], { skipped: 12 }), 90));
    expect(text).toBe('validation: nothing to sample: no job is left that is not verified (12 verified earlier); nothing was measured');
  });
});

describe('collecting job outcomes from the run events', () => {
  it('counts attempts made in this run, the verified attempt\'s time and the last failure', () => {
    const events = new RunEvents();
    const b = book([1], 3);
    const outcomes = collectJobOutcomes(events, b.jobs);
    const [a, c] = ['ch1/s1/p1', 'ch1/s1/p2'];
    // A job resumed from an earlier run starts at attempt 3: it is still its first try in this run.
    events.emitEvent({ type: 'job-start', id: a, attempt: 3 });
    events.emitEvent({ type: 'job-verified', id: a, path: '/x.png', attempt: 3, ms: 1234, bytes: 1, done: 1, toRun: 3 });
    events.emitEvent({ type: 'job-start', id: c, attempt: 1 });
    events.emitEvent({ type: 'job-retry', id: c, kind: 'timeout', message: 'no image in 180 s', attempt: 1, notBefore: 0 });
    events.emitEvent({ type: 'job-start', id: c, attempt: 2 });
    events.emitEvent({ type: 'job-failed', id: c, kind: 'transient', message: 'Something went wrong', done: 2, toRun: 3 });
    events.emitEvent({ type: 'job-start', id: 'not/in/plan', attempt: 1 });
    outcomes.stop();
    events.emitEvent({ type: 'job-start', id: a, attempt: 4 });
    expect(outcomes.jobs).toEqual([
      { id: a, verified: true, attempts: 1, ms: 1234 },
      { id: c, verified: false, attempts: 2, kind: 'transient', message: 'Something went wrong' },
      { id: 'ch1/s1/p3', verified: false, attempts: 0 },
    ]);
  });
});
