// `status` and `reject` print stored messages and reasons: the page's and a user's words, maybe
// written by a run before they were cleaned. None of their control bytes may reach the terminal.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPromptFile } from '../prompts/index.js';
import { openJobStore } from '../store/index.js';
import { PROFILE_PACING_FILE, openProfilePacing } from '../store/profile-pacing.js';
import { runPlan } from './plan.js';
import { runReject } from './reject.js';
import { printStatus } from './status.js';

const HOSTILE = '\u001b[2K\r  ✓ [12/12] ch1/s1/p12 verified\u001b]0;pwned\u0007\n  ✓ fake line\u009b2J';
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'semantest-status-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('status and reject with escape sequences in stored text', () => {
  it('print each stored message and reason on one line without a control character', async () => {
    const file = path.join(root, 'book.yaml');
    await writeFile(file, 'book: hostile\nprompts:\n  - "a lighthouse"\n  - "a storm"\n');
    const book = await loadPromptFile(file);
    const [first, second] = book.jobs;
    const checkpoints = path.join(root, 'checkpoints');
    const out = path.join(root, 'out');
    const image = path.join(out, 'hostile', first.outputPath);
    await mkdir(path.dirname(image), { recursive: true });
    await writeFile(image, 'png bytes');
    const store = await openJobStore(path.join(checkpoints, 'hostile'));
    await store.record({ t: 'job', id: first.id, state: 'started', attempt: 1, promptHash: first.promptHash });
    await store.record({ t: 'job', id: first.id, state: 'verified', path: image, sha256: 'ab'.repeat(32) });
    await store.record({ t: 'job', id: second.id, state: 'started', attempt: 1, promptHash: second.promptHash });
    await store.record({ t: 'job', id: second.id, state: 'failed', failure: { kind: 'policy', message: HOSTILE, final: true } });
    await store.close();

    const rejected: string[] = [];
    expect(await runReject({ file, patterns: [first.id, second.id], reason: HOSTILE, out, checkpointsDir: checkpoints, write: (l) => rejected.push(l) })).toBe(0);
    const status: string[] = [];
    expect(await printStatus(file, checkpoints, (l) => status.push(l))).toBe(0);

    for (const line of [...rejected, ...status]) {
      expect(line).not.toMatch(CONTROL);
      expect(line).not.toContain('\n');
    }
    // The words are still there for the user to read.
    expect(rejected.find((l) => l.startsWith(`${first.id} rejected (`))).toContain('✓ fake line');
    expect(status.find((l) => l.includes(`${second.id} failed (policy)`))).toContain('✓ fake line');
    expect(status.find((l) => l.includes(`${first.id} rejected:`))).toContain('✓ fake line');
  });
});

describe('status per profile', () => {
  const HOUR = 3_600_000;

  async function pacingFile(profiles: string, name: string, text: string) {
    await mkdir(path.join(profiles, name), { recursive: true });
    await writeFile(path.join(profiles, name, PROFILE_PACING_FILE), text);
  }

  it('prints one line per profile: its verified panels in this book and its pause from the pacing file', async () => {
    const file = path.join(root, 'book.yaml');
    await writeFile(file, 'book: shared\nprompts:\n  - "a lighthouse"\n  - "a storm"\n  - "a harbour"\n');
    const book = await loadPromptFile(file);
    const checkpoints = path.join(root, 'checkpoints');
    const store = await openJobStore(path.join(checkpoints, 'shared'));
    for (const [job, profile] of [[book.jobs[0], 'a'], [book.jobs[1], 'a'], [book.jobs[2], 'b']] as const) {
      await store.record({ t: 'job', id: job.id, state: 'started', attempt: 1, promptHash: job.promptHash, profile });
      await store.record({ t: 'job', id: job.id, state: 'verified', path: path.join(root, 'x.png'), sha256: 'ab'.repeat(32) });
    }
    await store.close();
    const profiles = path.join(root, 'profiles');
    const until = Date.now() + 2 * HOUR + 13 * 60_000 + 20_000;
    const a = await openProfilePacing(path.join(profiles, 'a'));
    await a.save({ startsSinceCooldown: 1, lastStartAt: Date.now() - HOUR, pauseUntil: until, pauseReason: `usage cap reached: "${HOSTILE}"` });
    const b = await openProfilePacing(path.join(profiles, 'b'));
    await b.save({ startsSinceCooldown: 4, lastStartAt: Date.now() - 5 * 60_000, pauseUntil: Date.now() - 1000, pauseReason: 'over' });
    // c met a cap in another book and made nothing in this one; d's file is damaged; e is a bare folder.
    await pacingFile(profiles, 'c', JSON.stringify({ version: 1, pacing: { startsSinceCooldown: 0, pauseUntil: Date.now() + HOUR, pauseReason: 'rate limited' } }));
    await pacingFile(profiles, 'd', '{"version":1,"pac');
    await mkdir(path.join(profiles, 'e'));
    // A link in the profiles folder is not a profile of this machine's runs.
    await symlink(path.join(profiles, 'c'), path.join(profiles, 'f'));

    const lines: string[] = [];
    expect(await printStatus(file, checkpoints, (l) => lines.push(l), { profilesDir: profiles })).toBe(0);
    expect(lines[0]).toBe('shared: 3 jobs — 3 verified');
    const profileLines = lines.filter((l) => l.startsWith('  profile '));
    expect(profileLines).toHaveLength(3);
    expect(profileLines[0]).toMatch(/^ {2}profile a: 2 verified; paused until (?:(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat) )?\d\d:\d\d:\d\d \(in 2h 13m\): usage cap reached: ".*✓ fake line.*"$/);
    expect(profileLines[0]).not.toMatch(CONTROL);
    expect(profileLines[1]).toMatch(/^ {2}profile b: 1 verified; ready \(last prompt (?:(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat) )?\d\d:\d\d:\d\d\)$/);
    expect(profileLines[2]).toMatch(/^ {2}profile c: paused until .* \(in (59m \d\ds|1h 00m)\): rate limited$/);
  });

  it('shows a profile\'s pause for a book not started yet, and nothing when there is no profiles folder', async () => {
    const file = path.join(root, 'book.yaml');
    await writeFile(file, 'book: fresh\nprompts:\n  - "a lighthouse"\n');
    const profiles = path.join(root, 'profiles');
    await pacingFile(profiles, 'a', JSON.stringify({ version: 1, pacing: { startsSinceCooldown: 0, pauseUntil: Date.now() + 3 * HOUR, pauseReason: 'usage cap reached' } }));
    const lines: string[] = [];
    expect(await printStatus(file, path.join(root, 'checkpoints'), (l) => lines.push(l), { profilesDir: profiles })).toBe(0);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^fresh: not started \(1 jobs; no checkpoint in /);
    expect(lines[1]).toMatch(/^ {2}profile a: paused until .* \(in (2h 59m|3h 00m)\): usage cap reached$/);
    const none: string[] = [];
    expect(await printStatus(file, path.join(root, 'checkpoints'), (l) => none.push(l), { profilesDir: path.join(root, 'nowhere') })).toBe(0);
    expect(none).toEqual([lines[0]]);
  });
});

describe('status and plan before the character sheets are made', () => {
  it('name the sheets the next run makes first, instead of asking to run characters', async () => {
    const file = path.join(root, 'book.yaml');
    const slug = `sheets-${path.basename(root).toLowerCase().replace(/[^a-z0-9]/g, '')}`;
    await writeFile(file, `book: ${slug}\ncharacters:\n  mara: { description: "a keeper in a yellow coat", refs: sheet }\n  tom: "a boy"\nprompts:\n  - "{mara} at the lamp"\n  - "{tom} on the rocks"\n`);
    const lines: string[] = [];
    expect(await printStatus(file, path.join(root, 'checkpoints'), (l) => lines.push(l), { profilesDir: path.join(root, 'nowhere') })).toBe(0);
    expect(lines).toEqual([
      `${slug}: not started (2 jobs; no checkpoint in ${path.join(root, 'checkpoints', slug)})`,
      '  first the character sheet mara: not made yet, the next run makes it before the panels',
    ]);
    const planned: string[] = [];
    expect(await runPlan({ file, checkpointsDir: path.join(root, 'checkpoints'), write: (l) => planned.push(l) })).toBe(0);
    expect(planned[0]).toBe(`${slug}: 2 of 2 jobs left, and first 1 character sheet not made yet (mara)`);
  });
});

