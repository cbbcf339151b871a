// `semantest-run plan`: what it prints for a prompt file, from its pacing, quota and checkpoint.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../protocol/errors.js';
import { openJobStore } from '../store/index.js';
import { parseBy, parseQuota, runPlan } from './plan.js';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(path.join(tmpdir(), 'semantest-plan-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

const now = new Date(2026, 11, 4, 12, 0).getTime();

async function book(extra = ''): Promise<string> {
  const file = path.join(dir, 'book.yaml');
  await writeFile(file, `book: big\n${extra}pacing: { concurrency: 5, minGapSeconds: 8, jitterSeconds: 2, cooldownEvery: 25, cooldownSeconds: 60 }\nprompts:\n${Array.from({ length: 2000 }, (_, i) => `  - "panel ${i}"`).join('\n')}\n`);
  return file;
}

async function plan(opts: Partial<Parameters<typeof runPlan>[0]> & { file: string }): Promise<string[]> {
  const lines: string[] = [];
  expect(await runPlan({ checkpointsDir: path.join(dir, 'checkpoints'), now, write: (l) => lines.push(l), ...opts })).toBe(0);
  return lines;
}

describe('semantest-run plan', () => {
  it('2,000 panels at 50 per 3 h: about five days on one profile; with --by tomorrow it says how many profiles', async () => {
    const lines = await plan({ file: await book('quota: { images: 50, hours: 3 }\n'), by: '2026-12-05 12:00' });
    expect(lines[0]).toBe('big: 2000 of 2000 jobs left');
    expect(lines).toContain("  quota per account: 50 images per 3 h (the file's quota:)");
    expect(lines.find((l) => l.startsWith('  on 1 profile'))).toMatch(/about 11\dh \d+m \(4\.\d days\).*limited by the accounts' quota/);
    expect(lines.at(-1)).toMatch(/^ {2}by Sat 5 Dec 2026 at 12:00: 5 profiles \(about/);
  });

  it('counts only the jobs not verified in the checkpoint, and says when no quota was given', async () => {
    const file = await book();
    const store = await openJobStore(path.join(dir, 'checkpoints', 'big'));
    for (const id of ['ch1/s1/p1', 'ch1/s1/p2']) {
      await store.record({ t: 'job', id, state: 'started', attempt: 1, promptHash: 'h' });
      await store.record({ t: 'job', id, state: 'verified', path: path.join(dir, 'none.png'), sha256: 's', fileId: 'f' });
    }
    await store.close();
    const lines = await plan({ file, profiles: 3 });
    expect(lines[0]).toBe('big: 1998 of 2000 jobs left');
    expect(lines.join('\n')).toContain('quota: none given');
    expect(lines.join('\n')).toContain('on 3 profiles');
  });

  it('refuses a bad --quota, --by or --profiles with the option and an example', async () => {
    expect(() => parseQuota('50 per 3h')).toThrow(/--quota expects images per time, e\.g\. 50\/3h/);
    expect(parseQuota('50/180m')).toEqual({ images: 50, hours: 3 });
    expect(() => parseBy('soon', now)).toThrow(UsageError);
    expect(() => parseBy('2020-01-01 10:00', now)).toThrow(/in the past/);
    expect(parseBy('20h', now)).toBe(now + 20 * 3_600_000);
    await expect(plan({ file: await book(), profiles: 0 })).rejects.toThrow(/--profiles expects a whole number from 1 to 50/);
  });
});
