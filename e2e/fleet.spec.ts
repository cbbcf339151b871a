// A book shared by workers on BullMQ and Redis (issue 17): a real redis-server (append-only,
// appendfsync always, noeviction) started by the test, worker processes of the real CLI, each with
// its own profile, Chromium and extension, and one mock site in its own process that keeps state per
// account. What a user notices: every panel made once across the fleet, a worker killed with
// SIGKILL that loses nothing, a worker that never comes back whose panels another finishes after
// --reassign-after, and a Redis restart that the fleet rides out.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { eventsOf, journalEvents, lighthouseBook, listFiles, mockStats, runCli, sha256Of, startMockProcess, workDir } from './cli.js';
import { openJobStore } from '../src/store/index.js';
import { startRedis } from '../test/support/redis.js';

const FAST = ['--headless', '--json', '--min-gap', '0', '--jitter', '0'];
/** Locks of 3 s: a killed worker's jobs come back within seconds, as BullMQ's own stalled tests do with 1 s. */
const ENV = { SEMANTEST_FLEET_LOCK_MS: '3000' };

/** Each panel's state in a worker's own checkpoint (under checkpoints/fleet-<profile>), as its store reads it. */
async function journalStates(cwd: string, profile: string, bookName: string): Promise<Map<string, { state: string; conversationUrl?: string }>> {
  const store = await openJobStore(path.join(cwd, 'checkpoints', `fleet-${profile}`, bookName));
  try {
    return new Map(Object.values(store.state().jobs).map((r) => [r.id, { state: r.state, ...(r.conversationUrl ? { conversationUrl: r.conversationUrl } : {}) }]));
  } finally {
    await store.close();
  }
}

function redisCli(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
}

test('two workers share 60 panels; one is SIGKILLed mid-run and started again: every panel once, nothing lost', async () => {
  test.setTimeout(300_000);
  const cwd = await workDir();
  const redis = await startRedis();
  const mock = await startMockProcess(['--mock-latency-ms', '1500']);
  try {
    const file = await lighthouseBook(cwd, 'fleet60', 60);
    const enqueued = await runCli(['enqueue', file, '--redis', redis.url], cwd);
    expect(enqueued.code, enqueued.stderr).toBe(0);
    expect(enqueued.stdout).toContain('60 new jobs, 0 already known');

    const worker = (profile: string, onStdout?: (chunk: string) => void) =>
      runCli(['worker', '--redis', redis.url, '--profile', profile, '--out', 'out', '--concurrency', '3', '--base-url', mock.url, ...FAST], cwd, { env: ENV, onStdout });
    const a = worker('a');
    let verifiedByB = 0;
    let killed!: () => void;
    const bKilled = new Promise<void>((resolve) => (killed = resolve));
    const b = worker('b', (chunk) => {
      verifiedByB += (chunk.match(/"type":"job-verified"/g) ?? []).length;
      if (verifiedByB >= 8 && b.child.exitCode === null && !b.child.killed) {
        b.child.kill('SIGKILL');
        killed();
      }
    });
    await bKilled;
    const first = await b;
    expect(first.code).toBeNull(); // killed, not exited
    // What B had sent without a conversation yet may be sent again (its journal cannot know): the allowance.
    const atKill = await journalStates(cwd, 'b', 'fleet60');
    const allowance = [...atKill.values()].filter((s) => s.state === 'started' && !s.conversationUrl).length;

    const again = await worker('b');
    const done = await a;
    expect(done.code, done.stderr).toBe(0);
    expect(again.code, again.stderr).toBe(0);

    // Every panel verified once across the fleet: one result each, in exactly one journal, one file each.
    expect(Number(redisCli(redis.port, 'HLEN', 'semantest:fleet:fleet60:results'))).toBe(60);
    const ja = await journalStates(cwd, 'a', 'fleet60');
    const jb = await journalStates(cwd, 'b', 'fleet60');
    const ids = new Set([...ja.keys(), ...jb.keys()]);
    expect(ids.size).toBe(60);
    for (const id of ids) {
      const verifiedIn = [ja.get(id)?.state, jb.get(id)?.state].filter((s) => s === 'verified').length;
      expect(verifiedIn, `${id} verified in exactly one worker's journal`).toBe(1);
    }
    const images = await listFiles(path.join(cwd, 'out', 'fleet60'), '.png');
    expect(images).toHaveLength(60);
    const results = redisCli(redis.port, '--raw', 'HVALS', 'semantest:fleet:fleet60:results')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { file: string; sha256: string; profile: string });
    for (const result of results) expect(await sha256Of(result.file), result.file).toBe(result.sha256);
    expect(new Set(results.map((r) => r.profile))).toEqual(new Set(['a', 'b']));
    // Prompts: one per panel, plus at most what B had sent without a conversation when it was killed.
    const site = await mockStats(mock.url);
    expect(site.prompts).toBeGreaterThanOrEqual(60);
    expect(site.prompts).toBeLessThanOrEqual(60 + allowance);

    // Enqueueing the same file again adds nothing; the fleet's status shows the whole book.
    const twice = await runCli(['enqueue', file, '--redis', redis.url], cwd);
    expect(twice.stdout).toContain('0 new jobs, 60 already known');
    const status = await runCli(['status', file, '--redis', redis.url], cwd);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/fleet60: 60 jobs — 60 verified/);
  } finally {
    mock.stop();
    await redis.stop();
  }
});

test('a worker killed for good: after --reassign-after the other worker makes its panels, one more prompt each', async () => {
  test.setTimeout(240_000);
  const cwd = await workDir();
  const redis = await startRedis();
  // Slow images, so the killed worker holds panels it has sent (with a conversation) when it dies.
  const mock = await startMockProcess(['--mock-latency-ms', '4000']);
  try {
    const file = await lighthouseBook(cwd, 'gone', 12);
    expect((await runCli(['enqueue', file, '--redis', redis.url], cwd)).code).toBe(0);
    const args = (profile: string) => ['worker', '--redis', redis.url, '--profile', profile, '--out', 'out', '--concurrency', '2', '--reassign-after', '8s', '--base-url', mock.url, ...FAST];
    let conversations = 0;
    let killed!: () => void;
    const bKilled = new Promise<void>((resolve) => (killed = resolve));
    const b = runCli(args('b'), cwd, {
      env: ENV,
      onStdout: (chunk) => {
        conversations += (chunk.match(/"type":"job-progress"[^\n]*"conversationUrl":"http/g) ?? []).length;
        if (conversations >= 2 && b.child.exitCode === null && !b.child.killed) {
          b.child.kill('SIGKILL');
          killed();
        }
      },
    });
    const a = runCli(args('a'), cwd, { env: ENV });
    await bKilled;
    await b;
    const held = [...(await journalStates(cwd, 'b', 'gone')).entries()].filter(([, s]) => s.state !== 'verified').map(([id]) => id);
    expect(held.length).toBeGreaterThan(0);
    const done = await a;
    expect(done.code, done.stderr).toBe(0);
    expect(Number(redisCli(redis.port, 'HLEN', 'semantest:fleet:gone:results'))).toBe(12);
    // Each panel B held was sent again by A after B had been gone for --reassign-after, and said so.
    const notes = eventsOf(done.stdout).filter((e) => e.type === 'note').map((e) => String(e.message));
    for (const id of held) expect(notes.some((n) => n.startsWith(`${id}: taken last by profile "b"`)), `${id} reassigned with a note`).toBe(true);
    const ja = await journalStates(cwd, 'a', 'gone');
    for (const id of held) expect(ja.get(id)?.state, id).toBe('verified');
    const images = await listFiles(path.join(cwd, 'out', 'gone'), '.png');
    expect(images).toHaveLength(12);
  } finally {
    mock.stop();
    await redis.stop();
  }
});

test('redis-server killed and started again on the same data mid-run: the book finishes, nothing twice', async () => {
  test.setTimeout(240_000);
  const cwd = await workDir();
  const redis = await startRedis();
  const mock = await startMockProcess(['--mock-latency-ms', '1500']);
  try {
    const file = await lighthouseBook(cwd, 'outage', 20);
    expect((await runCli(['enqueue', file, '--redis', redis.url], cwd)).code).toBe(0);
    let verified = 0;
    let lostSaid!: () => void;
    const lost = new Promise<void>((resolve) => (lostSaid = resolve));
    let down = false;
    const a = runCli(['worker', '--redis', redis.url, '--profile', 'a', '--out', 'out', '--concurrency', '2', '--base-url', mock.url, ...FAST], cwd, {
      onStdout: (chunk) => {
        verified += (chunk.match(/"type":"job-verified"/g) ?? []).length;
        if (verified >= 5 && !down) {
          down = true;
          void redis.kill();
        }
        if (/does not answer/.test(chunk)) lostSaid();
      },
    });
    await lost;
    // Down for longer than BullMQ's blocking timeout plus a second (the 6.x bug, bullmq#4585, needed > ~6 s).
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    await redis.restart();
    const done = await a;
    expect(done.code, done.stderr).toBe(0);
    expect(eventsOf(done.stdout).some((e) => e.type === 'note' && /answers again/.test(String(e.message)))).toBe(true);
    expect(Number(redisCli(redis.port, 'HLEN', 'semantest:fleet:outage:results'))).toBe(20);
    const ja = await journalStates(cwd, 'a', 'outage');
    expect([...ja.values()].filter((s) => s.state === 'verified')).toHaveLength(20);
    const verifiedLines = (await journalEvents(path.join(cwd, 'checkpoints', 'fleet-a', 'outage', 'journal.jsonl'))).filter((l) => l.state === 'verified');
    expect(verifiedLines, 'no panel verified twice').toHaveLength(20);
    expect((await mockStats(mock.url)).prompts).toBe(20);
  } finally {
    mock.stop();
    await redis.stop();
  }
});

test('Ctrl-C on a worker finishes the panels in flight and hands the rest back; the next worker finishes the book', async () => {
  test.setTimeout(180_000);
  const cwd = await workDir();
  const redis = await startRedis();
  const mock = await startMockProcess(['--mock-latency-ms', '3000']);
  try {
    const file = await lighthouseBook(cwd, 'handback', 12);
    expect((await runCli(['enqueue', file, '--redis', redis.url], cwd)).code).toBe(0);
    const args = ['worker', '--redis', redis.url, '--profile', 'a', '--out', 'out', '--concurrency', '3', '--base-url', mock.url, ...FAST];
    let stopped = false;
    const first = runCli(args, cwd, {
      onStdout: (chunk) => {
        if (!stopped && /"type":"job-verified"/.test(chunk)) {
          stopped = true;
          first.child.kill('SIGINT');
        }
      },
    });
    const ended = await first;
    expect(ended.code, ended.stderr).toBe(130);
    const verified = eventsOf(ended.stdout).filter((e) => e.type === 'job-verified').length;
    const started = new Set(eventsOf(ended.stdout).filter((e) => e.type === 'job-start').map((e) => e.id));
    // Every panel it started was finished (none left active in BullMQ, none pinned), the rest wait.
    expect(verified).toBe(started.size);
    expect(Number(redisCli(redis.port, 'LLEN', 'semantest:book.handback:active'))).toBe(0);
    expect(Number(redisCli(redis.port, 'HLEN', 'semantest:fleet:handback:pins'))).toBe(0);
    expect(Number(redisCli(redis.port, 'HLEN', 'semantest:fleet:handback:results'))).toBe(verified);
    expect(Number(redisCli(redis.port, 'LLEN', 'semantest:book.handback:wait'))).toBe(12 - verified);
    const second = await runCli(args, cwd);
    expect(second.code, second.stderr).toBe(0);
    expect(Number(redisCli(redis.port, 'HLEN', 'semantest:fleet:handback:results'))).toBe(12);
    expect((await mockStats(mock.url)).prompts).toBe(12);
  } finally {
    mock.stop();
    await redis.stop();
  }
});

test("a usage cap on one worker's account pauses only that worker: the other makes the rest, long before the reset", async () => {
  test.setTimeout(180_000);
  const cwd = await workDir();
  const redis = await startRedis();
  // The site's 3rd prompt meets the cap of the account that sent it, for 10 minutes.
  const mock = await startMockProcess(['--mock-latency-ms', '1500', '--mock-faults', 'quota@3', '--mock-quota-reset', '10 minutes']);
  try {
    const file = await lighthouseBook(cwd, 'capped', 10);
    expect((await runCli(['enqueue', file, '--redis', redis.url], cwd)).code).toBe(0);
    const args = (profile: string) => ['worker', '--redis', redis.url, '--profile', profile, '--out', 'out', '--concurrency', '1', '--quota-margin', '0', '--base-url', mock.url, ...FAST];
    const started = Date.now();
    const [a, b] = await Promise.all([runCli(args('a'), cwd, { env: ENV }), runCli(args('b'), cwd, { env: ENV })]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(150_000); // not the 10-minute reset
    const pauses = [a, b].map((r) => eventsOf(r.stdout).some((e) => e.type === 'pause' && /usage cap|limit/i.test(String(e.reason))));
    expect(pauses.filter(Boolean), 'exactly one worker met the cap').toHaveLength(1);
    const capped = pauses[0] ? a : b;
    // After its pause the capped worker started nothing; the fleet verified every panel once.
    const events = eventsOf(capped.stdout);
    const pauseAt = events.findIndex((e) => e.type === 'pause');
    expect(events.slice(pauseAt).filter((e) => e.type === 'job-start')).toHaveLength(0);
    expect(Number(redisCli(redis.port, 'HLEN', 'semantest:fleet:capped:results'))).toBe(10);
    expect(await listFiles(path.join(cwd, 'out', 'capped'), '.png')).toHaveLength(10);
    // The pause stays with the account (its pacing file), for the next book or worker on it.
    const pacing = JSON.parse(await readFile(path.join(cwd, 'profiles', pauses[0] ? 'a' : 'b', '.semantest-pacing.json'), 'utf8')) as { pacing: { pauseUntil?: number } };
    expect(pacing.pacing.pauseUntil).toBeGreaterThan(Date.now() + 5 * 60_000);
  } finally {
    mock.stop();
    await redis.stop();
  }
});
