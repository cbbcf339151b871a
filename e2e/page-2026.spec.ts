// The page as it is now (issue 10): every rendering of the page contract, the 2026 wordings as typed
// failures read when the turn ends, image intent, the panel's shape, and a page that has drifted.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { journalEvents, listFiles, runCli, workDir } from './cli.js';

const FAST = ['--mock', '--headless', '--mock-latency-ms', '300', '--backoff', '0.2', '--min-gap', '0', '--jitter', '0', '--concurrency', '1'];

async function book(cwd: string, n = 4, extra = ''): Promise<string> {
  const file = path.join(cwd, 'page.yaml');
  const prompts = Array.from({ length: n }, (_, i) => `  - "a lighthouse keeper mending nets, scene ${i + 1}"`).join('\n');
  await writeFile(file, `book: page\nstyle: "ink wash"\n${extra}prompts:\n${prompts}\n`);
  return file;
}

function promptsSent(stdout: string): number {
  return Number(/\((\d+) prompts sent\)/.exec(stdout)?.[1]);
}

async function sidecars(dir: string): Promise<Array<Record<string, unknown>>> {
  return Promise.all((await listFiles(dir, '.png')).map(async (png) => JSON.parse(await readFile(png.replace(/\.png$/, '.json'), 'utf8'))));
}

for (const [dom, churn] of [['2024', 'none'], ['2026', 'none'], ['2026-blob', 'none'], ['2026', 'cosmetic'], ['2026-blob', 'cosmetic']] as const) {
  test(`every panel verified on the ${dom} rendering${churn === 'none' ? '' : ` with ${churn} churn`}`, async () => {
    const cwd = await workDir();
    const run = await runCli([await book(cwd), ...FAST, '--mock-dom', dom, '--mock-churn', churn, '--out', 'out'], cwd);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('4 verified, 0 failed');
    expect(promptsSent(run.stdout)).toBe(4);
    const files = await sidecars(path.join(cwd, 'out', 'page'));
    expect(new Set(files.map((f) => f.sha256)).size).toBe(4);
    expect(new Set(files.map((f) => f.fileId)).size).toBe(4);
  });
}

test('a page whose composer is gone stops the run naming the role and the selectors tried, exit 1', async () => {
  const cwd = await workDir();
  const run = await runCli([await book(cwd), ...FAST, '--mock-churn', 'breaking', '--out', 'out'], cwd);
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(/the page no longer matches the chatgpt descriptor: composer not found \(tried `#prompt-textarea\[contenteditable="true"\]`, /);
  expect(promptsSent(run.stdout)).toBe(0);
});

test('the run names a role found only by a fallback selector, before it breaks', async () => {
  const cwd = await workDir();
  const run = await runCli([await book(cwd, 2), ...FAST, '--mock-churn', 'cosmetic', '--out', 'out'], cwd);
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/the page drifts from the chatgpt descriptor: composer matched by its \d+(st|nd|rd|th) selector/);
});

// The 2026 wordings, each read from the page when the turn ends: never found by a timeout.
const wordings: Array<{ kind: string; expect: RegExp; sent: number; extra?: string[] }> = [
  { kind: 'error', expect: /↻ ch1\/s1\/p2 transient: .*Image generation failed/, sent: 5 },
  { kind: 'cooldown', expect: /pausing the profile until .*too quickly/, sent: 5, extra: ['--rate-limit-pause', '1'] },
  { kind: 'too-many', expect: /pausing the profile until .*Too many requests/, sent: 5, extra: ['--rate-limit-pause', '1'] },
  { kind: 'busy', expect: /pausing the profile until .*heavy server load/, sent: 5, extra: ['--rate-limit-pause', '1'] },
  { kind: 'unusual', expect: /pausing the profile until .*Unusual activity/, sent: 5, extra: ['--rate-limit-pause', '1'] },
  { kind: 'quota', expect: /pausing the profile until .*plan limit/, sent: 5, extra: ['--mock-quota-reset', '2 seconds', '--quota-margin', '0'] },
  { kind: 'account', expect: /↻ ch1\/s1\/p2 transient: .*couldn.t load your account/, sent: 5 },
];

for (const { kind, expect: wording, sent, extra = [] } of wordings) {
  test(`2026 "${kind}" wording is typed when the turn ends, and the panel is redone`, async () => {
    const cwd = await workDir();
    const started = Date.now();
    const run = await runCli([await book(cwd), ...FAST, ...extra, '--generation-timeout', '60', '--mock-faults', `${kind}@2`, '--out', 'out'], cwd);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('4 verified, 0 failed');
    expect(run.stdout).toMatch(wording);
    expect(promptsSent(run.stdout)).toBe(sent);
    // Nothing waited out the 60 s generation timeout.
    expect(Date.now() - started).toBeLessThan(45_000);
  });
}

test('a 2026 guardrails refusal is policy: sent once, no file, found without waiting', async () => {
  const cwd = await workDir();
  const started = Date.now();
  const run = await runCli([await book(cwd), ...FAST, '--generation-timeout', '60', '--mock-faults', 'policy@2', '--out', 'out'], cwd);
  expect(run.code).toBe(1);
  expect(run.stdout).toMatch(/failed ch1\/s1\/p2 \(policy\): .*guardrails/);
  expect(promptsSent(run.stdout)).toBe(4);
  expect(Date.now() - started).toBeLessThan(45_000);
  expect((await listFiles(path.join(cwd, 'out', 'page'), '.png')).map((f) => path.basename(f))).toEqual(['p1.png', 'p3.png', 'p4.png']);
});

test('an answer in words is a no-image failure at once; the one retry asks again and the image comes', async () => {
  const cwd = await workDir();
  const started = Date.now();
  const run = await runCli([await book(cwd), ...FAST, '--generation-timeout', '60', '--mock-faults', 'text@2', '--out', 'out'], cwd);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/↻ ch1\/s1\/p2 no-image: the answer ended without an image/);
  expect(promptsSent(run.stdout)).toBe(5);
  expect(Date.now() - started).toBeLessThan(45_000);
});

for (const tool of ['on', 'off']) {
  test(`with the image tool ${tool === 'on' ? 'offered it is turned on' : 'not offered the prompt asks for an image'}: no text answers at all`, async () => {
    const cwd = await workDir();
    const run = await runCli([await book(cwd), ...FAST, '--mock-image-tool', tool, '--out', 'out'], cwd);
    expect(run.code).toBe(0);
    expect(promptsSent(run.stdout)).toBe(4);
    const failures = (await journalEvents(path.join(cwd, 'checkpoints', 'page', 'journal.jsonl'))).filter((l) => l.state === 'failed');
    expect(failures).toEqual([]);
    const intents = (await sidecars(path.join(cwd, 'out', 'page'))).map((f) => f.intent);
    expect(new Set(intents)).toEqual(new Set([tool === 'on' ? 'tool' : 'prefix']));
  });
}

test('panels keep their shape: 16:9, 9:16 and 1:1 files; a page that ignores the ratio once is a verify failure naming both shapes', async () => {
  const cwd = await workDir();
  const file = path.join(cwd, 'shapes.yaml');
  await writeFile(
    file,
    `book: shapes
style: "ink wash"
aspect: "1:1"
chapters:
  - id: ch1
    strips:
      - id: s1
        panels:
          - { id: wide, prompt: "the harbour at dawn, wide view", aspect: "16:9" }
          - { id: tall, prompt: "the lighthouse from below", aspect: "9:16" }
          - { id: square, prompt: "a gull on a post" }
`,
  );
  const run = await runCli([file, ...FAST, '--mock-faults', 'ignore-aspect@1', '--out', 'out'], cwd);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('3 verified, 0 failed');
  expect(run.stdout).toMatch(/↻ ch1\/s1\/wide verify: .*16:9.*|↻ ch1\/s1\/wide verify: .*1:1.*/);
  const shapes = Object.fromEntries((await sidecars(path.join(cwd, 'out', 'shapes'))).map((f) => [f.jobId, [f.width, f.height]]));
  const [ww, wh] = shapes['ch1/s1/wide'] as number[];
  const [tw, th] = shapes['ch1/s1/tall'] as number[];
  const [sw, sh] = shapes['ch1/s1/square'] as number[];
  expect(ww / wh).toBeCloseTo(16 / 9, 1);
  expect(tw / th).toBeCloseTo(9 / 16, 1);
  expect(sw / sh).toBeCloseTo(1, 1);
  expect(promptsSent(run.stdout)).toBe(4);
});
