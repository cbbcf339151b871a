// What a several-profile run prints: each line about a job or a pause names its profile, a retired
// profile says why, and the summary has a line per profile; a one-profile run prints as it always did.
import { describe, expect, it } from 'vitest';
import { RunEvents, type RunEvent, type RunSummary } from './events.js';
import { attachConsole } from './console.js';

const start = (profiles: string[]): RunEvent => ({ type: 'run-start', book: 'b', total: 2, toRun: 2, skipped: 0, baseUrl: 'http://127.0.0.1:9/', profile: profiles[0], profiles, headless: true, concurrency: 1 });
const summary = (profiles: RunSummary['profiles']): RunSummary => ({ book: 'b', total: 2, verified: 2, skipped: 0, failed: [], stale: [], notRun: 0, elapsedMs: 9000, promptsSent: 3, profiles });

function print(events: RunEvent[], json = false): string[] {
  const bus = new RunEvents();
  const lines: string[] = [];
  attachConsole(bus, { json, write: (line) => lines.push(line) });
  for (const event of events) bus.emitEvent(event);
  return lines;
}

describe('console with several profiles', () => {
  it('names the profile on job and pause lines, says why a profile retired, and sums up each profile', () => {
    const lines = print([
      start(['anna', 'ben']),
      { type: 'job-verified', id: 'ch1/s1/p1', path: 'out/b/ch1/s1/p1.png', attempt: 1, ms: 3000, bytes: 1, done: 1, toRun: 2, profile: 'ben' },
      { type: 'pause', until: Date.now() + 60_000, reason: 'usage cap reached: "limit"', profile: 'anna' },
      { type: 'profile-state', profile: 'anna', state: 'retired', reason: 'it failed 3 attempts in a row after resting 2 times' },
      { type: 'run-end', summary: summary([{ name: 'anna', verified: 0, promptsSent: 1, state: 'retired', reason: 'it kept failing' }, { name: 'ben', verified: 2, promptsSent: 2, state: 'finished' }]) },
    ]);
    expect(lines[0]).toContain('profiles anna, ben');
    expect(lines[1]).toMatch(/✓ \[1\/2\] \[ben\] ch1\/s1\/p1 verified/);
    expect(lines[2]).toMatch(/⏸ \[anna\] pausing the profile until/);
    expect(lines[3]).toBe('  ■ profile anna retired: it failed 3 attempts in a row after resting 2 times');
    expect(lines.at(-1)).toContain('  profile anna: 0 verified, 1 prompts sent, retired: it kept failing');
    expect(lines.at(-1)).toContain('  profile ben: 2 verified, 2 prompts sent, finished');
  });

  it('says when a held profile works again, and a login wall on one profile names it', () => {
    const lines = print([
      start(['anna', 'ben']),
      { type: 'profile-state', profile: 'anna', state: 'paused', until: Date.now() + 60_000, reason: 'usage cap reached' },
      { type: 'human-needed', kind: 'login', message: 'log in', waiting: true, profile: 'ben' },
      { type: 'profile-state', profile: 'ben', state: 'waiting for a login', reason: 'log in' },
      { type: 'profile-state', profile: 'anna', state: 'working' },
      { type: 'profile-state', profile: 'ben', state: 'working' },
      { type: 'profile-state', profile: 'ben', state: 'finished' },
    ]);
    expect(lines.slice(1)).toEqual([
      '  ! [ben] a person is needed (login): log in',
      '  ■ profile ben waiting for a login: log in',
      '  ▶ profile anna working again (was paused)',
      '  ▶ profile ben working again (was waiting for a login)',
    ]);
  });

  it('--json prints each event as it is, its profile included', () => {
    const event: RunEvent = { type: 'job-verified', id: 'ch1/s1/p1', path: 'out/b/ch1/s1/p1.png', attempt: 1, ms: 3000, bytes: 1, done: 1, toRun: 2, profile: 'ben' };
    const state: RunEvent = { type: 'profile-state', profile: 'anna', state: 'retired', reason: 'it kept failing' };
    const lines = print([start(['anna', 'ben']), event, state], true).map((line) => JSON.parse(line));
    expect(lines[0].profiles).toEqual(['anna', 'ben']);
    expect(lines[1]).toMatchObject({ ...event });
    expect(lines[2]).toMatchObject({ ...state });
  });

  it('prints a one-profile run as before: no names in brackets, no per-profile summary', () => {
    const lines = print([
      start(['default']),
      { type: 'job-verified', id: 'ch1/s1/p1', path: 'out/b/ch1/s1/p1.png', attempt: 1, ms: 3000, bytes: 1, done: 1, toRun: 2, profile: 'default' },
      // The login wall's own line says it all; the profile's state changes add nothing.
      { type: 'human-needed', kind: 'login', message: 'log in', waiting: true, profile: 'default' },
      { type: 'profile-state', profile: 'default', state: 'waiting for a login', reason: 'log in' },
      { type: 'profile-state', profile: 'default', state: 'working' },
      { type: 'run-end', summary: summary([{ name: 'default', verified: 2, promptsSent: 3, state: 'finished' }]) },
    ]);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toContain('· profile default ·');
    expect(lines[1]).toMatch(/^ {2}✓ \[1\/2\] ch1\/s1\/p1 verified/);
    expect(lines[2]).toBe('  ! a person is needed (login): log in');
    expect(lines.at(-1)).toBe('b: 2 verified, 0 failed, 0 already done in 9 s (3 prompts sent)');
  });
});
