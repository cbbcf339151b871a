import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobRecord } from '../store/types.js';
import { measuredImageMs } from './measure.js';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(path.join(tmpdir(), 'semantest-measure-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

async function verified(name: string, sidecar: string | undefined, updatedAt = '2026-12-04T12:00:00.000Z'): Promise<JobRecord> {
  const image = path.join(dir, `${name}.png`);
  if (sidecar !== undefined) await writeFile(path.join(dir, `${name}.json`), sidecar);
  return { id: name, state: 'verified', promptHash: 'h', attempts: 1, path: image, updatedAt } as JobRecord;
}

const ms = (n: number): string => JSON.stringify({ timings: { ms: n } });

describe('measuredImageMs', () => {
  it("is the median of the sidecars' timings.ms, so one image that waited ten minutes does not move it", async () => {
    const records = [await verified('a', ms(40_000)), await verified('b', ms(50_000)), await verified('c', ms(600_000))];
    expect(await measuredImageMs(records)).toBe(50_000);
    records.push(await verified('d', ms(44_000)));
    expect(await measuredImageMs(records)).toBe(47_000);
  });

  it('skips missing, cut-short, non-numeric, infinite and folder sidecars, and jobs not verified; none left = undefined', async () => {
    await mkdir(path.join(dir, 'folder.json'));
    const records = [
      await verified('gone', undefined),
      await verified('cut', '{"timings": {"ms": 4'),
      await verified('text', JSON.stringify({ timings: { ms: '40000' } })),
      await verified('huge', '{"timings": {"ms": 1e400}}'),
      await verified('folder', undefined),
      { ...(await verified('failed', ms(1000))), state: 'failed' } as JobRecord,
      undefined,
    ];
    expect(await measuredImageMs(records)).toBeUndefined();
    records.push(await verified('ok', ms(61_000)));
    expect(await measuredImageMs(records)).toBe(61_000);
  });

  it('uses the 50 most recent verified images', async () => {
    const old = await Promise.all(Array.from({ length: 50 }, (_, i) => verified(`old${i}`, ms(10_000), '2026-12-01T00:00:00.000Z')));
    const recent = await Promise.all(Array.from({ length: 50 }, (_, i) => verified(`new${i}`, ms(90_000), '2026-12-04T00:00:00.000Z')));
    expect(await measuredImageMs([...old, ...recent])).toBe(90_000);
  });
});
