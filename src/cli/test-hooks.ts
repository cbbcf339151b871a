// Test-only: SEMANTEST_CRASH_AT=<point>[:n] kills this process abruptly (SIGKILL, no cleanup) the
// n-th time (default the first) the run passes <point>. The chaos specs set it; users never do.
import { CRASH_POINTS, type CrashPoint, type RunHooks } from '../run/hooks.js';
import { UsageError } from '../protocol/errors.js';

export function hooksFromEnv(env: NodeJS.ProcessEnv = process.env): RunHooks {
  const spec = env.SEMANTEST_CRASH_AT;
  if (!spec) return {};
  const [name, nth = '1'] = spec.split(':');
  if (!CRASH_POINTS.includes(name as CrashPoint) || !/^[1-9]\d*$/.test(nth)) {
    throw new UsageError(`SEMANTEST_CRASH_AT: "${spec}" is not <point>[:n] with a point of ${CRASH_POINTS.join(', ')}`);
  }
  let seen = 0;
  return {
    crashPoint(point) {
      if (point !== name) return;
      seen += 1;
      if (seen === Number(nth)) process.kill(process.pid, 'SIGKILL');
    },
  };
}
