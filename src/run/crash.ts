// Test hook for the chaos tests: SEMANTEST_CRASH_AT=<point>[:n] kills this process abruptly (SIGKILL,
// no cleanup) the n-th time (default first) the run passes <point>, as a power cut would.
export const CRASH_POINTS = ['after-started', 'after-submit', 'before-rename', 'mid-snapshot'] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

const seen = new Map<string, number>();

export function crashPoint(point: CrashPoint): void {
  const spec = process.env.SEMANTEST_CRASH_AT;
  if (!spec) return;
  const [name, nth] = spec.split(':');
  if (name !== point) return;
  const count = (seen.get(point) ?? 0) + 1;
  seen.set(point, count);
  if (count === Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL');
}
