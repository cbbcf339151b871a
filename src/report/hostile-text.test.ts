// Page text in the run's messages must not drive the terminal: a refusal carrying "ESC [2K" and an
// OSC title sequence once printed its own "✓ [12/12] … verified" line and set the window title.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { attachConsole, formatEvent, jsonLine } from './console.js';
import { RunEvents, type RunEvent } from './events.js';
import { LiveStatus, type Screen } from './live.js';
import { applyEvent, createStatusState, renderStatus } from './status-block.js';
import { formatValidationReport } from './validation-report.js';

/** Clears the line, returns the cursor, fakes a success line, sets the window title; C1 CSI, bidi override. */
const HOSTILE = '\u001b[2K\r  ✓ [12/12] ch1/s1/p12 verified\u001b]0;pwned\u0007\n  ✓ fake line\u009b2J\u202eesrever';
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

const summary = {
  book: 'demo',
  total: 2,
  verified: 1,
  skipped: 0,
  failed: [{ id: 'ch1/s1/p2', kind: 'policy', message: HOSTILE }],
  stale: [],
  notRun: 0,
  elapsedMs: 9000,
  promptsSent: 2,
};

const events: RunEvent[] = [
  { type: 'note', message: HOSTILE },
  { type: 'job-retry', id: 'ch1/s1/p2', kind: 'transient', message: HOSTILE, attempt: 1, notBefore: Date.now() + 1000 },
  { type: 'job-failed', id: 'ch1/s1/p2', kind: 'policy', message: HOSTILE, done: 2, toRun: 2 },
  { type: 'pause', until: Date.now() + 60_000, reason: HOSTILE },
  { type: 'human-needed', kind: 'login', message: HOSTILE, waiting: true },
  { type: 'stopping', reason: HOSTILE },
  { type: 'run-end', summary },
];

describe('the terminal lines of page text', () => {
  it.each(events.map((e) => [e.type, e] as const))('%s prints no control character and no extra line', (_type, event) => {
    const line = formatEvent(event)!;
    expect(line).not.toMatch(CONTROL);
    expect(line).not.toContain('\u001b');
    // The message's own newline does not make a line of its own (the summary is its own lines).
    const expected = event.type === 'run-end' ? 2 : 1;
    expect(line.split('\n')).toHaveLength(expected);
    expect(line).toContain('✓ fake line'); // the words stay, readable
  });

  it('--json keeps the text as a value but writes no control byte', () => {
    const lines: string[] = [];
    const run = new RunEvents();
    attachConsole(run, { json: true, write: (l) => lines.push(l) });
    for (const event of events) run.emit('event', event);
    for (const line of lines) {
      expect(line).not.toMatch(CONTROL);
      expect(line).not.toContain('\n');
    }
    expect(JSON.parse(lines[0]).message).toBe(HOSTILE);
    expect(JSON.parse(jsonLine({ m: '\u009b\u202e' })).m).toBe('\u009b\u202e');
  });

  it('the validation report lists a failure\'s message on one clean line', () => {
    const report = formatValidationReport({
      sampled: 2, candidates: 2, verifiedEarlier: 0, verified: 1, firstTry: 1, meanMs: 3000, bar: 90, clears: false,
      spread: '1 chapter', failures: [{ id: 'ch1/s1/p2', kind: 'policy', message: HOSTILE }], interrupted: false,
    });
    expect(report).not.toMatch(CONTROL);
    expect(report.split('\n')).toHaveLength(3);
  });
});

describe('the live status block', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('draws page text in its block and above it without a control character', () => {
    const now = Date.now();
    const state = createStatusState();
    applyEvent(state, { type: 'run-start', book: 'demo', total: 2, toRun: 2, skipped: 0, baseUrl: 'http://127.0.0.1:1', profile: 'p', headless: true, concurrency: 1 }, now);
    for (const event of [events[3], events[4], events[5]]) {
      applyEvent(state, event, now);
      for (const line of renderStatus(state, now, 200)) expect(line).not.toMatch(CONTROL);
    }
    const drawn: string[] = [];
    const screen: Screen = { columns: () => 120, frame: (above, block) => void drawn.push(...above, ...block), finish: (above) => void drawn.push(...above) };
    // A formatter that passes the text through raw: the live console strips it all the same.
    const live = new LiveStatus(screen, { format: (e) => ('message' in e ? e.message : undefined) });
    live.handle({ type: 'run-start', book: 'demo', total: 2, toRun: 2, skipped: 0, baseUrl: 'http://127.0.0.1:1', profile: 'p', headless: true, concurrency: 1 });
    for (const event of events) live.handle(event);
    live.close();
    expect(drawn.length).toBeGreaterThan(3);
    for (const line of drawn) expect(line).not.toMatch(/[\u001b\u0007\u009b\r\u202e]/);
  });
});
