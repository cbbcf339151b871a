// Character references on the mock (issue 16): each panel goes with exactly its characters'
// references, fully uploaded before the send, none saved as a panel; and each upload failure the
// page can show is named, retried, and spends no prompt.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import sharp from 'sharp';
import { listFiles, root, runCli, sha256Of, startMockProcess, workDir } from './cli.js';

interface PromptLog {
  prompt: string;
  attachments: Array<{ name: string; sha256: string; bytes: number }>;
  uploadsDone: boolean;
}

const RUN = ['--headless', '--out', 'out', '--min-gap', '0', '--jitter', '0', '--concurrency', '1', '--backoff', '0.2'];

/** A reference picture: a flat colour, so it can never pass for a generated (verified) panel. */
async function picture(file: string, r: number, g: number, b: number): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, await sharp({ create: { width: 256, height: 256, channels: 3, background: { r, g, b } } }).png().toBuffer());
  return sha256Of(file);
}

/** Mara has one reference, Tom two; panels name nobody, Mara, and both. */
async function book(cwd: string): Promise<{ file: string; mara: string; tomFront: string; tomSide: string }> {
  const mara = await picture(path.join(cwd, 'refs', 'mara.png'), 200, 40, 40);
  const tomFront = await picture(path.join(cwd, 'refs', 'tom-front.png'), 40, 200, 40);
  const tomSide = await picture(path.join(cwd, 'refs', 'tom-side.png'), 40, 40, 200);
  const file = path.join(cwd, 'refs.yaml');
  await writeFile(
    file,
    [
      'book: refs',
      'style: "ink wash"',
      'characters:',
      '  mara: { description: "a tall lighthouse keeper", refs: [refs/mara.png] }',
      '  tom: { description: "a small boy in a red cap", refs: [refs/tom-front.png, refs/tom-side.png] }',
      'prompts:',
      '  - "the harbour at dawn, empty"',
      '  - "{mara} mends the nets"',
      '  - "{mara} and {tom} on the pier"',
      '',
    ].join('\n'),
  );
  return { file, mara, tomFront, tomSide };
}

/** The shipped descriptor with short upload bounds, so a stuck or dropped upload shows in seconds. */
async function quickProvider(cwd: string): Promise<string> {
  const descriptor = JSON.parse(await readFile(path.join(root, 'src', 'providers', 'chatgpt.json'), 'utf8'));
  descriptor.timings = { ...descriptor.timings, tileTimeoutMs: 1_500, uploadTimeoutMs: 2_500 };
  const file = path.join(cwd, 'provider.json');
  await writeFile(file, JSON.stringify(descriptor));
  return file;
}

async function promptsOf(url: string): Promise<PromptLog[]> {
  return (await (await fetch(new URL('/__mock/prompts', url))).json()) as PromptLog[];
}

// The mid-2026 composer is met by the upload-fail case below (and both by test/integration/references-mock.test.ts).
for (const composer of ['sep-2026'] as const) {
  test(`${composer}: each panel goes with exactly its characters' references, uploaded before the send, none saved as a panel`, async () => {
    const cwd = await workDir();
    const { file, mara, tomFront, tomSide } = await book(cwd);
    const dry = await runCli([file, '--dry-run'], cwd);
    expect(dry.stdout).toMatch(/ch1\/s1\/p3\t.*\n\treference mara: refs\/mara\.png\n\treference tom: refs\/tom-front\.png\n\treference tom: refs\/tom-side\.png\n/);
    const mock = await startMockProcess(['--mock-latency-ms', '300', '--mock-composer', composer, '--mock-upload-ms', '500']);
    try {
      const run = await runCli([file, '--base-url', mock.url, ...RUN], cwd);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('3 verified, 0 failed');
      const sent = await promptsOf(mock.url);
      const byPanel = (words: string) => sent.filter((p) => p.prompt.includes(words));
      expect(byPanel('the harbour at dawn').map((p) => p.attachments)).toEqual([[]]);
      expect(byPanel('mends the nets').map((p) => p.attachments.map((a) => a.sha256))).toEqual([[mara]]);
      expect(byPanel('on the pier').map((p) => p.attachments.map((a) => a.sha256))).toEqual([[mara, tomFront, tomSide]]);
      expect(sent.every((p) => p.uploadsDone)).toBe(true);
      const panels = await listFiles(path.join(cwd, 'out', 'refs'), '.png');
      const saved = await Promise.all(panels.map(sha256Of));
      expect(saved).toHaveLength(3);
      for (const ref of [mara, tomFront, tomSide]) expect(saved).not.toContain(ref);
      const sidecar = JSON.parse(await readFile(panels.find((p) => p.endsWith('p3.png'))!.replace(/\.png$/, '.json'), 'utf8'));
      expect(sidecar.references).toEqual([
        { character: 'mara', file: 'refs/mara.png', sha256: mara },
        { character: 'tom', file: 'refs/tom-front.png', sha256: tomFront },
        { character: 'tom', file: 'refs/tom-side.png', sha256: tomSide },
      ]);
    } finally {
      mock.stop();
    }
  });
}

/** One panel naming Mara (one reference), for the failure cases. */
async function onePanel(cwd: string): Promise<{ file: string; mara: string }> {
  const mara = await picture(path.join(cwd, 'refs', 'mara.png'), 200, 40, 40);
  const file = path.join(cwd, 'one.yaml');
  await writeFile(file, 'book: refs\ncharacters:\n  mara: { description: "a tall lighthouse keeper", refs: [refs/mara.png] }\nprompts:\n  - "the harbour at dawn, empty"\n  - "{mara} mends the nets"\n');
  return { file, mara };
}

for (const [fault, words] of [
  ['upload-fail', /↻ .*ch1\/s1\/p2 upload: the upload failed for mara\.png: the page says "Failed upload to files\.oaiusercontent\.com"/],
  ['upload-stuck', /↻ .*ch1\/s1\/p2 upload: the upload never finished: mara\.png still uploading 3 s after attaching/],
  ['upload-drop', /↻ .*ch1\/s1\/p2 upload: the page dropped mara\.png: no tile appeared for it within 2 s of attaching/],
] as const) {
  test(`${fault}${fault === 'upload-fail' ? ' (mid-2026 composer)' : ''}: named as an upload failure, retried, and no prompt spent on it`, async () => {
    const cwd = await workDir();
    const { file, mara } = await onePanel(cwd);
    const composer = fault === 'upload-fail' ? 'mid-2026' : 'sep-2026';
    const mock = await startMockProcess(['--mock-latency-ms', '300', '--mock-upload-ms', '300', '--mock-composer', composer, '--mock-faults', `${fault}@1`]);
    try {
      const run = await runCli([file, '--base-url', mock.url, '--provider-file', await quickProvider(cwd), ...RUN], cwd);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(words);
      expect(run.stdout).toContain('2 verified, 0 failed');
      // One prompt per panel: the failed upload's attempt sent nothing.
      const sent = await promptsOf(mock.url);
      expect(sent).toHaveLength(2);
      expect(sent.find((p) => p.prompt.includes('mends the nets'))?.attachments.map((a) => a.sha256)).toEqual([mara]);
    } finally {
      mock.stop();
    }
  });
}

test('a reference edited during the run: that panel fails (attachment) naming it, before anything is sent, with no retry', async () => {
  const cwd = await workDir();
  const { file } = await onePanel(cwd);
  // The first panel takes 3 s to generate; the reference changes while it does, after the load.
  const mock = await startMockProcess(['--mock-latency-ms', '3000', '--mock-upload-ms', '300']);
  try {
    let edited: Promise<void> | undefined;
    const run = await runCli([file, '--base-url', mock.url, ...RUN], cwd, {
      onStdout: () => {
        edited ??= picture(path.join(cwd, 'refs', 'mara.png'), 0, 0, 0).then(() => undefined);
      },
    });
    await edited;
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/✗ \[\d\/2\] .*ch1\/s1\/p2 failed \(attachment\): reference \S+mara\.png changed since the prompt file was loaded \([^)]*\): run again to load it/);
    expect(run.stdout).not.toMatch(/↻ .*ch1\/s1\/p2/);
    expect(run.stdout).toContain('1 verified, 1 failed');
    expect((await promptsOf(mock.url)).map((p) => p.prompt)).toEqual([expect.stringContaining('the harbour at dawn')]);
  } finally {
    mock.stop();
  }
});
