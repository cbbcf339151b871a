import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PNG } from 'pngjs';
import { expect, test } from '@playwright/test';
import { journalEvents, listFiles, root, runCli, sha256Of, startMockProcess, workDir } from './cli.js';

const demo = path.join(root, 'prompts', 'demo.yaml');

/** Each demo character, by the description its panels' prompts carry (demo.yaml's `characters:`). */
const CHARACTERS = { mara: 'Mara, a lighthouse keeper', tom: 'Tom, a young fisherman' };

interface PromptLog {
  prompt: string;
  attachments: Array<{ name: string; sha256: string }>;
  uploadsDone: boolean;
}

test.describe('the demo on the built-in mock site', () => {
  let cwd: string;
  let out: string;
  let book: string;
  let expectedJobs: string[];

  test.beforeAll(async () => {
    cwd = await workDir();
    out = path.join(cwd, 'out');
    // On a fresh folder the dry run lists the sheets the run makes first, then the panels.
    const dry = await runCli([demo, '--dry-run'], cwd);
    expect(dry.code, dry.stderr).toBe(0);
    expectedJobs = dry.stdout.split('\n').filter((l) => /^[^\t#]+\t/.test(l)).map((l) => l.split('\t')[0]);
    book = /jobs in (\S+)/.exec(dry.stdout)![1];
    expect(expectedJobs.slice(0, 2)).toEqual(['characters/mara', 'characters/tom']);
    expect(expectedJobs.length).toBeGreaterThanOrEqual(12);
    expect(dry.stdout).toContain(`2 character sheets, then ${expectedJobs.length - 2} jobs in ${book}`);
  });

  test('makes the character sheets first, then every panel as a verified, distinct PNG with its sidecar and its characters\' sheets attached, and exits 0', async () => {
    // The mock in its own process (the same site --mock starts), so its log can be read after the run.
    const mock = await startMockProcess(['--mock-latency-ms', '300', '--mock-url-delay-ms', '100', '--mock-upload-ms', '300']);
    let run: Awaited<ReturnType<typeof runCli>>;
    let sent: PromptLog[];
    try {
      run = await runCli([demo, '--base-url', mock.url, '--headless', '--out', out], cwd);
      sent = (await (await fetch(new URL('/__mock/prompts', mock.url))).json()) as PromptLog[];
    } finally {
      mock.stop();
    }
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const panels = expectedJobs.length - 2;
    // Said first, then the sheets' run, then the panels' run.
    const said = [
      'making the character sheets first (mara, tom)',
      `${book}: 2 verified, 0 failed, 0 already done`,
      'the character sheets are made (mara, tom); now the panels',
      `${book}: ${panels} verified, 0 failed, 0 already done`,
    ].map((words) => run.stdout.indexOf(words));
    expect(said.every((at) => at >= 0), run.stdout).toBe(true);
    expect([...said].sort((a, b) => a - b)).toEqual(said);

    // The mock's log: the two sheets first, sent with nothing attached; then each panel with exactly
    // the sheets of the characters its prompt names, all uploaded before the send.
    const sheetSha = { mara: await sha256Of(path.join(out, book, 'characters', 'mara.png')), tom: await sha256Of(path.join(out, book, 'characters', 'tom.png')) };
    expect(sent).toHaveLength(expectedJobs.length);
    expect(sent.slice(0, 2).map((p) => /Character reference sheet of (\w+)/.exec(p.prompt)?.[1]).sort()).toEqual(['mara', 'tom']);
    expect(sent.slice(0, 2).every((p) => p.attachments.length === 0)).toBe(true);
    let withSheets = 0;
    for (const p of sent.slice(2)) {
      const named = (Object.keys(CHARACTERS) as Array<keyof typeof CHARACTERS>).filter((name) => p.prompt.includes(CHARACTERS[name]));
      expect(p.attachments.map((a) => a.sha256), p.prompt).toEqual(named.map((name) => sheetSha[name]));
      expect(p.uploadsDone).toBe(true);
      if (named.length > 0) withSheets += 1;
    }
    expect(withSheets).toBeGreaterThanOrEqual(6);

    const pngs = await listFiles(path.join(out, book), '.png');
    expect(pngs.map((f) => path.relative(path.join(out, book), f).replace(/\.png$/, '')).sort()).toEqual([...expectedJobs].sort());
    const hashes = new Set<string>();
    for (const file of pngs) {
      const bytes = await readFile(file);
      const png = PNG.sync.read(bytes);
      expect(png.width).toBeGreaterThan(100);
      const sidecar = JSON.parse(await readFile(file.replace(/\.png$/, '.json'), 'utf8'));
      const id = path.relative(path.join(out, book), file).replace(/\.png$/, '');
      expect(sidecar.jobId).toBe(id);
      expect(sidecar.sha256).toBe(await sha256Of(file));
      expect(sidecar.bytes).toBe(bytes.length);
      expect(sidecar.width).toBe(png.width);
      expect(sidecar.conversationUrl).toMatch(/\/c\/[\w-]+$/);
      expect(sidecar.finalPrompt.length).toBeGreaterThan(sidecar.prompt.length);
      expect(sidecar.verification.match).toBe(true);
      // The sidecar lists the sheets sent with the panel: those of the characters its prompt names.
      const named = Object.entries(CHARACTERS).filter(([, words]) => sidecar.finalPrompt.includes(words)).map(([name]) => name);
      expect((sidecar.references ?? []).map((r: { character: string; sha256: string }) => [r.character, r.sha256]), id).toEqual(
        id.startsWith('characters/') ? [] : named.map((name) => [name, sheetSha[name as keyof typeof sheetSha]]),
      );
      await expect(stat(path.join(path.dirname(file), sidecar.evidence))).resolves.toBeTruthy();
      hashes.add(sidecar.sha256);
    }
    expect(hashes.size).toBe(pngs.length);
    expect(await listFiles(out, '.part')).toEqual([]);
  });

  test('a second run with --resume sends no prompt and changes no file', async () => {
    const pngs = await listFiles(path.join(out, book), '.png');
    const before = await Promise.all(pngs.map(async (f) => [f, (await stat(f)).mtimeMs, await sha256Of(f)]));
    const journal = path.join(cwd, 'checkpoints', book, 'journal.jsonl');
    const startedBefore = (await journalEvents(journal)).filter((e) => e.state === 'started').length;

    const run = await runCli([demo, '--mock', '--headless', '--resume', '--out', out], cwd);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('(0 prompts sent)');
    // The sheets are there: no sheet run, only the panels' (every file but the two sheets).
    expect(run.stdout).not.toContain('making the character sheets first');
    expect(run.stdout).toMatch(new RegExp(`0 verified, 0 failed, ${pngs.length - 2} already done`));
    const after = await Promise.all(pngs.map(async (f) => [f, (await stat(f)).mtimeMs, await sha256Of(f)]));
    expect(after).toEqual(before);
    expect((await journalEvents(journal)).filter((e) => e.state === 'started').length).toBe(startedBefore);
  });

  test('without --resume it refuses to redo a finished book, naming the flag', async () => {
    const run = await runCli([demo, '--mock', '--headless', '--out', out], cwd);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--resume');
  });

  test('the README\'s one command (--mock, its own site) on a fresh folder makes the sheets, then the panels', async () => {
    const fresh = await workDir();
    // --limit is about panels: the sheets are all made, then one panel.
    const run = await runCli([demo, '--mock', '--headless', '--mock-latency-ms', '300', '--mock-url-delay-ms', '100', '--mock-upload-ms', '300', '--limit', '1', '--out', 'output'], fresh);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/making the character sheets first \(mara, tom\)[^]*: 2 verified, 0 failed[^]*now the panels[^]*: 1 verified, 0 failed/);
    const pngs = await listFiles(path.join(fresh, 'output', book), '.png');
    expect(pngs.map((f) => path.relative(path.join(fresh, 'output', book), f))).toEqual(['ch1/s1/p1.png', 'characters/mara.png', 'characters/tom.png']);
  });

  test('a malformed prompt file exits 2 naming the file, line and column', async () => {
    const bad = path.join(cwd, 'bad.yaml');
    await writeFile(bad, 'book: broken\nstyle: "ink"\nprompts:\n  - "a lighthouse"\n  - [unclosed\n');
    const run = await runCli([bad, '--mock', '--headless'], cwd);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/bad\.yaml:\d+:\d+: /);
    expect(run.stdout).toBe('');
  });
});
