// A disk that fills up mid-run (a real, tiny tmpfs under --out): the run stops with a sentence naming
// the file, keeps what it verified, leaves nothing half-made that a resume would trust, and once
// there is space again `--resume` finishes the book without sending a verified panel twice.
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { journalEvents, listFiles, runCli, sha256Of, startMockProcess, workDir } from './cli.js';

const PANELS = 4;
/** Room for one or two panels: each takes ~50 KB with its sidecar and evidence screenshot (tmpfs pages are 4 KB). */
const DISK_KB = 110;

async function allNames(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String);
}

test('a full disk stops the run with a clear message, and --resume finishes once space is back', async () => {
  const cwd = await workDir();
  const file = path.join(cwd, 'full.yaml');
  await writeFile(file, `book: full\nprompts:\n${Array.from({ length: PANELS }, (_, i) => `  - "a lighthouse at dusk, take ${i + 1}"`).join('\n')}\n`);
  const out = path.join(cwd, 'out');
  await mkdir(out);
  // Root can mount; the tmpfs is the disk that fills up (checkpoints/ stays on the normal disk).
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_KB}k`, 'semantest-disk-full', out]);
  // The mock outlives the first run, so the conversation of the panel that did not fit is still there.
  const mock = await startMockProcess(['--mock-latency-ms', '100']);
  try {
    const args = [file, '--base-url', mock.url, '--headless', '--min-gap', '0', '--jitter', '0', '--concurrency', '1', '--out', 'out'];
    const first = await runCli(args, cwd);
    expect(first.code, first.stderr).toBe(2);
    expect(first.stderr).toMatch(new RegExp(`^semantest-run: disk full while writing ${out}/full/\\S+: free space and run again with --resume\\n$`));
    const kept = await listFiles(out, '.png');
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(PANELS);
    // What is under a final name is whole: each image matches its sidecar, nothing half-made is left.
    for (const png of kept) expect(JSON.parse(await readFile(png.replace(/\.png$/, '.json'), 'utf8')).sha256).toBe(await sha256Of(png));
    expect((await allNames(out)).filter((name) => /\.(part|tmp)$/.test(name))).toEqual([]);
    const keptHashes = await Promise.all(kept.map(sha256Of));

    // Space is back.
    execFileSync('mount', ['-o', 'remount,size=64m', out]);
    const second = await runCli([...args, '--resume'], cwd);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(`${PANELS - kept.length} verified, 0 failed, ${kept.length} already done`);
    const pngs = await listFiles(out, '.png');
    expect(pngs).toHaveLength(PANELS);
    // The images verified before the disk filled are the same bytes, not made again.
    expect(await Promise.all(kept.map(sha256Of))).toEqual(keptHashes);
    expect(new Set(await Promise.all(pngs.map(sha256Of))).size).toBe(PANELS);
    const events = await journalEvents(path.join(cwd, 'checkpoints', 'full', 'journal.jsonl'));
    const verified = events.filter((e) => e.state === 'verified').map((e) => e.id);
    expect(verified).toHaveLength(PANELS);
    expect(new Set(verified).size).toBe(PANELS);
    // One prompt per panel over both runs: the panel whose image did not fit was fetched again from
    // its conversation, not prompted again.
    const stats = (await (await fetch(new URL('/__mock/stats', mock.url))).json()) as { prompts: number };
    expect(stats.prompts).toBe(PANELS);
  } finally {
    mock.stop();
    execFileSync('umount', ['-l', out]);
  }
});

test('a truncated snapshot.json stops --resume with exit 2, the file and what to do, and sends nothing', async () => {
  const cwd = await workDir();
  const file = path.join(cwd, 'cut.yaml');
  await writeFile(file, 'book: cut\nprompts:\n  - "a harbour at noon"\n  - "a harbour at night"\n');
  // A compacted checkpoint (the journal is a segment from seq 13) whose snapshot was cut short.
  const dir = path.join(cwd, 'checkpoints', 'cut');
  await mkdir(dir, { recursive: true });
  const snapshot = '{"version":1,"seq":12,"jobs":{"ch1/s1/p1":{"id":"ch1/s1/p1","state":"verif';
  await writeFile(path.join(dir, 'snapshot.json'), snapshot);
  await writeFile(path.join(dir, 'journal.jsonl'), `${JSON.stringify({ seq: 12, at: new Date().toISOString(), t: 'segment' })}\n`);
  const before = await Promise.all(['snapshot.json', 'journal.jsonl'].map((name) => readFile(path.join(dir, name))));

  const result = await runCli([file, '--resume', '--mock', '--headless', '--out', 'out'], cwd);
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(
    new RegExp(
      `^semantest-run: ${escape(path.join('checkpoints', 'cut', 'snapshot.json'))} is unreadable \\(not valid JSON, truncated at byte ${snapshot.length}: .*\\) and journal\\.jsonl starts at seq 13, so the events before it are lost; refusing to start over — restore snapshot\\.json from a backup and run again with --resume, or move the folder away to start the book fresh \\(every prompt is sent again\\)\\n$`,
    ),
  );
  // Nothing was sent, written or "repaired".
  expect(result.stdout).not.toMatch(/verified|prompts sent/);
  expect(await readdir(cwd)).not.toContain('out');
  expect(await Promise.all(['snapshot.json', 'journal.jsonl'].map((name) => readFile(path.join(dir, name))))).toEqual(before);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
