// The page's 2026 surprises (issue 14, DESIGN §4) on the mock's 2026 page, end to end through the
// CLI: the two-image question answered with the image that was saved (a revisit finds the same
// file), code-tool output typed no-image and never saved, a final image that fades in over blurred
// previews verified on its first prompt, and the transient /c/WEB: address never kept.
import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { journalEvents, listFiles, root, runCli, startMockProcess, workDir } from './cli.js';

const PACE = ['--headless', '--backoff', '0.2', '--min-gap', '0', '--jitter', '0', '--concurrency', '1', '--out', 'out'];
const FAST = ['--mock', '--mock-dom', '2026', '--mock-latency-ms', '300', '--mock-url-delay-ms', '300', ...PACE];

async function book(cwd: string, n: number): Promise<string> {
  const file = path.join(cwd, 'surprises.yaml');
  const prompts = Array.from({ length: n }, (_, i) => `  - "a ferry crossing a grey strait at dawn, scene ${i + 1}"`).join('\n');
  await writeFile(file, `book: surprises\nstyle: "gouache"\nprompts:\n${prompts}\n`);
  return file;
}

const promptsSent = (stdout: string) => Number(/\((\d+) prompts sent\)/.exec(stdout)?.[1]);

async function sidecar(cwd: string, id: string): Promise<Record<string, any>> {
  return JSON.parse(await readFile(path.join(cwd, 'out', 'surprises', `${id}.json`), 'utf8'));
}

const journal = (cwd: string) => journalEvents(path.join(cwd, 'checkpoints', 'surprises', 'journal.jsonl'));

/** No journal line ever names the transient /c/WEB: address as the conversation; the saved ones are real. */
async function expectNoTransientAddress(cwd: string): Promise<void> {
  // An empty one is a conversation forgotten (after an answer in words), not an address.
  const urls = (await journal(cwd)).map((e) => e.conversationUrl).filter((u): u is string => typeof u === 'string' && u !== '');
  expect(urls.length).toBeGreaterThan(0);
  for (const url of urls) expect(new URL(url).pathname).toMatch(/^\/c\/[0-9a-f-]{36}$/);
}

test('a two-image answer: one image saved, the question answered with it, a revisit after a crash keeps the same file', async () => {
  const cwd = await workDir();
  const file = await book(cwd, 1);
  const mock = await startMockProcess(['--mock-latency-ms', '300', '--mock-url-delay-ms', '200', '--mock-faults', 'two-images@1']);
  try {
    const args = [file, '--base-url', mock.url, '--resume', ...PACE];
    const stats = async () => (await (await fetch(new URL('/__mock/stats', mock.url))).json()) as { prompts: number; choices: number };
    // Killed once the first panel is downloaded and verified, before its file is renamed into place.
    const crashed = await runCli(args, cwd, { env: { SEMANTEST_CRASH_AT: 'before-rename:1' } });
    expect(crashed.code, crashed.stderr).toBeNull();
    const downloaded = (await journal(cwd)).filter((e) => e.id === 'ch1/s1/p1' && e.state === 'downloaded');
    expect(downloaded).toHaveLength(1);
    const claimed = downloaded[0].fileId as string;
    expect(await stats()).toMatchObject({ prompts: 1, choices: 1 });

    // The resumed run revisits the conversation: answered, it shows the chosen image only.
    const resumed = await runCli(args, cwd);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('1 verified, 0 failed');
    expect((await sidecar(cwd, 'ch1/s1/p1')).fileId).toBe(claimed);
    // No extra prompt and no second answer to the question: prompts sent == panels.
    expect(await stats()).toMatchObject({ prompts: 1, choices: 1 });
    expect(await listFiles(path.join(cwd, 'out', 'surprises'), '.png')).toHaveLength(1);
  } finally {
    mock.stop();
  }
});

test('a two-image question in another language: a --provider-file with its wording answers it', async () => {
  const cwd = await workDir();
  const file = await book(cwd, 1);
  // The question's buttons are localized: this account sees "Bild 1 ist besser", "Bild 2 ist besser".
  const mock = await startMockProcess(['--mock-latency-ms', '300', '--mock-url-delay-ms', '200', '--mock-lang', 'de', '--mock-faults', 'two-images@1']);
  try {
    const descriptor = JSON.parse(await readFile(path.join(root, 'src', 'providers', 'chatgpt.json'), 'utf8'));
    descriptor.text.choiceButton = { source: '^\\s*Bild\\s+(\\d)\\s+ist\\s+besser\\s*$', flags: 'i' };
    const provider = path.join(cwd, 'provider-de.json');
    await writeFile(provider, JSON.stringify(descriptor));
    const run = await runCli([file, '--base-url', mock.url, '--provider-file', provider, ...PACE], cwd);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('1 verified, 0 failed');
    // One prompt, and the question answered once, with the image that was saved.
    const stats = (await (await fetch(new URL('/__mock/stats', mock.url))).json()) as { prompts: number; choices: number };
    expect(stats).toMatchObject({ prompts: 1, choices: 1 });
    expect(await listFiles(path.join(cwd, 'out', 'surprises'), '.png')).toHaveLength(1);
  } finally {
    mock.stop();
  }
});

test('code-tool output and "image generation isn\'t available" are no-image: retried, never saved', async () => {
  const cwd = await workDir();
  const run = await runCli([await book(cwd, 3), ...FAST, '--mock-faults', 'code-image@1,no-tool@2'], cwd);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('3 verified, 0 failed');
  expect(run.stdout).toMatch(/↻ ch1\/s1\/p1 no-image: .*drew a simple version with Python/);
  // The second prompt (whichever panel sends it) is told the chat has no image tool.
  expect(run.stdout).toMatch(/↻ ch1\/s1\/p\d no-image: .*image generation isn't available in this chat/i);
  expect(promptsSent(run.stdout)).toBe(5);
  // Every saved file is a generated image (file_…), never the chart the code drew (file-…).
  for (const id of ['ch1/s1/p1', 'ch1/s1/p2', 'ch1/s1/p3']) expect((await sidecar(cwd, id)).fileId).toMatch(/^file_/);
  await expectNoTransientAddress(cwd);
});

test('a final image that fades in over blurred previews is verified on its first prompt, both screenshots kept', async () => {
  const cwd = await workDir();
  const run = await runCli([await book(cwd, 2), ...FAST, '--mock-faults', 'slow-final@1'], cwd);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('2 verified, 0 failed');
  expect(promptsSent(run.stdout)).toBe(2);
  const slow = await sidecar(cwd, 'ch1/s1/p1');
  // The first screenshot caught the blend; compared again once painted, it matched.
  expect(slow.verification.recompared.firstDistance).toBeGreaterThan(slow.verification.threshold);
  expect(slow.verification.recompared.tries).toBeGreaterThanOrEqual(1);
  expect(slow.verification.distance).toBeLessThanOrEqual(slow.verification.threshold);
  const evidence = path.resolve(path.dirname(path.join(cwd, 'out', 'surprises', 'ch1/s1/p1.json')), slow.evidence);
  await access(evidence);
  await access(evidence.replace(/\.png$/, '.first.png'));
  // A panel painted at once needs no second look.
  expect((await sidecar(cwd, 'ch1/s1/p2')).verification.recompared).toBeUndefined();
  await expectNoTransientAddress(cwd);
});
