// The time one image takes, measured on the book's own verified images (their sidecars' `timings.ms`),
// for the estimates of `status`, `plan` and the live ETA's starting point.
import { readFile } from 'node:fs/promises';
import { sidecarOf } from '../store/files.js';
import type { JobRecord } from '../store/types.js';

/** A rough per-image time when nothing has been measured yet (a 2026 image takes 30–90 s). */
export const TYPICAL_IMAGE_MS = 45_000;

/** Median generation time of the most recent (up to 50) verified images, from their sidecars; undefined when none says.
 * The median, because one image that waited out a login wall or a slow hour would drag a mean for the whole book. */
export async function measuredImageMs(records: Array<JobRecord | undefined>): Promise<number | undefined> {
  const recent = records
    .filter((r): r is JobRecord => r?.state === 'verified' && typeof r.path === 'string' && r.path.endsWith('.png'))
    .sort((a, b) => String(b.updatedAt).localeCompare(String(a.updatedAt)))
    .slice(0, 50);
  const times: number[] = [];
  for (const record of recent) {
    try {
      const sidecar = JSON.parse(await readFile(sidecarOf(record.path!), 'utf8')) as { timings?: { ms?: unknown } };
      if (typeof sidecar.timings?.ms === 'number' && Number.isFinite(sidecar.timings.ms) && sidecar.timings.ms > 0) times.push(sidecar.timings.ms);
    } catch (error) {
      // A moved or deleted output folder, an unreadable sidecar or one cut short just means that image
      // is not measured: an estimate must not stop on a file the run no longer needs.
      if (typeof (error as NodeJS.ErrnoException).code !== 'string' && !(error instanceof SyntaxError)) throw error;
    }
  }
  if (times.length === 0) return undefined;
  times.sort((a, b) => a - b);
  const mid = Math.floor(times.length / 2);
  return times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
}
