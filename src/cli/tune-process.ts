// Keeps the runner's own memory small and flat over a 20-hour run (docs/ARCHITECTURE.md §10
// "Long runs", "The runner's own memory"). Runs first, from the CommonJS bin, before Node has
// started its thread pool or sharp its libvips workers: each setting below only holds for what
// is allocated after it.
import { createRequire } from 'node:module';
import v8 from 'node:v8';

declare const require: NodeJS.Require | undefined;

/** glibc's mallopt() parameter for the number of malloc arenas (malloc.h: M_ARENA_MAX). */
const M_ARENA_MAX = -8;
const TRIM_EVERY_MS = 30_000;

export interface Tuning {
  /** What was set, one short phrase each (for `doctor` and the benches). */
  readonly applied: string[];
  /** What could not be set, and why (never fatal: the run only uses more memory). */
  readonly skipped: string[];
}

/**
 * - V8's young generation stays at its starting size (1 MB semi-spaces instead of growing to 16 MB)
 *   and the old generation grows by 10 % between full collections instead of up to 4×: the runner
 *   lives on short messages, and most of its garbage is Playwright's protocol traffic.
 * - glibc: at most 2 malloc arenas. Every thread that allocates (Node's 4 pool threads, V8's
 *   helpers, libvips's workers decoding images) otherwise gets its own arena, and each keeps the
 *   pages of freed image buffers: measured 40 MB of the runner's RSS after 300 images.
 *   Skipped when the user set MALLOC_ARENA_MAX (theirs wins) and off glibc (musl, macOS, Windows).
 * - glibc: malloc_trim(0) every 30 s, which also returns free pages inside the arenas.
 */
export function tuneProcess(): Tuning {
  const applied: string[] = [];
  const skipped: string[] = [];
  // The way back, should a setting ever misbehave on some system (and the benches' baseline).
  if (process.env.SEMANTEST_TUNE === 'off') return { applied, skipped: ['everything: SEMANTEST_TUNE=off'] };
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  v8.setFlagsFromString('--heap-growing-percent=10');
  applied.push('V8 young generation kept at its starting size, old generation grows by 10 %');
  if (process.env.MALLOC_ARENA_MAX) {
    skipped.push(`malloc arenas: MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX} is set, left as it is`);
  } else if (process.platform !== 'linux') {
    skipped.push(`malloc arenas: not Linux (${process.platform})`);
  } else {
    try {
      // The CommonJS build (dist/tune.cjs) has require; run as an ES module (vitest) it has import.meta.
      const load = typeof require === 'function' ? require : createRequire(import.meta.url);
      const koffi = load('koffi') as { load(name: string): { func(signature: string): (...args: number[]) => number } };
      // musl (Alpine) has no libc.so.6: the load throws and the arenas are left as they are.
      const libc = koffi.load('libc.so.6');
      const mallopt = libc.func('int mallopt(int, int)');
      if (mallopt(M_ARENA_MAX, 2) === 1) applied.push('at most 2 malloc arenas');
      else skipped.push('malloc arenas: mallopt refused');
      // What the arenas hold free in their middle stays in RSS until trimmed (glibc only gives back
      // the top on its own): hand it back now and then. A few milliseconds on the main thread.
      const mallocTrim = libc.func('int malloc_trim(size_t)');
      setInterval(() => mallocTrim(0), TRIM_EVERY_MS).unref();
      applied.push(`free malloc pages handed back every ${TRIM_EVERY_MS / 1000} s`);
    } catch (error) {
      skipped.push(`malloc arenas: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  return { applied, skipped };
}

