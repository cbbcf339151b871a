// Character sheets (issue 16): `semantest-run characters` makes one verified sheet per character
// through the real run, saved under <out>/<book>/characters/ with a sidecar; --resume skips them,
// a sheet is rejected and redone like a panel (--only names the character), the report shows them
// first, and a normal run of the book afterwards neither trips over their records nor touches them.
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { journalEvents, runCli, sha256Of, workDir } from './cli.js';

const FAST = ['--mock', '--headless', '--min-gap', '0', '--jitter', '0', '--out', 'out', '--mock-latency-ms', '200', '--mock-url-delay-ms', '100', '--no-dashboard'];

const BOOK = `book: harbour
style: ink and watercolour, soft edges
characters:
  mara: a tall fisherwoman with a red scarf and grey braids
  tom:
    description: a small boy in a yellow raincoat
prompts:
  - "{mara} mends a net on the quay"
  - "{tom} waves from the end of the pier"
`;

test('characters: two verified sheets with sidecars, skipped on --resume, one redone with --only, and the book run is not disturbed', async () => {
  test.setTimeout(120_000);
  const cwd = await workDir();
  const file = path.join(cwd, 'harbour.yaml');
  await writeFile(file, BOOK);
  const sheetsDir = path.join(cwd, 'out', 'harbour', 'characters');
  const sheet = (name: string) => path.join(sheetsDir, `${name}.png`);

  const made = await runCli(['characters', file, ...FAST], cwd);
  expect(made.code, made.stderr + made.stdout).toBe(0);
  expect(made.stdout).toContain('harbour: 2 verified, 0 failed, 0 already done');
  for (const [name, description] of [['mara', 'a tall fisherwoman with a red scarf and grey braids'], ['tom', 'a small boy in a yellow raincoat']]) {
    const sidecar = JSON.parse(await readFile(sheet(name).replace(/\.png$/, '.json'), 'utf8'));
    expect(sidecar).toMatchObject({ jobId: `characters/${name}`, book: 'harbour', aspect: '16:9', sha256: await sha256Of(sheet(name)) });
    expect(sidecar.finalPrompt).toContain(description);
    expect(sidecar.finalPrompt).toContain('front view, side view (profile) and back view');
    expect(sidecar.finalPrompt).toContain('Style: ink and watercolour, soft edges.');
    expect(sidecar.verification).toMatchObject({ decoded: true, notBlank: true });
  }
  const journal = await journalEvents(path.join(cwd, 'checkpoints', 'harbour', 'journal.jsonl'));
  const verified = journal.filter((e) => e.state === 'verified').map((e) => e.id);
  expect(verified.sort()).toEqual(['characters/mara', 'characters/tom']);
  const maraBytes = await sha256Of(sheet('mara'));

  const again = await runCli(['characters', file, ...FAST, '--resume'], cwd);
  expect(again.code, again.stderr).toBe(0);
  expect(again.stdout).toContain('harbour: 0 verified, 0 failed, 2 already done');

  const unknown = await runCli(['characters', file, ...FAST, '--resume', '--only', 'nemo'], cwd);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('--only: "nemo" is not a character of');
  expect(unknown.stderr).toContain('(its characters: mara, tom)');

  // Rejected like a panel, then made again on its own.
  const rejected = await runCli(['reject', file, 'characters/tom', '--reason', 'wrong coat'], cwd);
  expect(rejected.code, rejected.stderr).toBe(0);
  expect(rejected.stdout).toContain('characters/tom rejected (wrong coat)');
  expect(existsSync(sheet('tom'))).toBe(false);
  const redo = await runCli(['characters', file, ...FAST, '--resume', '--only', 'tom'], cwd);
  expect(redo.code, redo.stderr).toBe(0);
  expect(redo.stdout).toContain('characters/tom: rejected (wrong coat), generating it again');
  expect(redo.stdout).toContain('harbour: 1 verified, 0 failed, 0 already done');
  expect(JSON.parse(await readFile(sheet('tom').replace(/\.png$/, '.json'), 'utf8')).replaces).toMatchObject({ reason: 'wrong coat' });
  const tomBytes = await sha256Of(sheet('tom'));
  expect(await sha256Of(sheet('mara'))).toBe(maraBytes);

  // The book itself, without --resume: the sheets' records are not an earlier run of its panels.
  const book = await runCli([file, ...FAST], cwd);
  expect(book.code, book.stderr + book.stdout).toBe(0);
  expect(book.stdout).toContain('harbour: 2 verified, 0 failed, 0 already done');
  for (const panel of ['p1', 'p2']) expect(existsSync(path.join(cwd, 'out', 'harbour', 'ch1', 's1', `${panel}.png`))).toBe(true);
  expect(await sha256Of(sheet('mara'))).toBe(maraBytes);
  expect(await sha256Of(sheet('tom'))).toBe(tomBytes);

  // The report: a "Characters" row first, each sheet verified with its thumbnail, then the panels.
  const report = await runCli(['report', file], cwd);
  expect(report.code, report.stderr).toBe(0);
  const html = await readFile(path.join(cwd, 'out', 'harbour', 'contact-sheet.html'), 'utf8');
  const ids = [...html.matchAll(/<figure class="take verified" data-id="([^"]+)"/g)].map((m) => m[1]);
  expect(ids).toEqual(['characters/mara', 'characters/tom', 'ch1/s1/p1', 'ch1/s1/p2']);
  expect(html).toMatch(/<section class="chapter"[^>]*data-chapter="characters"><h2><span class="sid">characters<\/span> Characters<\/h2>/);
  expect(html).toContain('href="characters/mara.png"');
});
