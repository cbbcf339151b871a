// The validation batch (`--validate [N]`): a spread sample of the book run for real on the mock, a
// report that says plainly whether it clears the bar (exit 0) or not (exit 1), and images that count
// for the book, so --resume skips them.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { journalEvents, listFiles, runCli, sha256Of, workDir } from './cli.js';

const FAST = ['--mock', '--headless', '--mock-latency-ms', '200', '--min-gap', '0', '--jitter', '0', '--concurrency', '2', '--out', 'out'];

/** 3 chapters × 2 strips × 2 panels, each in en and ja: 24 jobs. */
async function book(cwd: string): Promise<string> {
  const lines = ['book: atlas', 'style: "ink"', 'locales: [en, ja]', 'chapters:'];
  for (let c = 1; c <= 3; c++) {
    lines.push(`  - id: ch${c}`, '    strips:');
    for (let s = 1; s <= 2; s++) {
      lines.push(`      - id: s${s}`, '        panels:');
      for (let p = 1; p <= 2; p++) {
        lines.push(`          - id: p${p}`, `            prompt: "the atlas, chapter ${c}, strip ${s}, panel ${p}"`, `            text: { en: "Page ${c}.${s}.${p}", ja: "ページ ${c}.${s}.${p}" }`);
      }
    }
  }
  const file = path.join(cwd, 'atlas.yaml');
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

/** The job ids of the images under out/atlas: `ch1/s1/p1.en`, … */
async function imageIds(cwd: string): Promise<string[]> {
  const dir = path.join(cwd, 'out', 'atlas');
  return (await listFiles(dir, '.png')).map((f) => path.relative(dir, f).replace(/\.png$/, '').split(path.sep).join('/'));
}

async function verifiedInJournal(cwd: string): Promise<string[]> {
  return (await journalEvents(path.join(cwd, 'checkpoints', 'atlas', 'journal.jsonl'))).filter((e) => e.state === 'verified').map((e) => String(e.id));
}

test('--validate runs a sample spread over chapters and locales, clears the bar, and --resume skips what it made', async () => {
  const cwd = await workDir();
  const file = await book(cwd);
  const validated = await runCli([file, ...FAST, '--validate'], cwd);
  expect(validated.stderr).toBe('');
  expect(validated.code).toBe(0);
  expect(validated.stdout).toContain('validation sample: 10 of the 24 jobs not yet verified, over 3 chapters, 6 strips, 2 locales (en, ja)');
  expect(validated.stdout).toMatch(/validation: 10\/10 verified \(100 %\), \d+ on the first try \(\d+(\.\d)? %\), \d+\.\d s per image on average — clears the 90 % bar\n/);
  const sample = await imageIds(cwd);
  expect(sample).toHaveLength(10);
  expect(new Set(sample.map((id) => id.split('/')[0]))).toEqual(new Set(['ch1', 'ch2', 'ch3']));
  expect(new Set(sample.map((id) => id.split('.')[1]))).toEqual(new Set(['en', 'ja']));
  // The first panels: the sample is the spread, not the book's first ten jobs.
  expect(sample.every((id) => id.includes('/p1.'))).toBe(true);

  // With --resume, another sample is drawn from the panels not yet verified.
  const more = await runCli([file, ...FAST, '--resume', '--validate', '4'], cwd);
  expect(more.code).toBe(0);
  expect(more.stdout).toContain('validation sample: 4 of the 14 jobs not yet verified');
  expect(more.stdout).toContain('(the 10 verified earlier are not part of it)');
  expect(more.stdout).toContain('4 verified, 0 failed, 10 already done');
  const second = (await imageIds(cwd)).filter((id) => !sample.includes(id));
  expect(second).toHaveLength(4);

  const rest = await runCli([file, ...FAST, '--resume'], cwd);
  expect(rest.code).toBe(0);
  expect(rest.stdout).toContain('10 verified, 0 failed, 14 already done');
  expect(rest.stdout).not.toContain('validation');
  const verified = await verifiedInJournal(cwd);
  expect(verified).toHaveLength(24);
  expect(new Set(verified).size).toBe(24);
});

test('--validate with failures does not clear the bar, exits 1 naming each failure, and --resume keeps its images', async () => {
  const cwd = await workDir();
  const file = await book(cwd);
  const validated = await runCli([file, ...FAST, '--validate', '--mock-faults', 'error:0.3', '--retries', '0'], cwd);
  expect(validated.code).toBe(1);
  const verdict = /validation: (\d+)\/10 verified \(\d+(?:\.\d)? %\), \d+ on the first try[^\n]* — does not clear the 90 % bar: scale up only after fixing:\n((?: {2}\S+ failed \(\w+\): [^\n]*\n?)+)/.exec(validated.stdout);
  expect(verdict, validated.stdout).not.toBeNull();
  const verifiedCount = Number(verdict![1]);
  const failureLines = verdict![2].trim().split('\n');
  expect(failureLines).toHaveLength(10 - verifiedCount);
  const failedIds = failureLines.map((line) => line.trim().split(' ')[0]).sort();
  for (const line of failureLines) expect(line).toMatch(/ failed \(transient\): \S/);
  const made = await imageIds(cwd);
  expect(made).toHaveLength(verifiedCount);
  expect(failedIds.filter((id) => made.includes(id))).toEqual([]);
  const before = await Promise.all(made.map((id) => sha256Of(path.join(cwd, 'out', 'atlas', `${id}.png`))));

  // The images it made count for the book: a plain --resume does the rest and leaves them as they are.
  const rest = await runCli([file, ...FAST, '--resume'], cwd);
  expect(rest.code).toBe(0);
  expect(rest.stdout).toContain(`${24 - verifiedCount} verified, 0 failed, ${verifiedCount} already done`);
  expect(await Promise.all(made.map((id) => sha256Of(path.join(cwd, 'out', 'atlas', `${id}.png`))))).toEqual(before);
  expect(await imageIds(cwd)).toHaveLength(24);
});

test('an invalid --validate or --validate-bar is a usage error naming the option', async () => {
  const cwd = await workDir();
  const file = await book(cwd);
  for (const [args, option] of [
    [['--validate', '0'], '--validate'],
    [['--validate', 'ten'], '--validate'],
    [['--validate', '2.5'], '--validate'],
    [['--validate', '--validate-bar', '120'], '--validate-bar'],
    [['--validate', '--validate-bar', 'high'], '--validate-bar'],
    [['--validate-bar', '80'], '--validate-bar'],
    [['--validate', '5', '--limit', '3'], '--limit'],
  ] as const) {
    const result = await runCli([file, ...FAST, ...args], cwd);
    expect(result.code, args.join(' ')).toBe(2);
    expect(result.stderr, args.join(' ')).toContain(option);
  }
  expect(await imageIds(cwd).catch(() => [])).toEqual([]);
});
