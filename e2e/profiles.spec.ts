// One book, several accounts (issue 15): real Chromium per profile, the real extension and hub in
// each, a mock site in its own process that keeps state per account (a cap or a conversation is
// one account's, as on the real site). What a user notices: every panel once, who made which, a
// cap on one account that neither stalls the others nor is forgotten by the next book on it, and a
// dashboard retry that sends one prompt however many profiles listen.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { eventsOf, journalEvents, lighthouseBook, listFiles, mockStats, runCli, startMockProcess, workDir } from './cli.js';

function summaryOf(stdout: string): Record<string, unknown> & { verified: number; failed: unknown[]; notRun: number; promptsSent: number; profiles: Array<{ name: string; verified: number; promptsSent: number }> } {
  const end = eventsOf(stdout).find((e) => e.type === 'run-end') as { summary: never } | undefined;
  expect(end, 'the run printed its summary').toBeDefined();
  return end!.summary;
}

const FAST = ['--headless', '--json', '--no-dashboard', '--min-gap', '0', '--jitter', '0', '--concurrency', '1'];

test('two profiles: a usage cap on one leaves the other at full pace, and the book ends long before the reset', async () => {
  test.setTimeout(150_000);
  const cwd = await workDir();
  const file = await lighthouseBook(cwd, 'pool', 8);
  // The site's 3rd prompt meets the cap of the account that sent it, for 10 minutes.
  const mock = await startMockProcess(['--mock-latency-ms', '800', '--mock-faults', 'quota@3', '--mock-quota-reset', '10 minutes']);
  try {
    const started = Date.now();
    const run = await runCli([file, ...FAST, '--profile', 'a', '--profile', 'b', '--base-url', mock.url, '--out', 'out', '--quota-margin', '0'], cwd);
    const elapsed = Date.now() - started;
    expect(run.code, run.stderr).toBe(0);
    expect(elapsed).toBeLessThan(120_000); // the reset is 10 minutes away
    const events = eventsOf(run.stdout);
    const pause = events.find((e) => e.type === 'pause') as { profile: string; until: number } | undefined;
    expect(pause, 'one profile met the cap').toBeDefined();
    const capped = pause!.profile;
    const other = capped === 'a' ? 'b' : 'a';
    expect(pause!.until - started).toBeGreaterThan(9 * 60_000);
    // Nothing started on the capped profile after its pause; the other did the rest.
    const pausedAt = events.indexOf(pause as never);
    expect(events.slice(pausedAt).filter((e) => e.type === 'job-start' && e.profile === capped)).toEqual([]);
    const summary = summaryOf(run.stdout);
    expect(summary.verified).toBe(8);
    expect(summary.failed).toEqual([]);
    expect(summary.profiles.map((p) => p.name).sort()).toEqual(['a', 'b']);
    expect(summary.profiles.find((p) => p.name === other)!.verified).toBeGreaterThanOrEqual(6);
    // Every panel verified exactly once: one verified line per job in the journal, 8 images.
    const journal = await journalEvents(path.join(cwd, 'checkpoints', 'pool', 'journal.jsonl'));
    const verified = journal.filter((e) => e.state === 'verified').map((e) => e.id);
    expect(verified).toHaveLength(8);
    expect(new Set(verified).size).toBe(8);
    const images = await listFiles(path.join(cwd, 'out', 'pool'), '.png');
    expect(images).toHaveLength(8);
    // Each image's sidecar names the profile that made it; both profiles appear.
    const makers = await Promise.all(images.map(async (png) => JSON.parse(await readFile(png.replace(/\.png$/, '.json'), 'utf8')).profile as string));
    expect(new Set(makers)).toEqual(new Set(['a', 'b']));
    // The site received exactly the prompts the run says it sent: 8 images and the one that met the cap.
    const site = await mockStats(mock.url);
    expect(site.prompts).toBe(9);
    expect(summary.promptsSent).toBe(9);
    expect(site.faults.quota).toBe(1);
    // The account's pause is kept with the profile, for any later book on it.
    const pacing = JSON.parse(await readFile(path.join(cwd, 'profiles', capped, '.semantest-pacing.json'), 'utf8'));
    expect(pacing.pacing.pauseUntil).toBe(pause!.until);
  } finally {
    mock.stop();
  }
});

test('book A meets a cap on a profile and is stopped; book B on the same profile waits for the reset before it sends', async () => {
  test.setTimeout(150_000);
  const cwd = await workDir();
  const fileA = await lighthouseBook(cwd, 'book-a', 4);
  const fileB = await lighthouseBook(cwd, 'book-b', 2);
  const mock = await startMockProcess(['--mock-latency-ms', '300', '--mock-faults', 'quota@2', '--mock-quota-reset', '8 seconds']);
  try {
    let capped: (line: string) => void = () => undefined;
    const sawCap = new Promise<string>((resolve) => (capped = resolve));
    const runA = runCli([fileA, ...FAST, '--profile', 'shared', '--base-url', mock.url, '--out', 'out', '--quota-margin', '0'], cwd, {
      onStdout: (chunk) => {
        const line = chunk.split('\n').find((l) => l.includes('"type":"pause"'));
        if (line) capped(line);
      },
    });
    const pause = JSON.parse(await sawCap) as { until: number; profile: string };
    expect(pause.profile).toBe('shared');
    // The user stops book A while its profile waits out the cap.
    runA.child.kill('SIGINT');
    const resultA = await runA;
    expect(resultA.code).toBe(130);
    const sentByA = (await mockStats(mock.url)).prompts;
    expect(sentByA).toBe(2);

    // Book B on the same profile, at once: it must not send before the account's cap resets.
    const runB = await runCli([fileB, ...FAST, '--profile', 'shared', '--base-url', mock.url, '--out', 'out'], cwd);
    expect(runB.code, runB.stderr).toBe(0);
    const events = eventsOf(runB.stdout);
    const restored = events.find((e) => e.type === 'pause') as { until: number; reason: string } | undefined;
    expect(restored, 'book B says the profile is paused').toBeDefined();
    expect(restored!.until).toBe(pause.until);
    expect(restored!.reason).toContain('met earlier on this account');
    const firstStart = events.find((e) => e.type === 'job-start') as unknown as { at: string };
    expect(Date.parse(firstStart.at)).toBeGreaterThanOrEqual(pause.until);
    // The site never saw book B meet the cap: it waited instead of bursting into it.
    const site = await mockStats(mock.url);
    expect(site.faults.quota).toBe(1);
    expect(site.prompts).toBe(sentByA + 2);
    expect(summaryOf(runB.stdout).verified).toBe(2);
  } finally {
    mock.stop();
  }
});

/** Follows a running CLI's `--json` output: `until` resolves once `find` finds something in it. */
function watch(run: ReturnType<typeof runCli>) {
  let text = '';
  const waiters = new Set<() => void>();
  run.child.stdout!.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    for (const waiter of [...waiters]) waiter();
  });
  return {
    until<T>(find: (events: ReturnType<typeof eventsOf>, text: string) => T | undefined): Promise<T> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const complete = text.slice(0, text.lastIndexOf('\n') + 1);
          const found = find(eventsOf(complete), complete);
          if (found !== undefined) {
            waiters.delete(check);
            resolve(found);
          }
        };
        waiters.add(check);
        void run.then(() => {
          check();
          if (waiters.has(check)) reject(new Error('the run ended before it showed what the test waits for'));
        });
        check();
      });
    },
  };
}

const dashboardOf = (events: ReturnType<typeof eventsOf>) =>
  events.map((e) => (e.type === 'note' ? /dashboard: (http:\/\/127\.0\.0\.1:\d+\/\S+\/)/.exec(String(e.message))?.[1] : undefined)).find(Boolean);

async function command(url: string, name: 'retry' | 'reject', id: string): Promise<number> {
  const origin = new URL(url).origin;
  const response = await fetch(`${url}${name}`, { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: JSON.stringify({ id, reason: 'too dark' }) });
  return response.status;
}

test('a dashboard retry with two profiles sends one prompt, and the run that ends with it verified exits 0', async () => {
  test.setTimeout(150_000);
  const cwd = await workDir();
  const file = await lighthouseBook(cwd, 'retry', 8);
  // The 2nd prompt is refused for policy: the panel fails for good, until a person retries it.
  const mock = await startMockProcess(['--mock-latency-ms', '1500', '--mock-faults', 'policy@2']);
  try {
    const run = runCli([file, '--headless', '--json', '--min-gap', '0', '--jitter', '0', '--concurrency', '1', '--profile', 'a', '--profile', 'b', '--base-url', mock.url, '--out', 'out'], cwd);
    const output = watch(run);
    const dashboard = await output.until(dashboardOf);
    const failed = await output.until((events) => events.find((e) => e.type === 'job-failed') as { id: string } | undefined);
    // Pressed twice, heard by both profiles: one job, one prompt.
    expect(await command(dashboard, 'retry', failed.id)).toBe(200);
    expect([200, 409]).toContain(await command(dashboard, 'retry', failed.id));
    const result = await run;
    expect(result.code, result.stderr).toBe(0);
    const summary = summaryOf(result.stdout);
    expect(summary.verified).toBe(8);
    expect(summary.failed).toEqual([]);
    const site = await mockStats(mock.url);
    expect(site.prompts).toBe(9);
    expect(summary.promptsSent).toBe(9);
    const starts = eventsOf(result.stdout).filter((e) => e.type === 'job-start' && e.id === failed.id);
    expect(starts).toHaveLength(2);
  } finally {
    mock.stop();
  }
});

test('a panel rejected and regenerated in one run is counted once, and the run exits 0', async () => {
  test.setTimeout(150_000);
  const cwd = await workDir();
  const file = await lighthouseBook(cwd, 'again', 6);
  const mock = await startMockProcess(['--mock-latency-ms', '1500']);
  try {
    const run = runCli([file, '--headless', '--json', '--min-gap', '0', '--jitter', '0', '--concurrency', '1', '--profile', 'a', '--profile', 'b', '--base-url', mock.url, '--out', 'out'], cwd);
    const output = watch(run);
    const dashboard = await output.until(dashboardOf);
    const first = await output.until((events) => events.find((e) => e.type === 'job-verified') as { id: string } | undefined);
    expect(await command(dashboard, 'reject', first.id)).toBe(200);
    const result = await run;
    expect(result.code, result.stderr).toBe(0);
    const summary = summaryOf(result.stdout);
    expect(summary.verified).toBe(6);
    expect(summary.notRun).toBe(0);
    expect(summary.failed).toEqual([]);
    const events = eventsOf(result.stdout);
    expect(events.filter((e) => e.type === 'job-verified' && e.id === first.id)).toHaveLength(2);
    expect((await mockStats(mock.url)).prompts).toBe(7);
    expect(await listFiles(path.join(cwd, 'out', 'again', '.rejected'), '.png')).toHaveLength(1);
  } finally {
    mock.stop();
  }
});

