import { describe, expect, it } from 'vitest';
import { parseDurationOption } from './duration.js';

describe('parseDurationOption', () => {
  it('reads seconds, units and sums of units', () => {
    expect(parseDurationOption('600', 'reassign-after')).toBe(600_000);
    expect(parseDurationOption(600, 'reassign-after')).toBe(600_000);
    expect(parseDurationOption('90s', 'reassign-after')).toBe(90_000);
    expect(parseDurationOption('10m', 'reassign-after')).toBe(600_000);
    expect(parseDurationOption('1h30m', 'reassign-after')).toBe(5_400_000);
    expect(parseDurationOption(['5m', '2s'], 'reassign-after')).toBe(2_000);
  });

  it('refuses anything else, naming the option', () => {
    for (const bad of ['', '10 minutes', '-5s', '5x', '1h 30m', 'm']) {
      expect(() => parseDurationOption(bad, 'reassign-after')).toThrow(/--reassign-after: .* is not a duration/);
    }
  });
});
