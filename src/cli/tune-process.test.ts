import { afterEach, describe, expect, it } from 'vitest';
import { tuneProcess } from './tune-process.js';

const saved = { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX, SEMANTEST_TUNE: process.env.SEMANTEST_TUNE };
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('tuneProcess', () => {
  it.runIf(process.platform === 'linux')('caps the malloc arenas through glibc and says so', () => {
    delete process.env.MALLOC_ARENA_MAX;
    const { applied, skipped } = tuneProcess();
    expect(skipped).toEqual([]);
    expect(applied).toContain('at most 2 malloc arenas');
  });
  it('leaves a MALLOC_ARENA_MAX the user set alone', () => {
    process.env.MALLOC_ARENA_MAX = '4';
    const { applied, skipped } = tuneProcess();
    expect(applied).not.toContain('at most 2 malloc arenas');
    expect(skipped.join('\n')).toMatch(/MALLOC_ARENA_MAX=4 is set/);
  });
  it('does nothing with SEMANTEST_TUNE=off', () => {
    process.env.SEMANTEST_TUNE = 'off';
    expect(tuneProcess()).toEqual({ applied: [], skipped: ['everything: SEMANTEST_TUNE=off'] });
  });
});
