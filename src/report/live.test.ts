import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { attachConsole, formatEvent } from './console.js';
import { RunEvents, type RunEvent } from './events.js';
import { FRAME_MS, LiveStatus, terminalScreen, TICK_MS, type Screen } from './live.js';

const T0 = new Date(2026, 0, 5, 14, 0, 0).getTime();

const runStart: RunEvent = { type: 'run-start', book: 'demo', total: 3, toRun: 3, skipped: 0, baseUrl: 'http://127.0.0.1:1', profile: 'default', headless: true, concurrency: 2 };
const runEnd: RunEvent = {
  type: 'run-end',
  summary: { book: 'demo', total: 3, verified: 3, skipped: 0, failed: [], stale: [], notRun: 0, elapsedMs: 9000, promptsSent: 3 },
};
const verified = (id: string, done: number): RunEvent => ({ type: 'job-verified', id, path: `${process.cwd()}/out/${id}.png`, attempt: 1, ms: 3000, bytes: 1, done, toRun: 3, etaMs: 6000 });

type Call = { kind: 'frame'; above: string[]; block: string[] } | { kind: 'finish'; above: string[] };

function fakeScreen(columns = 100): Screen & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    columns: () => columns,
    frame: (above, block) => void calls.push({ kind: 'frame', above: [...above], block: [...block] }),
    finish: (above) => void calls.push({ kind: 'finish', above: [...above] }),
  };
}

describe('LiveStatus', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
  });
  afterEach(() => vi.useRealTimers());

  const live = (screen: Screen) => new LiveStatus(screen, { format: (e) => formatEvent(e, process.cwd(), { eta: false }) });

  it('prints plain lines before the run starts, then draws the block with the lines above it', () => {
    const screen = fakeScreen();
    const status = live(screen);
    status.handle({ type: 'note', message: 'dashboard: http://127.0.0.1:1/' });
    expect(screen.calls).toEqual([{ kind: 'finish', above: ['  · dashboard: http://127.0.0.1:1/'] }]);
    status.handle(runStart);
    const frame = screen.calls[1] as Extract<Call, { kind: 'frame' }>;
    expect(frame.kind).toBe('frame');
    expect(frame.above[0]).toMatch(/^semantest: demo: 3 to generate/);
    expect(frame.block[0]).toContain('0/3 0%');
    status.close();
  });

  it('redraws at most four times a second, and on the clock while nothing happens', () => {
    const screen = fakeScreen();
    const status = live(screen);
    status.handle(runStart);
    for (let i = 0; i < 20; i++) status.handle({ type: 'job-progress', id: 'x', phase: 'sent' });
    expect(screen.calls).toHaveLength(1);
    vi.advanceTimersByTime(FRAME_MS);
    expect(screen.calls).toHaveLength(2);
    // A second with nothing new: the ticker alone.
    vi.advanceTimersByTime(TICK_MS);
    expect(screen.calls).toHaveLength(3);
    for (let t = 0; t < 2000; t += 10) {
      status.handle({ type: 'job-progress', id: 'x', phase: 'sent' });
      vi.advanceTimersByTime(10);
    }
    expect(screen.calls.length - 3).toBeLessThanOrEqual(2000 / FRAME_MS + 1);
    status.close();
  });

  it('keeps every line, in order, and the ETA off them (the block has it)', () => {
    const screen = fakeScreen();
    const status = live(screen);
    status.handle(runStart);
    status.handle({ type: 'job-start', id: 'ch1/s1/p1', attempt: 1 });
    vi.advanceTimersByTime(3000);
    status.handle(verified('ch1/s1/p1', 1));
    status.handle({ type: 'job-start', id: 'ch1/s1/p2', attempt: 2 });
    vi.advanceTimersByTime(FRAME_MS);
    const above = screen.calls.flatMap((c) => c.above);
    expect(above.slice(1)).toEqual(['  ✓ [1/3] ch1/s1/p1 verified in 3 s → out/ch1/s1/p1.png', '  → ch1/s1/p2 attempt 2']);
    const last = screen.calls.at(-1) as Extract<Call, { kind: 'frame' }>;
    expect(last.block[0]).toContain('1/3 33%');
    expect(last.block[1]).toContain('ch1/s1/p2');
    status.close();
  });

  it('erases the block at the end and prints the summary plainly; nothing is drawn after', () => {
    const screen = fakeScreen();
    const status = live(screen);
    status.handle(runStart);
    status.handle({ type: 'stopping', reason: 'Ctrl-C: finishing the images in flight' });
    status.handle(runEnd);
    expect(screen.calls.at(-1)).toEqual({ kind: 'finish', above: ['  ■ Ctrl-C: finishing the images in flight', 'demo: 3 verified, 0 failed, 0 already done in 9 s (3 prompts sent)'] });
    expect(status.active).toBe(false);
    const count = screen.calls.length;
    vi.advanceTimersByTime(10 * TICK_MS);
    expect(screen.calls).toHaveLength(count);
    status.handle({ type: 'note', message: 'after' });
    expect(screen.calls.at(-1)).toEqual({ kind: 'finish', above: ['  · after'] });
  });

  it('takes the block away for other output and draws it again below', () => {
    const screen = fakeScreen();
    const status = live(screen);
    status.handle(runStart);
    vi.advanceTimersByTime(TICK_MS);
    status.handle({ type: 'note', message: 'pending' });
    status.suspend();
    expect(screen.calls.at(-1)).toEqual({ kind: 'finish', above: ['  · pending'] });
    status.resume();
    vi.advanceTimersByTime(FRAME_MS);
    expect(screen.calls.at(-1)!.kind).toBe('frame');
    status.close();
  });
});

describe('terminalScreen', () => {
  function fakeTerminal(columns: number) {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
    Object.assign(stream, { isTTY: true, columns, rows: 30 });
    let out = '';
    stream.on('data', (chunk: Buffer) => (out += chunk.toString()));
    return { stream, output: () => out };
  }
  const ESC = '\u001B[';

  it('draws the block, writes lines above it by erasing and drawing it again, and leaves plain output at the end', async () => {
    const { stream, output } = fakeTerminal(50);
    const screen = terminalScreen(stream);
    expect(screen.columns()).toBe(49);
    screen.frame([], ['block one', 'block two']);
    screen.frame(['a line'], ['block one', 'block three']);
    screen.finish(['summary']);
    await new Promise((resolve) => setImmediate(resolve));
    const out = output();
    expect(out.indexOf(`${ESC}?25l`)).toBeLessThan(out.indexOf('block one'));
    const second = out.indexOf('a line');
    expect(out.slice(out.indexOf('block two'), second)).toContain(`${ESC}2K`); // the block erased first
    expect(out.slice(second)).toContain('block three');
    expect(out.endsWith(`${ESC}?25hsummary\n`)).toBe(true);
  });
});

describe('attachConsole', () => {
  it('without a terminal prints the lines as before, the ETA included', () => {
    const events = new RunEvents();
    const lines: string[] = [];
    attachConsole(events, { json: false, live: true, write: (line) => lines.push(line) });
    vi.useFakeTimers();
    vi.setSystemTime(T0);
    events.emitEvent(verified('ch1/s1/p1', 1));
    events.emitEvent({ type: 'pacing', concurrency: 2, minGapMs: 0, jitterMs: 0, cooldownEvery: 0, cooldownMs: 0, startsSinceCooldown: 0 });
    events.emitEvent({ type: 'gate-wait', until: T0, reason: 'gap' });
    vi.useRealTimers();
    expect(lines).toEqual(['  ✓ [1/3] ch1/s1/p1 verified in 3 s → out/ch1/s1/p1.png, done in ~6 s (14:00:06)']);
  });

  it('with --json prints every event as a JSON line', () => {
    const events = new RunEvents();
    const lines: string[] = [];
    attachConsole(events, { json: true, write: (line) => lines.push(line) });
    events.emitEvent(runStart);
    expect(JSON.parse(lines[0])).toMatchObject({ type: 'run-start', book: 'demo' });
  });
});
