import { describe, expect, it } from 'vitest';
import type { RunEvent } from './events.js';
import { displayWidth } from './format.js';
import { applyEvent, createStatusState, MAX_PANEL_LINES, renderStatus, statusEta, type StatusState } from './status-block.js';

// Local time, so the clock times in the block read the same in any time zone.
const T0 = new Date(2026, 0, 5, 14, 0, 0).getTime();
const S = 1000;

const runStart: RunEvent = { type: 'run-start', book: 'the-lighthouse', total: 42, toRun: 40, skipped: 2, baseUrl: 'http://127.0.0.1:1', profile: 'default', headless: true, concurrency: 2 };

function play(events: Array<[number, RunEvent]>): StatusState {
  const state = createStatusState();
  for (const [at, event] of events) applyEvent(state, event, at);
  return state;
}

function verified(id: string, done: number, ms: number): RunEvent {
  return { type: 'job-verified', id, path: `/out/${id}.png`, attempt: 1, ms, bytes: 1, done, toRun: 40 };
}

describe('applyEvent', () => {
  it('keeps the panels in flight from their start until verified, failed or retried', () => {
    const state = play([
      [T0, runStart],
      [T0, { type: 'job-state', id: 'a', state: 'started', attempt: 1 }],
      [T0, { type: 'job-start', id: 'a', attempt: 1 }],
      [T0 + S, { type: 'job-start', id: 'b', attempt: 1 }],
      [T0 + 2 * S, { type: 'job-start', id: 'c', attempt: 2 }],
      [T0 + 3 * S, { type: 'job-progress', id: 'a', phase: 'conversation' }],
      [T0 + 4 * S, { type: 'job-state', id: 'b', state: 'submitted', attempt: 1 }],
      // A page phase reported after the journal got further does not take the panel back.
      [T0 + 5 * S, { type: 'job-progress', id: 'b', phase: 'sent' }],
    ]);
    expect([...state.inFlight.values()].map((p) => [p.id, p.phase, p.attempt])).toEqual([
      ['a', 'conversation', 1],
      ['b', 'submitted', 1],
      ['c', 'started', 2],
    ]);
    applyEvent(state, verified('a', 1, 30 * S), T0 + 30 * S);
    applyEvent(state, { type: 'job-state', id: 'b', state: 'failed', attempt: 1, kind: 'transient' }, T0 + 31 * S);
    applyEvent(state, { type: 'job-retry', id: 'b', kind: 'transient', message: 'x', attempt: 1, notBefore: T0 + 60 * S }, T0 + 31 * S);
    applyEvent(state, { type: 'job-failed', id: 'c', kind: 'policy', message: 'no', done: 2, toRun: 40 }, T0 + 32 * S);
    expect(state.inFlight.size).toBe(0);
    expect(state).toMatchObject({ done: 2, verified: 1, failed: 1, retries: 1, recentJobMs: [30 * S], completions: [T0 + 30 * S] });
  });

  it('counts the starts towards the next cooldown, as the gate does', () => {
    const state = play([
      [T0, runStart],
      [T0, { type: 'pacing', concurrency: 2, minGapMs: 0, jitterMs: 0, cooldownEvery: 2, cooldownMs: 60 * S, startsSinceCooldown: 1 }],
      [T0, { type: 'job-start', id: 'a', attempt: 1 }],
    ]);
    expect(state.pacing?.startsSinceCooldown).toBe(2);
    applyEvent(state, { type: 'job-start', id: 'b', attempt: 1 }, T0 + 60 * S);
    expect(state.pacing?.startsSinceCooldown).toBe(1);
  });

  it('keeps the latest pause, and a pause restored from the checkpoint from the gate\'s wait', () => {
    const state = play([
      [T0, runStart],
      [T0, { type: 'gate-wait', until: T0 + 600 * S, reason: 'pause' }],
    ]);
    expect(state.pause).toEqual({ until: T0 + 600 * S, reason: 'a pause carried over from the last run' });
    applyEvent(state, { type: 'pause', until: T0 + 900 * S, reason: 'usage cap reached' }, T0 + S);
    applyEvent(state, { type: 'pause', until: T0 + 300 * S, reason: 'shorter' }, T0 + 2 * S);
    expect(state.pause).toEqual({ until: T0 + 900 * S, reason: 'usage cap reached' });
  });
});

describe('renderStatus', () => {
  const midRun = (start: RunEvent = runStart): StatusState =>
    play([
      [T0, start],
      [T0, { type: 'job-start', id: 'ch1/s1/p1.en', attempt: 1 }],
      [T0 + 2 * S, { type: 'job-start', id: 'ch1/s1/p2.en', attempt: 1 }],
      [T0 + 60 * S, verified('ch1/s1/p1.en', 1, 60 * S)],
      [T0 + 62 * S, verified('ch1/s1/p2.en', 2, 60 * S)],
      [T0 + 62 * S, { type: 'job-start', id: 'ch1/s1/p3.en', attempt: 1 }],
      [T0 + 64 * S, { type: 'job-start', id: 'ch1/s2/p1.en', attempt: 2 }],
      [T0 + 70 * S, { type: 'job-state', id: 'ch1/s1/p3.en', state: 'submitted', attempt: 1 }],
    ]);

  it('shows the bar, the counts, the rate, the ETA, the elapsed time and one line per panel in flight', () => {
    const now = T0 + 92 * S;
    expect(renderStatus(midRun(), now, 120)).toEqual([
      'the-lighthouse █░░░░░░░░░░░░░░░░░░░░░░░ 2/40 5% · ETA 18m 32s (14:20:04) · 78 img/h · 1m 32s elapsed',
      '  ▸ ch1/s1/p3.en  submitted     0:30',
      '  ▸ ch1/s2/p1.en  started       0:28  attempt 2',
    ]);
  });

  it('with the file\'s quota, the ETA waits for each window to come once this one is full', () => {
    const HOUR = 3600 * S;
    const quota = { images: 10, windowMs: HOUR };
    const now = T0 + 92 * S;
    expect(statusEta(midRun(), now)).toBeLessThan(20 * 60 * S);
    // 4 of 10 started in the first hour; of the 36 not started, 6 fit it, then 10 an hour: the
    // last starts three hours after the first and ends a minute later.
    const capped = midRun({ ...runStart, quota } as RunEvent);
    expect(capped.windows.size).toBe(1);
    const eta = statusEta(capped, now)!;
    expect(now + eta).toBeGreaterThanOrEqual(T0 + 3 * HOUR + 60 * S);
    expect(now + eta).toBeLessThan(T0 + 3 * HOUR + 20 * 60 * S);
  });

  it('says "paused until" while paused, and the ETA counts the pause', () => {
    const state = midRun();
    const now = T0 + 92 * S;
    const before = statusEta(state, now)!;
    applyEvent(state, { type: 'pause', until: T0 + 3600 * S, reason: 'usage cap reached: "try again in 1 hour"' }, now);
    const lines = renderStatus(state, now, 200);
    expect(lines.at(-1)).toBe('  ⏸ paused until 15:00:00 (58m 28s left): usage cap reached: "try again in 1 hour"');
    expect(statusEta(state, now)!).toBeGreaterThan(before + 55 * 60 * S);
    // Once it is over the line goes.
    expect(renderStatus(state, T0 + 3601 * S, 200).some((l) => l.includes('paused'))).toBe(false);
  });

  it('with several profiles, a pause is one profile\'s line: the others carry the ETA, which waits for the pause only when no profile is left', () => {
    const state = play([
      [T0, { ...runStart, profiles: ['anna', 'ben'] } as RunEvent],
      [T0, { type: 'job-start', id: 'ch1/s1/p1.en', attempt: 1, profile: 'anna' }],
      [T0 + 60 * S, { ...verified('ch1/s1/p1.en', 1, 60 * S), profile: 'anna' } as RunEvent],
    ]);
    const now = T0 + 90 * S;
    // 39 images of 60 s on two profiles of two tabs each, no gap: 10 rounds.
    expect(statusEta(state, now)).toBe(600 * S);
    applyEvent(state, { type: 'pause', until: T0 + 3600 * S, reason: 'usage cap reached: "limit"', profile: 'anna' }, now);
    const lines = renderStatus(state, now, 200);
    expect(lines).toContain('  [anna] paused until 15:00:00 (58m 30s left): usage cap reached: "limit" · 1 verified');
    expect(lines).toContain('  [ben] working · 0 verified');
    expect(lines.some((l) => l.startsWith('  ⏸'))).toBe(false);
    // Ben alone, two tabs: 20 rounds, done long before anna's cap resets.
    expect(statusEta(state, now)).toBe(1200 * S);
    applyEvent(state, { type: 'profile-state', profile: 'ben', state: 'retired', reason: 'it kept failing' }, now);
    expect(renderStatus(state, now, 200)).toContain('  [ben] retired: it kept failing · 0 verified');
    // Only anna is left: everything waits for her reset at 15:00, then 20 rounds.
    expect(statusEta(state, now)).toBe((3600 - 90 + 1200) * S);
    expect(renderStatus(state, now, 200)[0]).toContain('ETA 1h 18m (15:20:00)');
    applyEvent(state, { type: 'profile-state', profile: 'anna', state: 'retired', reason: 'log in again' }, now);
    expect(renderStatus(state, now, 200)[0]).toContain(' · no ETA: no profile left to work · ');
  });

  it('with several profiles, each profile\'s gate counts its own cooldown: the next images go to the one that is not cooling down', () => {
    const gate = { concurrency: 1, minGapMs: 10 * S, jitterMs: 0, cooldownEvery: 3, cooldownMs: 100 * S };
    const state = play([
      [T0, { ...runStart, toRun: 3, concurrency: 1, profiles: ['anna', 'ben'] } as RunEvent],
      // anna made her 3rd image just before: her next waits for the cooldown, 100 s after it.
      [T0, { type: 'pacing', ...gate, startsSinceCooldown: 3, lastStartAt: T0 - S, profile: 'anna' }],
      [T0, { type: 'pacing', ...gate, startsSinceCooldown: 0, profile: 'ben' }],
      [T0, { type: 'job-start', id: 'p1', attempt: 1, profile: 'ben' }],
      [T0 + 5 * S, { type: 'job-verified', id: 'p1', path: '/out/p1.png', attempt: 1, ms: 5 * S, bytes: 1, done: 1, toRun: 3, profile: 'ben' }],
    ]);
    // ben starts at +10 s and +20 s (his gap), each image 5 s: done at +25 s, 20 s from now. Were
    // anna's cooldown forgotten she would take one at +9 s, and it would be 10 s.
    expect(statusEta(state, T0 + 5 * S)).toBe(20 * S);
  });

  it('with several profiles, a login wall names its profile, is not cleared by another profile\'s image, and its profile waits out of the ETA', () => {
    const state = play([
      [T0, { ...runStart, toRun: 5, concurrency: 1, profiles: ['anna', 'ben'] } as RunEvent],
      [T0, { type: 'job-start', id: 'p1', attempt: 1, profile: 'ben' }],
      [T0 + 10 * S, { type: 'job-verified', id: 'p1', path: '/out/p1.png', attempt: 1, ms: 10 * S, bytes: 1, done: 1, toRun: 5, profile: 'ben' }],
      [T0 + 10 * S, { type: 'human-needed', kind: 'login', message: 'log in to continue', waiting: true, profile: 'anna' }],
      [T0 + 10 * S, { type: 'profile-state', profile: 'anna', state: 'waiting for a login', reason: 'log in to continue' }],
      [T0 + 11 * S, { type: 'job-start', id: 'p2', attempt: 1, profile: 'ben' }],
      [T0 + 21 * S, { type: 'job-verified', id: 'p2', path: '/out/p2.png', attempt: 1, ms: 10 * S, bytes: 1, done: 2, toRun: 5, profile: 'ben' }],
    ]);
    const now = T0 + 21 * S;
    const lines = renderStatus(state, now, 200);
    expect(lines).toContain('  [anna] waiting for a login: log in to continue · 0 verified');
    expect(lines.at(-1)).toBe('  ! [anna] waiting for you in the browser window (login): log in to continue');
    // 3 left on ben alone, 11 s apart as his starts were, 10 s each: at +22, +33, +44, done at +54
    // (were anna counted she would take two of them and it would be 21 s).
    expect(statusEta(state, now)).toBe(33 * S);
    applyEvent(state, { type: 'profile-state', profile: 'anna', state: 'working' }, now);
    expect(renderStatus(state, now, 200).some((l) => l.includes('waiting for you'))).toBe(false);
  });

  it('shows a cooldown or the next start the gate announced', () => {
    const state = midRun();
    applyEvent(state, { type: 'gate-wait', until: T0 + 152 * S, reason: 'cooldown' }, T0 + 92 * S);
    expect(renderStatus(state, T0 + 92 * S, 120).at(-1)).toBe('  cooling down until 14:02:32 (1m 00s left)');
    applyEvent(state, { type: 'gate-wait', until: T0 + 98 * S, reason: 'gap' }, T0 + 92 * S);
    expect(renderStatus(state, T0 + 92 * S, 120).at(-1)).toBe('  next start in 6 s (gap)');
    applyEvent(state, { type: 'gate-wait', until: T0 + 98 * S, reason: 'slot' }, T0 + 92 * S);
    expect(renderStatus(state, T0 + 92 * S, 120)).toHaveLength(3);
  });

  it('says it is stopping after Ctrl-C, and what it is waiting for', () => {
    const state = midRun();
    applyEvent(state, { type: 'stopping', reason: 'Ctrl-C' }, T0 + 92 * S);
    const lines = renderStatus(state, T0 + 92 * S, 120);
    expect(lines[0]).toContain(' · stopping · ');
    expect(lines.at(-1)).toBe('  ■ stopping: finishing 2 in flight (Ctrl-C)');
  });

  it('lists at most a few panels and counts the rest', () => {
    const state = play([[T0, { ...runStart, concurrency: 10 }]]);
    for (let i = 1; i <= 9; i++) applyEvent(state, { type: 'job-start', id: `ch1/s1/p${i}`, attempt: 1 }, T0);
    const lines = renderStatus(state, T0 + S, 120);
    expect(lines).toHaveLength(1 + MAX_PANEL_LINES);
    expect(lines.at(-1)).toBe(`  … and ${9 - (MAX_PANEL_LINES - 1)} more in flight`);
  });

  it('fits every line to a narrow terminal', () => {
    const state = midRun();
    applyEvent(state, { type: 'pause', until: T0 + 3600 * S, reason: 'usage cap reached: "今夜はだめ。 You have hit the plan limit"' }, T0 + 92 * S);
    for (const columns of [1, 10, 24, 40, 79]) {
      const lines = renderStatus(state, T0 + 92 * S, columns);
      expect(lines).toHaveLength(4);
      for (const line of lines) expect(displayWidth(line)).toBeLessThanOrEqual(columns);
    }
    expect(renderStatus(state, T0 + 92 * S, 40)[0]).toBe('░░░░░░░░ 2/40 5% · ETA 1h 16m (15:18:02…');
  });

  it('says the ETA comes after the first image, and "done" at the end', () => {
    const state = play([[T0, runStart], [T0, { type: 'job-start', id: 'a', attempt: 1 }]]);
    expect(renderStatus(state, T0 + 5 * S, 200)[0]).toContain('0/40 0% · ETA after the first image · – img/h · 5 s elapsed');
    state.done = 40;
    expect(renderStatus(state, T0 + 5 * S, 200)[0]).toContain('40/40 100% · done · – img/h');
  });
});
