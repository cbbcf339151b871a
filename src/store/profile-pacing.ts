// The account's pacing, kept with the profile (DESIGN §13; docs/ARCHITECTURE.md §10 "Book run,
// profile sessions, dispatcher"): the gate's last start, its count towards a cooldown and any pause
// (a usage cap, a rate limit) in `profiles/<name>/.semantest-pacing.json`, so every book run on the
// profile honours a cap another met. Written only by the profile's session, under the profile lock,
// before the start it announces.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { replaceFileDurably } from './durable.js';
import type { PacingState } from './types.js';

export const PROFILE_PACING_FILE = '.semantest-pacing.json';
/** A pause longer than this is a damaged file or a clock far off, not a cap: it is cut to this. */
const MAX_PAUSE_MS = 7 * 24 * 3_600_000;

export interface ProfilePacingFile {
  readonly path: string;
  /** The state last saved (or loaded); undefined when the profile has none yet. */
  state(): PacingState | undefined;
  /** Durably replaces the file; rejects if it could not be written. Calls are written in order. */
  save(state: PacingState): Promise<void>;
}

/** The caller holds the profile's lock. A damaged file is reported through `onNote` and ignored. */
export async function openProfilePacing(profileDir: string, opts: { onNote?: (message: string) => void; now?: () => number } = {}): Promise<ProfilePacingFile> {
  const file = path.join(profileDir, PROFILE_PACING_FILE);
  const now = opts.now ?? Date.now;
  const read = await readPacingFile(file, now());
  if (read.problem) opts.onNote?.(`${file}: ${read.problem}`);
  let state = read.state;
  let queue: Promise<void> = Promise.resolve();
  return {
    path: file,
    state: () => state,
    save(next: PacingState): Promise<void> {
      state = { ...next };
      const body = `${JSON.stringify({ version: 1, pacing: state, updatedAt: new Date(now()).toISOString() })}\n`;
      const write = queue.then(() => replaceFileDurably(file, body));
      queue = write.catch(() => undefined);
      return write;
    },
  };
}

/** For `status` (no lock): what the file says, or undefined when there is none or it cannot be read. */
export async function readProfilePacing(profileDir: string): Promise<PacingState | undefined> {
  return (await readPacingFile(path.join(profileDir, PROFILE_PACING_FILE), Date.now())).state;
}

async function readPacingFile(file: string, now: number): Promise<{ state?: PacingState; problem?: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? {} : { problem: `could not be read (${code ?? String(error)}); starting with no pacing history` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: 'is not JSON (cut short?); starting with no pacing history, so a usage cap met earlier is not known' };
  }
  const pacing = (value as { pacing?: Record<string, unknown> } | null)?.pacing;
  if (!pacing || typeof pacing !== 'object') return { problem: 'has no "pacing" object; starting with no pacing history' };
  const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  const starts = pacing.startsSinceCooldown;
  if (!(Number.isInteger(starts) && (starts as number) >= 0)) return { problem: 'has no valid startsSinceCooldown; starting with no pacing history' };
  const state: PacingState = { startsSinceCooldown: starts as number };
  if (pacing.lastStartAt !== undefined) {
    if (!finite(pacing.lastStartAt)) return { problem: 'has an invalid lastStartAt; starting with no pacing history' };
    state.lastStartAt = pacing.lastStartAt as number;
  }
  let problem: string | undefined;
  if (pacing.pauseUntil !== undefined) {
    if (!finite(pacing.pauseUntil)) return { problem: 'has an invalid pauseUntil; starting with no pacing history' };
    let until = pacing.pauseUntil as number;
    if (until - now > MAX_PAUSE_MS) {
      until = now + MAX_PAUSE_MS;
      problem = `holds a pause until ${new Date(pacing.pauseUntil as number).toISOString()}, more than 7 days away; cut to 7 days`;
    }
    state.pauseUntil = until;
    state.pauseReason = typeof pacing.pauseReason === 'string' ? pacing.pauseReason.slice(0, 500) : 'a pause from an earlier run';
  }
  return { state, ...(problem ? { problem } : {}) };
}
