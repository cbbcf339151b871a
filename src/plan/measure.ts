// The time one image takes, measured on the book's own verified images (their sidecars' `timings.ms`),
// for the estimates of `status`, `plan` and the live ETA's starting point.
import { readFile } from 'node:fs/promises';
import { sidecarOf } from '../store/files.js';
import type { JobRecord } from '../store/types.js';

/** A rough per-image time when nothing has been measured yet (a 2026 image takes 30–90 s). */
export const TYPICAL_IMAGE_MS = 45_000;

/** Mean generation time of the most recent (up to 50) verified images, from their sidecars; undefined when none says. */
export async function measuredImageMs(records: Array<JobRecord | undefined>): Promise<number | undefined> {
  const recent = records
    .filter((r): r is JobRecord => r?.state === 'verified' && typeof r.path === 'string')
    .sort((a, b) => String(b.updatedAt).localeCompare(String(a.updatedAt)))
    .slice(0, 50);
  const times: number[] = [];
  for (const record of recent) {
    try {
      const sidecar = JSON.parse(await readFile(sidecarOf(record.path!), 'utf8')) as { timings?: { ms?: unknown } };
      if (typeof sidecar.timings?.ms === 'number' && sidecar.timings.ms > 0) times.push(sidecar.timings.ms);
    } catch (error) {
      // A moved or deleted output folder, or a sidecar cut short, just means nothing measured.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && !(error instanceof SyntaxError)) throw error;
    }
  }
  return times.length ? times.reduce((a, b) => a + b, 0) / times.length : undefined;
}
