import { describe, expect, it } from 'vitest';
import { clockTime, clockTimeFrom } from './format.js';

describe('clock times without Intl', () => {
  it('print what toLocaleTimeString en-GB prints, for any time of day', () => {
    for (const at of [0, Date.UTC(2026, 11, 4, 0, 0, 0), Date.UTC(2026, 11, 4, 9, 5, 7), Date.UTC(2026, 11, 4, 23, 59, 59), Date.now()]) {
      expect(clockTime(at)).toBe(new Date(at).toLocaleTimeString('en-GB', { hour12: false }));
    }
  });
  it('name the weekday as en-GB does when the time is on another day', () => {
    const now = new Date(2026, 11, 4, 12, 0, 0).getTime();
    for (let day = 1; day <= 7; day++) {
      const at = new Date(2026, 11, 4 + day, 3, 10, 0).getTime();
      expect(clockTimeFrom(at, now)).toBe(`${new Date(at).toLocaleDateString('en-GB', { weekday: 'short' })} 03:10:00`);
    }
    expect(clockTimeFrom(now, now)).toBe('12:00:00');
  });
});
