// A browser that dies mid-run (crash, OOM kill, window closed) is relaunched and the book finishes:
// nothing lost, nothing generated twice.
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { browsersOn, journalEvents, listFiles, runCli, sha256Of, startMockProcess, workDir } from './cli.js';

test('the browser killed mid-run is relaunched and every panel ends verified exactly once', async () => {
  const cwd = await workDir();
  const file = path.join(cwd, 'crash.yaml');
  await writeFile(file, `book: crash\nprompts:\n${Array.from({ length: 5 }, (_, i) => `  - "a lantern in the rain, take ${i + 1}"`).join('\n')}\n`);
  const profileDir = path.join(cwd, 'profiles', 'default');
  let killed: number | undefined;
  const run = runCli(
    [file, '--mock', '--headless', '--mock-latency-ms', '1500', '--min-gap', '0', '--jitter', '0', '--concurrency', '1', '--backoff', '0.2', '--out', 'out'],
    cwd,
    {
      onStdout: (chunk) => {
        // Kill it while the 3rd image is being generated.
        if (killed === undefined && chunk.includes('✓ [2/5]')) {
          killed = browsersOn(profileDir)[0];
          if (killed) process.kill(killed, 'SIGKILL');
        }
      },
    },
  );
  const result = await run;
  expect(killed).toBeGreaterThan(0);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toContain('the browser went away (crashed, killed or closed); relaunching it (1/3)');
  expect(result.stdout).toContain('5 verified, 0 failed');
  const pngs = await listFiles(path.join(cwd, 'out'), '.png');
  expect(pngs).toHaveLength(5);
  expect(new Set(await Promise.all(pngs.map(sha256Of))).size).toBe(5);
  const verified = (await journalEvents(path.join(cwd, 'checkpoints', 'crash', 'journal.jsonl'))).filter((e) => e.state === 'verified');
  expect(verified).toHaveLength(5);
  // The prompt in flight when the browser died was found in its conversation, not sent again.
  expect(Number(/\((\d+) prompts sent\)/.exec(result.stdout)?.[1])).toBe(5);
});

/** The run's whole browser, as an OOM killer's victims would be: the process whose arguments hold exactly
 * `--user-data-dir=<profileDir>` (only the browser carries it) and every descendant (zygotes, renderers,
 * GPU, utilities), found through the parent pid in /proc/<pid>/stat. */
function allChromiumOf(profileDir: string): number[] {
  const flag = `--user-data-dir=${profileDir}`;
  const parentOf = new Map<number, number>();
  const roots: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(flag)) roots.push(Number(entry));
    } catch {
      continue; // exited while we looked
    }
  }
  const all = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parentOf) if (all.has(ppid) && !all.has(pid)) grew = all.add(pid) !== undefined;
  }
  return [...all];
}

test('every Chromium process of the run killed at once (an OOM kill) is relaunched and every panel ends verified exactly once', async () => {
  const cwd = await workDir();
  const file = path.join(cwd, 'oom.yaml');
  await writeFile(file, `book: oom\nprompts:\n${Array.from({ length: 5 }, (_, i) => `  - "a kite over the dunes, take ${i + 1}"`).join('\n')}\n`);
  const profileDir = path.join(cwd, 'profiles', 'default');
  const journal = path.join(cwd, 'checkpoints', 'oom', 'journal.jsonl');
  // The site keeps conversations per account, and the account is the profile's login cookie. On the
  // real site that cookie was written long before a run; here a first run on the same site, closed
  // cleanly, writes it to the profile (Chromium flushes cookies only now and then, so a browser
  // killed in its first seconds would come back as a stranger to the site).
  const mock = await startMockProcess(['--mock-latency-ms', '1500']);
  try {
    const warm = path.join(cwd, 'warm.yaml');
    await writeFile(warm, 'book: warm\nprompts:\n  - "a kite on the beach"\n');
    const login = await runCli([warm, '--base-url', mock.url, '--headless', '--min-gap', '0', '--out', 'warm-out'], cwd);
    expect(login.code, login.stderr).toBe(0);
    const run = runCli(
      [file, '--base-url', mock.url, '--headless', '--min-gap', '0', '--jitter', '0', '--concurrency', '2', '--backoff', '0.2', '--out', 'out'],
      cwd,
    );
    // Kill once two panels are verified and both jobs in flight have their conversation journaled: a
    // prompt the page took but whose address was not yet written is, by design, sent again (DESIGN §6).
    for (;;) {
      const latest = new Map<string, string>();
      for (const e of await journalEvents(journal).catch(() => [])) if (typeof e.id === 'string' && typeof e.state === 'string') latest.set(e.id, e.state);
      const states = [...latest.values()];
      if (states.filter((s) => s === 'verified').length >= 2 && states.filter((s) => s === 'submitted').length === 2) break;
      expect(run.child.exitCode, 'the run ended before the browser could be killed').toBeNull();
      await new Promise((resolve) => setTimeout(resolve, 25)); // polling the journal, the only signal from outside
    }
    const killed = allChromiumOf(profileDir);
    for (const pid of killed) process.kill(pid, 'SIGKILL');
    const result = await run;
    // The browser, its zygotes, the GPU process and renderers: all went at once.
    expect(killed.length).toBeGreaterThanOrEqual(3);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('the browser went away (crashed, killed or closed); relaunching it (1/3)');
    expect(result.stdout).toContain('5 verified, 0 failed');
    const pngs = await listFiles(path.join(cwd, 'out'), '.png');
    expect(pngs).toHaveLength(5);
    expect(new Set(await Promise.all(pngs.map(sha256Of))).size).toBe(5);
    // Each image has its sidecar, and the sidecar names these very bytes.
    for (const png of pngs) expect(JSON.parse(readFileSync(png.replace(/\.png$/, '.json'), 'utf8')).sha256).toBe(await sha256Of(png));
    const verified = (await journalEvents(journal)).filter((e) => e.state === 'verified');
    expect(verified.map((e) => e.id).sort()).toEqual([...new Set(verified.map((e) => e.id))].sort());
    expect(verified).toHaveLength(5);
    // The prompts in flight when the browser died were found in their conversations, not sent again.
    expect(Number(/\((\d+) prompts sent\)/.exec(result.stdout)?.[1])).toBe(5);
    expect(allChromiumOf(profileDir)).toEqual([]);
  } finally {
    mock.stop();
  }
});
