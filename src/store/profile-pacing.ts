// The account's pacing, kept with the profile (DESIGN §13; docs/ARCHITECTURE.md §6 "Pacing belongs
// to the account"): the gate's last start, its count towards a cooldown and any pause (a usage cap,
// a rate limit) in `profiles/<name>/.semantest-pacing.json`, so every book run on the profile
// honours a cap another met. Written only by the profile's session, under the profile lock, before
// the start it announces. The file is read as hostile: a damaged one is named and ignored, never fatal.
import { chmod, lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { replaceFileDurably } from './durable.js';
import type { PacingState } from './types.js';

export const PROFILE_PACING_FILE = '.semantest-pacing.json';
/** A pause longer than this is a damaged file or a clock far off, not a cap: it is cut to this. */
const MAX_PAUSE_MS = 7 * 24 * 3_600_000;
/** A stored reason is the page's words; a long one is cut so a planted file cannot flood the output. */
const MAX_REASON_CHARS = 500;
const FRESH = 'starting with no pacing history';

export interface ProfilePacingFile {
  readonly path: string;
  /** The state last saved (or loaded); undefined when the profile has none yet. */
  state(): PacingState | undefined;
  /** Durably replaces the file (mode 0600); rejects if it could not be written. Calls are written in order, so the last one wins. */
  save(state: PacingState): Promise<void>;
}

/** The caller holds the profile's lock. A damaged file is reported through `onNote` and ignored. */
export async function openProfilePacing(profileDir: string, opts: { onNote?: (message: string) => void; now?: () => number } = {}): Promise<ProfilePacingFile> {
  const file = path.join(profileDir, PROFILE_PACING_FILE);
  const now = opts.now ?? Date.now;
  const read = await readPacingFile(file, now());
  for (const problem of read.problems) opts.onNote?.(`pacing file ${file} ${problem}`);
  let state = read.state;
  let queue: Promise<void> = Promise.resolve();
  return {
    path: file,
    state: () => state,
    save(next: PacingState): Promise<void> {
      state = { ...next };
      const body = `${JSON.stringify({ version: 1, pacing: state, updatedAt: new Date(now()).toISOString() })}\n`;
      // One write at a time, in call order: two renames racing could leave the older state on disk.
      const write = queue.then(() => writePacing(file, body));
      queue = write.catch(() => undefined);
      return write;
    },
  };
}

/** For `status` (no lock): what the file says, or undefined when there is none or it cannot be read. */
export async function readProfilePacing(profileDir: string): Promise<PacingState | undefined> {
  return (await readPacingFile(path.join(profileDir, PROFILE_PACING_FILE), Date.now())).state;
}

async function writePacing(file: string, body: string): Promise<void> {
  try {
    // The temp file is made 0600 before it is synced and renamed (the profile folder holds the
    // account's cookies; nothing in it is for other users). The rename replaces a link, never follows it.
    await replaceFileDurably(file, body, { onStep: (step) => (step === 'temp-written' ? chmod(`${file}.tmp`, 0o600) : undefined) });
  } catch (error) {
    throw new Error(`could not write the profile's pacing file ${file}: ${(error as Error).message}`, { cause: error });
  }
}

type Read = { state?: PacingState; problems: string[] };

async function readPacingFile(file: string, now: number): Promise<Read> {
  let text: string;
  try {
    // A link is not followed: whatever it points at is not this profile's pacing.
    const info = await lstat(file);
    if (info.isSymbolicLink()) return { problems: [`is a symbolic link, not a file; ignored (${FRESH}), and the next save replaces the link`] };
    if (!info.isFile()) return { problems: [`is ${info.isDirectory() ? 'a folder' : 'not a regular file'}; ignored (${FRESH}); remove it, or the next save fails`] };
    // Far larger than any pacing state: a planted file is not read into memory.
    if (info.size > 64 * 1024) return { problems: [`is ${info.size} bytes, too large to be pacing state; ignored (${FRESH})`] };
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? { problems: [] } : { problems: [`could not be read (${code ?? String(error)}); ${FRESH}`] };
  }
  const lost = `${FRESH}, so a usage cap met earlier on this account is not known`;
  if (text.trim() === '') return { problems: [`is empty (cut short by a crash?); ${lost}`] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problems: [`is not valid JSON (cut short at byte ${Buffer.byteLength(text)}?); ${lost}`] };
  }
  const top = value as { version?: unknown; pacing?: unknown } | null;
  if (!top || typeof top !== 'object' || Array.isArray(top)) return { problems: [`does not hold a JSON object; ${lost}`] };
  if (top.version !== 1) return { problems: [`has version ${JSON.stringify(top.version) ?? 'none'}, expected 1; ${lost}`] };
  const pacing = top.pacing as Record<string, unknown> | undefined;
  if (!pacing || typeof pacing !== 'object' || Array.isArray(pacing)) return { problems: [`has no "pacing" object; ${lost}`] };
  return parsePacing(pacing, now, lost);
}

function parsePacing(pacing: Record<string, unknown>, now: number, lost: string): Read {
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  const starts = pacing.startsSinceCooldown;
  if (!(Number.isSafeInteger(starts) && (starts as number) >= 0)) return { problems: [`has an invalid pacing.startsSinceCooldown (${JSON.stringify(starts) ?? 'missing'}); ${lost}`] };
  const problems: string[] = [];
  const state: PacingState = { startsSinceCooldown: starts as number };
  if (pacing.lastStartAt !== undefined) {
    if (!finite(pacing.lastStartAt)) return { problems: [`has an invalid pacing.lastStartAt; ${lost}`] };
    // A start "in the future" would hold the gate until then; it can only be a clock set back.
    state.lastStartAt = Math.min(pacing.lastStartAt, now);
    if (pacing.lastStartAt > now) problems.push(`has its last start in the future (${iso(pacing.lastStartAt)}); taken as now`);
  }
  if (pacing.pauseUntil !== undefined) {
    if (!finite(pacing.pauseUntil)) return { problems: [`has an invalid pacing.pauseUntil; ${lost}`] };
    let until = pacing.pauseUntil;
    if (until - now > MAX_PAUSE_MS) {
      until = now + MAX_PAUSE_MS;
      problems.push(`holds a pause until ${iso(pacing.pauseUntil)}, more than 7 days away; cut to 7 days (until ${iso(until)})`);
    }
    state.pauseUntil = until;
    state.pauseReason = typeof pacing.pauseReason === 'string' ? pacing.pauseReason.slice(0, MAX_REASON_CHARS) : 'a pause from an earlier run';
  }
  return { state, problems };
}

function iso(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}
