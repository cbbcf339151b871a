// A duration on the command line: `90s`, `10m`, `1h30m`, or a bare number of seconds (as before).
import { UsageError } from '../protocol/errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDurationOption(value: unknown, option: string): number {
  const text = String(Array.isArray(value) ? value[value.length - 1] : value).trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new UsageError(`--${option}: "${text}" is not a duration; give one such as 90s, 10m or 1h30m (a bare number is seconds)`);
  }
  return Math.round(parts.reduce((ms, [, n, unit]) => ms + Number(n) * UNIT_MS[unit], 0));
}
