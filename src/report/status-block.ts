// The live status block at the bottom of a terminal (README "Command line"): what the run has done,
// how fast, when it will end, the panels in flight and why nothing is starting. `applyEvent` folds the
// run's events into a `StatusState`; `renderStatus` turns it into lines, a pure function of the state,
// the time and the terminal's width.
import type { RunEvent } from './events.js';
import { ETA_WINDOW, imagesPerHour, mean, median, RATE_WINDOW, type EtaPacing } from './eta.js';
import { countInWindow, estimateFinish, type ProfileNow, type QuotaWindow } from '../plan/estimate.js';
import { clockTimeFrom, fitWidth, formatDuration } from './format.js';
import { safeLine } from '../protocol/text.js';

export interface InFlightPanel {
  readonly id: string;
  attempt: number;
  /** When this attempt started (epoch ms). */
  readonly since: number;
  /** Its last journal state or page phase: started, sent, conversation, submitted, downloaded. */
  phase: string;
  /** The profile whose tab it is in (several profiles). */
  profile?: string;
}

/** One profile of a several-profile run: what it is doing, what it made, and its gate's state. */
export interface ProfileStatus {
  state: string;
  until?: number;
  reason?: string;
  verified: number;
  /** Its gate's pacing (its `pacing` event), starts since its cooldown counted on. */
  pacing?: EtaPacing & { concurrency: number };
  lastStartAt?: number;
  /** Times between its own last starts (its pacing when the gate's is not known). */
  startGaps: number[];
  /** Its gate's announced next start. */
  nextStart?: { until: number; reason: string };
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
  /** Tabs per profile (`run-start`'s concurrency, then the `pacing` event's). */
  tabsPerProfile: number;
  /** With several profiles: each one's state (pauses are theirs, not the run's), its images and its gate. */
  profiles: Map<string, ProfileStatus>;
  human?: { kind: string; message: string; waiting: boolean; profile?: string };
  stopping?: string;
  ended: boolean;
  /** The file's quota per account (`run-start`), and each profile's window this run (by profile name). */
  quota?: { images: number; windowMs: number };
  windows: Map<string, QuotaWindow>;
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
    tabsPerProfile: 1,
    inFlight: new Map(),
    recentJobMs: [],
    recentStartGaps: [],
    completions: [],
    profiles: new Map(),
    ended: false,
    windows: new Map(),
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
      state.quota = event.quota;
      state.windows.clear();
      state.profiles.clear();
      if ((event.profiles?.length ?? 1) > 1) for (const name of event.profiles!) state.profiles.set(name, { state: 'working', verified: 0, startGaps: [] });
      // Each profile has `concurrency` tabs.
      state.tabsPerProfile = Math.max(1, event.concurrency);
      state.concurrency = Math.max(1, event.concurrency) * Math.max(1, state.profiles.size);
      break;
    case 'profile-state': {
      const entry = state.profiles.get(event.profile);
      if (entry) Object.assign(entry, { state: event.state, until: event.until, reason: event.reason });
      // Its login wall is behind it.
      if (state.human?.profile === event.profile && event.state !== 'waiting for a login') state.human = undefined;
      break;
    }
    case 'pacing': {
      // With several profiles each sends its own: its restored state is its own, the rules are shared.
      const pacing = {
        concurrency: event.concurrency,
        minGapMs: event.minGapMs,
        jitterMs: event.jitterMs,
        cooldownEvery: event.cooldownEvery,
        cooldownMs: event.cooldownMs,
        startsSinceCooldown: event.startsSinceCooldown,
      };
      state.pacing = pacing;
      state.tabsPerProfile = Math.max(1, event.concurrency);
      state.concurrency = state.tabsPerProfile * Math.max(1, state.profiles.size);
      const entry = event.profile !== undefined ? state.profiles.get(event.profile) : undefined;
      if (entry) {
        entry.pacing = { ...pacing };
        if (event.lastStartAt !== undefined) entry.lastStartAt = event.lastStartAt;
      }
      if (event.lastStartAt !== undefined && (state.lastStartAt === undefined || event.lastStartAt > state.lastStartAt)) state.lastStartAt = event.lastStartAt;
      break;
    }
    case 'job-start': {
      if (state.lastStartAt !== undefined && state.firstStartAt !== undefined) keep(state.recentStartGaps, now - state.lastStartAt, ETA_WINDOW);
      state.firstStartAt ??= now;
      state.lastStartAt = now;
      state.pacing &&= countStart(state.pacing);
      if (state.quota) state.windows.set(event.profile ?? '', countInWindow(state.windows.get(event.profile ?? ''), now, state.quota.windowMs));
      const entry = event.profile !== undefined ? state.profiles.get(event.profile) : undefined;
      if (entry) {
        if (entry.lastStartAt !== undefined) keep(entry.startGaps, now - entry.lastStartAt, ETA_WINDOW);
        entry.lastStartAt = now;
        entry.pacing &&= countStart(entry.pacing);
        if (entry.nextStart && entry.nextStart.until <= now) entry.nextStart = undefined;
      }
      state.inFlight.delete(event.id);
      state.inFlight.set(event.id, { id: event.id, attempt: event.attempt, since: now, phase: 'started', ...(entry ? { profile: event.profile } : {}) });
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
      // An image made it through: whatever stood in the way is gone (on that profile).
      if (!state.human?.profile || state.human.profile === event.profile) state.human = undefined;
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
    case 'gate-wait': {
      // One profile's gate says nothing about when the run's next start is: it is that profile's.
      const entry = event.profile !== undefined ? state.profiles.get(event.profile) : undefined;
      if (entry) entry.nextStart = { until: event.until, reason: event.reason };
      if (state.profiles.size > 1) break;
      state.nextStart = { until: event.until, reason: event.reason };
      // A pause restored from the checkpoint shows only here.
      if (event.reason === 'pause' && event.until > now && !(state.pause && state.pause.until >= event.until)) {
        state.pause = { until: event.until, reason: state.pause?.reason ?? 'a pause carried over from the last run' };
      }
      break;
    }
    case 'human-needed':
      state.human = { kind: event.kind, message: event.message, waiting: event.waiting, ...(event.profile !== undefined && state.profiles.has(event.profile) ? { profile: event.profile } : {}) };
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

function countStart<P extends EtaPacing>(pacing: P): P {
  const { cooldownEvery, startsSinceCooldown } = pacing;
  return { ...pacing, startsSinceCooldown: cooldownEvery > 0 && startsSinceCooldown >= cooldownEvery ? 1 : startsSinceCooldown + 1 };
}

/** States in which a profile takes no more jobs this run, or none until a person acts. */
const OUT = new Set(['retired', 'finished']);

/**
 * The ETA of the state at `now`, in ms (`undefined` before the first image): the planner's model
 * (`estimateRun`, docs/ARCHITECTURE.md §10 "The estimate") begun from the present, with the mean of
 * the last images as the time per image and each profile as it is now: its pause or rest, its
 * gate's announced start, its last start and cooldown count, and its tabs busy until the jobs in
 * them end. A retired profile takes no jobs; one waiting for a login counts only when no other can.
 */
export function statusEta(state: StatusState, now: number): number | undefined {
  const remaining = Math.max(0, state.toRun - state.done);
  if (remaining === 0) return 0;
  const measured = state.recentJobMs.slice(-ETA_WINDOW).filter((ms) => Number.isFinite(ms) && ms >= 0);
  if (measured.length === 0) return undefined;
  const imageMs = mean(measured);
  const inFlight = [...state.inFlight.values()].slice(0, remaining);
  const several = state.profiles.size > 1;
  const tabs = state.pacing?.concurrency ?? state.tabsPerProfile;

  // When a profile can start its next job, as far as holds other than its gap and cooldown go.
  const heldUntil = (until: number | undefined, next: { until: number; reason: string } | undefined, busy: InFlightPanel[]): number => {
    let at = Math.max(now, until ?? now);
    if (next && next.reason !== 'slot' && next.until > now) at = Math.max(at, next.until);
    // Every tab busy: the first to end frees one.
    if (busy.length >= tabs) at = Math.max(at, Math.min(...busy.map((p) => p.since + imageMs)));
    return at;
  };
  const profiles: ProfileNow[] = [];
  let gaps: number[];
  if (several) {
    const entries = [...state.profiles].filter(([, p]) => !OUT.has(p.state));
    const able = entries.filter(([, p]) => p.state !== 'waiting for a login');
    for (const [name, p] of able.length ? able : entries) {
      const held = p.state !== 'working' && p.until !== undefined && p.until > now ? p.until : undefined;
      profiles.push(profileNow(heldUntil(held, p.nextStart, inFlight.filter((f) => f.profile === name)), p.lastStartAt, p.pacing?.startsSinceCooldown, now, state.windows.get(name)));
    }
    gaps = [...state.profiles.values()].flatMap((p) => p.startGaps);
  } else {
    const pauseUntil = state.pause && state.pause.until > now ? state.pause.until : undefined;
    // One profile: its window, whatever it is called.
    profiles.push(profileNow(heldUntil(pauseUntil, state.nextStart, inFlight), state.lastStartAt, state.pacing?.startsSinceCooldown, now, [...state.windows.values()][0]));
    gaps = state.recentStartGaps;
  }
  // Every profile retired or finished with jobs left: the run is ending, not going on.
  if (profiles.length === 0) return undefined;
  const pacing = state.pacing;
  const finishAt = estimateFinish({
    jobs: Math.max(0, remaining - inFlight.length),
    profiles,
    gate: pacing
      ? { concurrency: Math.max(1, pacing.concurrency), minGapMs: pacing.minGapMs, jitterMs: pacing.jitterMs, cooldownEvery: pacing.cooldownEvery, cooldownMs: pacing.cooldownMs }
      : { concurrency: tabs, minGapMs: gaps.length ? median(gaps) : 0, jitterMs: 0, cooldownEvery: 0, cooldownMs: 0 },
    imageMs,
    ...(state.quota ? { quota: state.quota } : {}),
    now,
  });
  const lastInFlight = Math.max(now, ...inFlight.map((p) => p.since + imageMs));
  return Math.max(finishAt, lastInFlight) - now;
}

function profileNow(
  pauseUntil: number,
  lastStartAt: number | undefined,
  startsSinceCooldown: number | undefined,
  now: number,
  window?: QuotaWindow,
): ProfileNow {
  return {
    ...(pauseUntil > now ? { pauseUntil } : {}),
    ...(lastStartAt !== undefined ? { lastStartAt } : {}),
    ...(startsSinceCooldown !== undefined ? { startsSinceCooldown } : {}),
    ...(window ? { windowStartedAt: window.start, imagesInWindow: window.count } : {}),
  };
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
  else if (eta !== undefined) head.push(`ETA ${formatDuration(eta)} (${clockTimeFrom(now + eta, now)})`);
  else head.push(state.recentJobMs.length ? 'no ETA: no profile left to work' : 'ETA after the first image');
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
    const who = state.human.profile !== undefined ? `[${state.human.profile}] ` : '';
    return state.human.waiting
      ? `  ! ${who}waiting for you in the browser window (${state.human.kind}): ${state.human.message}`
      : `  ! ${who}a person is needed (${state.human.kind}): ${state.human.message}`;
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
