// The live status block at the bottom of a terminal (README "Command line"): what the run has done,
// how fast, when it will end, the panels in flight and why nothing is starting. `applyEvent` folds the
// run's events into a `StatusState`; `renderStatus` turns it into lines, a pure function of the state,
// the time and the terminal's width.
import type { RunEvent } from './events.js';
import { ETA_WINDOW, estimateRemainingMs, imagesPerHour, median, RATE_WINDOW, type EtaPacing } from './eta.js';
import { clockTimeFrom, fitWidth, formatDuration } from './format.js';
import { safeLine } from '../protocol/text.js';

export interface InFlightPanel {
  readonly id: string;
  attempt: number;
  /** When this attempt started (epoch ms). */
  readonly since: number;
  /** Its last journal state or page phase: started, sent, conversation, submitted, downloaded. */
  phase: string;
}

export interface StatusState {
  book: string;
  toRun: number;
  /** Verified and failed this run (the events' `done`). */
  done: number;
  verified: number;
  failed: number;
  retries: number;
  concurrency: number;
  startedAt?: number;
  firstStartAt?: number;
  lastStartAt?: number;
  /** By start, oldest first. */
  inFlight: Map<string, InFlightPanel>;
  /** The last images' times from start to verified (the ETA's moving window). */
  recentJobMs: number[];
  /** Times between the last starts (the ETA's pacing when the gate's is not known). */
  recentStartGaps: number[];
  /** When the last images were verified (the rate's window). */
  completions: number[];
  pacing?: EtaPacing & { concurrency: number };
  /** The gate's announced next start. */
  nextStart?: { until: number; reason: string };
  pause?: { until: number; reason: string };
  /** With several profiles: each one's state (pauses are theirs, not the run's) and its images. */
  profiles: Map<string, { state: string; until?: number; reason?: string; verified: number }>;
  human?: { kind: string; message: string; waiting: boolean };
  stopping?: string;
  ended: boolean;
}

export function createStatusState(): StatusState {
  return {
    book: '',
    toRun: 0,
    done: 0,
    verified: 0,
    failed: 0,
    retries: 0,
    concurrency: 1,
    inFlight: new Map(),
    recentJobMs: [],
    recentStartGaps: [],
    completions: [],
    profiles: new Map(),
    ended: false,
  };
}

// A job's page phases (job-progress) and journal states (job-state) arrive interleaved: the panel
// shows the furthest it has got.
const PHASE_ORDER = ['started', 'attached', 'filled', 'sent', 'conversation', 'submitted', 'generating', 'image-loaded', 'downloaded'];

function advance(panel: InFlightPanel, phase: string): void {
  const next = PHASE_ORDER.indexOf(phase);
  const now = PHASE_ORDER.indexOf(panel.phase);
  if (next < 0 || now < 0 || next >= now) panel.phase = phase;
}

function keep(list: number[], value: number, size: number): void {
  list.push(value);
  if (list.length > size) list.splice(0, list.length - size);
}

/** Folds one event, seen at `now`, into the state (in place). */
export function applyEvent(state: StatusState, event: RunEvent, now: number): StatusState {
  switch (event.type) {
    case 'run-start':
      state.book = event.book;
      state.toRun = event.toRun;
      state.startedAt = now;
      state.profiles.clear();
      if ((event.profiles?.length ?? 1) > 1) for (const name of event.profiles!) state.profiles.set(name, { state: 'working', verified: 0 });
      // Each profile has `concurrency` tabs.
      state.concurrency = Math.max(1, event.concurrency) * Math.max(1, state.profiles.size);
      break;
    case 'profile-state': {
      const entry = state.profiles.get(event.profile);
      if (entry) Object.assign(entry, { state: event.state, until: event.until, reason: event.reason });
      break;
    }
    case 'pacing':
      state.pacing = {
        concurrency: event.concurrency,
        minGapMs: event.minGapMs,
        jitterMs: event.jitterMs,
        cooldownEvery: event.cooldownEvery,
        cooldownMs: event.cooldownMs,
        startsSinceCooldown: event.startsSinceCooldown,
      };
      state.concurrency = Math.max(1, event.concurrency) * Math.max(1, state.profiles.size);
      if (event.lastStartAt !== undefined) state.lastStartAt = event.lastStartAt;
      break;
    case 'job-start': {
      if (state.lastStartAt !== undefined && state.firstStartAt !== undefined) keep(state.recentStartGaps, now - state.lastStartAt, ETA_WINDOW);
      state.firstStartAt ??= now;
      state.lastStartAt = now;
      if (state.pacing) {
        const { cooldownEvery, startsSinceCooldown } = state.pacing;
        state.pacing = { ...state.pacing, startsSinceCooldown: cooldownEvery > 0 && startsSinceCooldown >= cooldownEvery ? 1 : startsSinceCooldown + 1 };
      }
      state.inFlight.delete(event.id);
      state.inFlight.set(event.id, { id: event.id, attempt: event.attempt, since: now, phase: 'started' });
      if (state.nextStart && state.nextStart.until <= now) state.nextStart = undefined;
      break;
    }
    case 'job-progress': {
      const panel = state.inFlight.get(event.id);
      if (panel) advance(panel, event.phase);
      break;
    }
    case 'job-state':
      if (event.state === 'verified' || event.state === 'failed') {
        state.inFlight.delete(event.id);
      } else {
        const panel = state.inFlight.get(event.id);
        if (panel) {
          advance(panel, event.state);
          panel.attempt = event.attempt;
        } else {
          state.inFlight.set(event.id, { id: event.id, attempt: event.attempt, since: now, phase: event.state });
        }
      }
      break;
    case 'job-verified':
      if (event.profile !== undefined) {
        const entry = state.profiles.get(event.profile);
        if (entry) entry.verified += 1;
      }
      state.inFlight.delete(event.id);
      state.verified += 1;
      state.done = event.done;
      state.toRun = event.toRun;
      keep(state.recentJobMs, event.ms, ETA_WINDOW);
      keep(state.completions, now, RATE_WINDOW + 1);
      // An image made it through: whatever stood in the way is gone.
      state.human = undefined;
      break;
    case 'job-failed':
      state.inFlight.delete(event.id);
      state.failed += 1;
      state.done = event.done;
      state.toRun = event.toRun;
      break;
    case 'job-retry':
      state.inFlight.delete(event.id);
      state.retries += 1;
      break;
    case 'pause': {
      // With several profiles a pause is one profile's: the others carry on.
      const entry = event.profile !== undefined ? state.profiles.get(event.profile) : undefined;
      if (entry) {
        Object.assign(entry, { state: 'paused', until: event.until, reason: event.reason });
        break;
      }
      if (event.until > now && (!state.pause || state.pause.until <= now || event.until >= state.pause.until)) state.pause = { until: event.until, reason: event.reason };
      break;
    }
    case 'gate-wait':
      if (state.profiles.size > 1) break; // one profile's gate says nothing about when the run's next start is
      state.nextStart = { until: event.until, reason: event.reason };
      // A pause restored from the checkpoint shows only here.
      if (event.reason === 'pause' && event.until > now && !(state.pause && state.pause.until >= event.until)) {
        state.pause = { until: event.until, reason: state.pause?.reason ?? 'a pause carried over from the last run' };
      }
      break;
    case 'human-needed':
      state.human = { kind: event.kind, message: event.message, waiting: event.waiting };
      break;
    case 'stopping':
      state.stopping = event.reason;
      break;
    case 'run-end':
      state.ended = true;
      state.inFlight.clear();
      break;
    case 'note':
      break;
  }
  return state;
}

/** The ETA of the state at `now`, in ms (`undefined` before the first image). */
export function statusEta(state: StatusState, now: number): number | undefined {
  const pauseUntil = state.pause && state.pause.until > now ? state.pause.until : undefined;
  const gateUntil = state.nextStart && state.nextStart.reason !== 'slot' && state.nextStart.until > now ? state.nextStart.until : undefined;
  let notBefore = Math.max(pauseUntil ?? now, gateUntil ?? now);
  // Several profiles: the run waits only when every one of them is held (paused, resting, retired…).
  if (state.profiles.size > 1) {
    const free = [...state.profiles.values()].map((p) => (p.state === 'retired' || p.state === 'waiting for a login' ? Infinity : p.until !== undefined && p.until > now && p.state !== 'working' ? p.until : now));
    const soonest = Math.min(...free);
    if (Number.isFinite(soonest)) notBefore = Math.max(notBefore, soonest);
  }
  return estimateRemainingMs({
    now,
    remaining: state.toRun - state.done,
    inFlightSince: [...state.inFlight.values()].map((p) => p.since),
    recentJobMs: state.recentJobMs,
    concurrency: state.concurrency,
    ...(state.pacing ? { pacing: state.pacing } : state.recentStartGaps.length ? { recentStartGapMs: median(state.recentStartGaps) } : {}),
    ...(state.lastStartAt !== undefined ? { lastStartAt: state.lastStartAt } : {}),
    ...(notBefore > now ? { notBefore } : {}),
  });
}

/** Panels listed one a line; more are counted. */
export const MAX_PANEL_LINES = 6;

function bar(done: number, total: number, width: number): string {
  const filled = total > 0 ? Math.min(width, Math.floor((done / total) * width)) : width;
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

function mmss(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function rate(perHour: number): string {
  return perHour >= 10 ? String(Math.round(perHour)) : perHour.toFixed(1);
}

/**
 * The block's lines, each at most `columns` cells wide:
 *
 * ```
 * the-lighthouse ███████░░░░░░░░░░░░░░░░░ 12/40 30% · ✗ 1 · ETA 47m 10s (14:32:05) · 38 img/h · 19m 02s elapsed
 *   ▸ ch1/s2/p3.en  submitted   0:42
 *   ▸ ch1/s2/p4.en  started     0:12  attempt 2
 *   next start in 6 s (gap)
 * ```
 */
export function renderStatus(state: StatusState, now: number, columns: number): string[] {
  const width = Math.max(1, Math.floor(columns));
  const percent = state.toRun > 0 ? Math.floor((state.done / state.toRun) * 100) : 100;
  const barWidth = Math.max(6, Math.min(30, Math.floor(width / 5)));
  // Most telling first, so a narrow terminal cuts the least useful: the book's name goes first.
  const book = state.book && width >= 70 ? `${state.book} ` : '';
  const head = [`${book}${bar(state.done, state.toRun, barWidth)} ${state.done}/${state.toRun} ${percent}%`];
  if (state.failed > 0) head.push(`✗ ${state.failed}`);
  if (state.retries > 0) head.push(`↻ ${state.retries}`);
  const eta = statusEta(state, now);
  if (state.done >= state.toRun) head.push('done');
  else if (state.stopping) head.push('stopping');
  else head.push(eta === undefined ? 'ETA after the first image' : `ETA ${formatDuration(eta)} (${clockTimeFrom(now + eta, now)})`);
  const perHour = imagesPerHour(state.completions, state.firstStartAt, now);
  head.push(perHour === undefined ? '– img/h' : `${rate(perHour)} img/h`);
  if (state.startedAt !== undefined) head.push(`${formatDuration(now - state.startedAt)} elapsed`);
  const lines = [head.join(' · ')];

  const panels = [...state.inFlight.values()];
  const idWidth = Math.min(40, Math.max(0, ...panels.map((p) => p.id.length)));
  for (const panel of panels.slice(0, panels.length > MAX_PANEL_LINES ? MAX_PANEL_LINES - 1 : MAX_PANEL_LINES)) {
    lines.push(`  ▸ ${panel.id.padEnd(idWidth)}  ${panel.phase.padEnd(12)}${mmss(now - panel.since).padStart(6)}${panel.attempt > 1 ? `  attempt ${panel.attempt}` : ''}`);
  }
  if (panels.length > MAX_PANEL_LINES) lines.push(`  … and ${panels.length - (MAX_PANEL_LINES - 1)} more in flight`);

  for (const [name, p] of state.profiles) {
    const until = p.until !== undefined && p.until > now ? ` until ${clockTimeFrom(p.until, now)} (${formatDuration(p.until - now)} left)` : '';
    const shown = p.state === 'paused' && !until ? 'working' : p.state;
    lines.push(`  [${name}] ${shown}${shown === 'working' ? '' : until}${p.reason && shown !== 'working' ? `: ${p.reason}` : ''} · ${p.verified} verified`);
  }
  const waiting = waitingLine(state, now);
  if (waiting) lines.push(waiting);
  // Reasons and messages are page or prompt-file text: one line each, no control characters.
  return lines.map((line) => fitWidth(safeLine(line), width));
}

/** Why nothing (more) is starting, if anything holds the run. */
function waitingLine(state: StatusState, now: number): string | undefined {
  if (state.stopping) {
    const n = state.inFlight.size;
    return `  ■ stopping: ${n > 0 ? `finishing ${n} in flight` : 'nothing in flight'} (${state.stopping})`;
  }
  if (state.pause && state.pause.until > now) {
    return `  ⏸ paused until ${clockTimeFrom(state.pause.until, now)} (${formatDuration(state.pause.until - now)} left): ${state.pause.reason}`;
  }
  if (state.human) {
    return state.human.waiting
      ? `  ! waiting for you in the browser window (${state.human.kind}): ${state.human.message}`
      : `  ! a person is needed (${state.human.kind}): ${state.human.message}`;
  }
  const next = state.nextStart;
  if (next && next.until > now && next.reason !== 'slot' && state.done + state.inFlight.size < state.toRun) {
    const left = formatDuration(next.until - now);
    switch (next.reason) {
      case 'cooldown':
        return `  cooling down until ${clockTimeFrom(next.until, now)} (${left} left)`;
      case 'backoff':
        return `  next start in ${left} (a retry's backoff)`;
      default:
        return `  next start in ${left} (${next.reason})`;
    }
  }
  return undefined;
}
