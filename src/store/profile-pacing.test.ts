// The account's pacing file is read as hostile: whatever is on disk, opening it never throws, and
// any state it drops or changes is named in a note. Real files in a temp folder.
import { chmod, lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROFILE_PACING_FILE, openProfilePacing, readProfilePacing } from './profile-pacing.js';

const NOW = Date.parse('2026-12-04T12:00:00Z');
const HOUR = 3_600_000;

let root: string;
let dir: string;
let file: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'semantest-pacing-'));
  dir = path.join(root, 'profiles', 'a');
  await mkdir(dir, { recursive: true });
  file = path.join(dir, PROFILE_PACING_FILE);
});
afterEach(async () => {
  await chmod(dir, 0o755).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
});

async function open() {
  const notes: string[] = [];
  const pacing = await openProfilePacing(dir, { onNote: (m) => notes.push(m), now: () => NOW });
  return { pacing, notes };
}

const onDisk = async () => JSON.parse(await readFile(file, 'utf8')) as { version: number; pacing: unknown; updatedAt: string };
const capped = { startsSinceCooldown: 3, lastStartAt: NOW - 60_000, pauseUntil: NOW + 14 * HOUR, pauseReason: 'usage cap reached' };

describe('openProfilePacing', () => {
  it('starts with no state and no note when the profile has no pacing file', async () => {
    const { pacing, notes } = await open();
    expect(pacing.state()).toBeUndefined();
    expect(pacing.path).toBe(file);
    expect(notes).toEqual([]);
  });

  it('round-trips a save through a fresh open, as JSON version 1 with updatedAt, mode 0600', async () => {
    const { pacing } = await open();
    await pacing.save(capped);
    expect(pacing.state()).toEqual(capped);
    expect(await onDisk()).toEqual({ version: 1, pacing: capped, updatedAt: new Date(NOW).toISOString() });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const again = await open();
    expect(again.pacing.state()).toEqual(capped);
    expect(again.notes).toEqual([]);
    expect(await readProfilePacing(dir)).toMatchObject({ pauseReason: 'usage cap reached', startsSinceCooldown: 3 });
  });

  it('leaves the second state on disk when two saves are not awaited in between', async () => {
    const { pacing } = await open();
    const first = pacing.save({ ...capped, startsSinceCooldown: 1 });
    const second = pacing.save({ startsSinceCooldown: 2, lastStartAt: NOW });
    await Promise.all([first, second]);
    expect((await onDisk()).pacing).toEqual({ startsSinceCooldown: 2, lastStartAt: NOW });
    expect(pacing.state()).toEqual({ startsSinceCooldown: 2, lastStartAt: NOW });
  });

  const damaged: Array<[string, string, RegExp]> = [
    ['empty', '', /is empty .*usage cap met earlier on this account is not known/],
    ['cut short by a power cut', JSON.stringify({ version: 1, pacing: capped }).slice(0, 40), /is not valid JSON \(cut short at byte 40\?\)/],
    ['not JSON', 'pauseUntil=tomorrow', /is not valid JSON/],
    ['a JSON array', '[1,2]', /does not hold a JSON object/],
    ['of another version', JSON.stringify({ version: 2, pacing: capped }), /has version 2, expected 1/],
    ['without pacing', JSON.stringify({ version: 1 }), /has no "pacing" object/],
    ['with a string count', JSON.stringify({ version: 1, pacing: { ...capped, startsSinceCooldown: '3' } }), /invalid pacing\.startsSinceCooldown \("3"\)/],
    // JSON has no Infinity; 1e999 parses to it.
    ['with a non-finite pauseUntil', `{"version":1,"pacing":{"startsSinceCooldown":0,"pauseUntil":1e999}}`, /invalid pacing\.pauseUntil/],
    ['with a non-finite lastStartAt', `{"version":1,"pacing":{"startsSinceCooldown":0,"lastStartAt":-1e999}}`, /invalid pacing\.lastStartAt/],
  ];
  for (const [what, text, note] of damaged) {
    it(`names the file and starts fresh when it is ${what}`, async () => {
      await writeFile(file, text);
      const { pacing, notes } = await open();
      expect(pacing.state()).toBeUndefined();
      expect(notes).toHaveLength(1);
      expect(notes[0]).toContain(file);
      expect(notes[0]).toMatch(note);
      expect(await readProfilePacing(dir)).toBeUndefined();
      // The damaged file is replaced whole by the next save.
      await pacing.save({ startsSinceCooldown: 1 });
      expect((await onDisk()).pacing).toEqual({ startsSinceCooldown: 1 });
    });
  }

  it('cuts a pause 50 years out to 7 days and says so', async () => {
    const far = NOW + 50 * 365 * 24 * HOUR;
    await writeFile(file, JSON.stringify({ version: 1, pacing: { ...capped, pauseUntil: far } }));
    const { pacing, notes } = await open();
    expect(pacing.state()).toEqual({ ...capped, pauseUntil: NOW + 7 * 24 * HOUR });
    expect(notes).toEqual([expect.stringMatching(new RegExp(`${escape(file)} holds a pause until 2076-.*more than 7 days away; cut to 7 days \\(until 2026-12-11T12:00:00.000Z\\)`))]);
  });

  it('takes a last start in the future as now, so a clock set back cannot hold the gate', async () => {
    await writeFile(file, JSON.stringify({ version: 1, pacing: { startsSinceCooldown: 0, lastStartAt: NOW + 1000 * HOUR } }));
    const { pacing, notes } = await open();
    expect(pacing.state()).toEqual({ startsSinceCooldown: 0, lastStartAt: NOW });
    expect(notes).toEqual([expect.stringMatching(/last start in the future .*taken as now/)]);
  });

  it('does not read through a symbolic link, and the save replaces the link, not its target', async () => {
    const elsewhere = path.join(root, 'elsewhere.json');
    const planted = JSON.stringify({ version: 1, pacing: { startsSinceCooldown: 0 } });
    await writeFile(elsewhere, planted);
    await symlink(elsewhere, file);
    const { pacing, notes } = await open();
    expect(pacing.state()).toBeUndefined();
    expect(notes).toEqual([expect.stringMatching(new RegExp(`${escape(file)} is a symbolic link, not a file`))]);
    expect(await readProfilePacing(dir)).toBeUndefined();
    await pacing.save(capped);
    expect((await lstat(file)).isFile()).toBe(true);
    expect(await readFile(elsewhere, 'utf8')).toBe(planted);
    expect((await onDisk()).pacing).toEqual(capped);
  });

  it('does not follow a link planted at the temp name either', async () => {
    const elsewhere = path.join(root, 'elsewhere.txt');
    await writeFile(elsewhere, 'keep');
    await symlink(elsewhere, `${file}.tmp`);
    const { pacing } = await open();
    await pacing.save(capped);
    expect(await readFile(elsewhere, 'utf8')).toBe('keep');
    expect((await onDisk()).pacing).toEqual(capped);
    await expect(readlink(`${file}.tmp`)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('names a folder in the file\'s place, and a save then rejects naming the file', async () => {
    await mkdir(path.join(file, 'inside'), { recursive: true });
    const { pacing, notes } = await open();
    expect(pacing.state()).toBeUndefined();
    expect(notes).toEqual([expect.stringMatching(new RegExp(`${escape(file)} is a folder; ignored .*remove it, or the next save fails`))]);
    expect(await readProfilePacing(dir)).toBeUndefined();
    await expect(pacing.save(capped)).rejects.toThrow(`could not write the profile's pacing file ${file}`);
  });

  it('rejects a save into a read-only folder and keeps the old file whole; a later save still runs', async () => {
    const { pacing } = await open();
    await pacing.save(capped);
    const before = await readFile(file, 'utf8');
    await chmod(dir, 0o555);
    // Root ignores the permission bits; a non-empty folder at the temp name stops root too.
    if (process.getuid?.() === 0) {
      await chmod(dir, 0o755);
      await mkdir(path.join(`${file}.tmp`, 'x'), { recursive: true });
      await chmod(dir, 0o555);
    }
    await expect(pacing.save({ startsSinceCooldown: 9 })).rejects.toThrow(`could not write the profile's pacing file ${file}`);
    expect(await readFile(file, 'utf8')).toBe(before);
    // A failed write does not jam the queue: the next save is attempted (and fails the same way).
    await expect(pacing.save({ startsSinceCooldown: 10 })).rejects.toThrow(/pacing file/);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
