// One run per book or profile: a lock file created exclusively, holding who took it. A lock left by
// a process that is gone is taken over, since a crash or a kill never gets to remove its own.
//
// "Gone" is what the kernel says, not just whether the pid answers a signal: a runner killed a
// moment ago stays a zombie until its parent reaps it (a supervisor that restarts at once may not
// have yet), and its pid may later be given to an unrelated process. On Linux the lock records the
// process's start time as the kernel knows it (and the boot it belongs to), so a zombie, a reused
// pid or a lock from before a reboot is not a holder. A holder that is still exiting is waited for
// a few seconds before the run is refused.
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LockedError } from '../protocol/errors.js';
import { isNonNegative } from '../schedule/backoff.js';

export interface Lock {
  /** The pid of the dead process whose lock this one replaced. */
  readonly tookOverFrom?: number;
  /** Removes the lock file if it is still this lock; calling it again does nothing. */
  release(): Promise<void>;
}

export interface LockOptions {
  /**
   * How long to wait for a holder on this machine to exit before refusing, polling every 50 ms: a
   * run killed a moment ago may still be exiting when its replacement starts. A holder that is
   * really running is refused after this long; a holder on another host or in this process at once.
   * @default 3_000
   */
  readonly waitForExitMs?: number;
}

interface Owner {
  pid: number;
  /** When the run took the lock, for the message. */
  startedAt: string;
  hostname: string;
  /** Linux: field 22 (`starttime`) of /proc/<pid>/stat, clock ticks since boot; tells a reused pid apart. */
  startTicks?: number;
  /** Linux: /proc/sys/kernel/random/boot_id when the lock was taken; a lock from an earlier boot is dead. */
  bootId?: string;
}

/** Locks this process holds, so its own pid in a lock file is told apart from a reused pid after a restart. */
const held = new Set<string>();
/** How long a lock file may stay empty or half-written before it counts as left by a crash. */
const WRITE_GRACE_MS = 2_000;
const POLL_MS = 50;

export async function acquireLock(file: string, what: string, options: LockOptions = {}): Promise<Lock> {
  const { waitForExitMs = 3_000 } = options;
  if (!isNonNegative(waitForExitMs)) throw new TypeError('Expected `waitForExitMs` to be a non-negative number.');
  file = path.resolve(file);
  const [startTicks, bootId] = await Promise.all([ownStartTicks(), currentBootId()]);
  const me: Owner = { pid: process.pid, startedAt: new Date().toISOString(), hostname: os.hostname(), ...(startTicks !== undefined && { startTicks }), ...(bootId !== undefined && { bootId }) };
  const content = `${JSON.stringify(me)}\n`;
  let tookOverFrom: number | undefined;
  /** When a live holder on this machine was first seen; the wait for it to exit counts from here. */
  let waitingSince: number | undefined;
  for (;;) {
    try {
      await writeFile(file, content, { flag: 'wx', flush: true });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const seen = await readIfExists(file);
    // Released between our attempt and this read: try again.
    if (seen === undefined) continue;
    const owner = parseOwner(seen);
    if (owner === undefined && (await isFresh(file))) {
      // Another process may be between creating the file and writing its content.
      await sleep(POLL_MS);
      continue;
    }
    if (owner !== undefined) {
      const holder = await probe(owner, file);
      if (holder === 'local') {
        // Perhaps a run killed a moment ago and still exiting: look again until the grace is over.
        waitingSince ??= Date.now();
        const left = waitingSince + waitForExitMs - Date.now();
        if (left > 0) {
          await sleep(Math.min(POLL_MS, left));
          continue;
        }
      }
      if (holder !== 'dead') {
        const where = owner.hostname === me.hostname ? '' : ` on ${owner.hostname}; if that run is gone, delete ${file}`;
        throw new LockedError(`${what} is in use by another run (pid ${owner.pid}${where}, since ${new Date(owner.startedAt).toLocaleString()})`, owner.pid);
      }
    }
    // Re-read just before removing, so a lock someone else took over meanwhile is left alone.
    if ((await readIfExists(file)) !== seen) continue;
    await rm(file, { force: true });
    tookOverFrom = owner?.pid;
  }
  held.add(file);
  let released = false;
  return {
    tookOverFrom,
    async release() {
      if (released) return;
      released = true;
      held.delete(file);
      if ((await readIfExists(file)) === content) await rm(file, { force: true });
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function isFresh(file: string): Promise<boolean> {
  const info = await stat(file).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs < WRITE_GRACE_MS;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function parseOwner(text: string): Owner | undefined {
  let value: Partial<Owner>;
  try {
    value = JSON.parse(text) as Partial<Owner>;
  } catch {
    // Unparseable: empty or torn by a crash while it was being written.
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  if (!(Number.isInteger(value.pid) && (value.pid as number) > 0 && typeof value.startedAt === 'string' && typeof value.hostname === 'string')) return undefined;
  // The kernel's marks are optional (older lock files, systems without /proc); a malformed one is ignored.
  const owner: Owner = { pid: value.pid as number, startedAt: value.startedAt, hostname: value.hostname };
  if (Number.isSafeInteger(value.startTicks) && (value.startTicks as number) >= 0) owner.startTicks = value.startTicks;
  if (typeof value.bootId === 'string' && value.bootId !== '') owner.bootId = value.bootId;
  return owner;
}

/**
 * Who holds a lock: `dead` (take it over), `local` (a live process on this machine, which may be
 * exiting: worth waiting for), `final` (cannot be checked or cannot go away while we wait: another
 * host, or this very process).
 */
async function probe(owner: Owner, file: string): Promise<'dead' | 'local' | 'final'> {
  // A pid means nothing on another machine sharing the folder: assume that run is alive.
  if (owner.hostname !== os.hostname()) return 'final';
  if (owner.pid === process.pid) return held.has(file) ? 'final' : 'dead';
  if (owner.bootId !== undefined) {
    const boot = await currentBootId();
    if (boot !== undefined && boot !== owner.bootId) return 'dead';
  }
  const proc = await procStat(owner.pid);
  // No /proc entry to read (not Linux, /proc hidden or not mounted, or the process is gone): ask the pid.
  if (proc === undefined) return answersSignals(owner.pid) ? 'local' : 'dead';
  // Exited but not yet reaped by its parent: it holds nothing any more.
  if (proc.state === 'Z' || proc.state === 'X') return 'dead';
  // Another process that was given the same pid.
  if (owner.startTicks !== undefined && proc.startTicks !== owner.startTicks) return 'dead';
  return 'local';
}

function answersSignals(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * State and start time of a process from /proc/<pid>/stat, or undefined without one. The second
 * field is the command name in parentheses, which may itself hold spaces and ')': the fields that
 * follow are counted from the last ')'.
 */
export async function procStat(pid: number | 'self'): Promise<{ state: string; startTicks: number } | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // Field 3 (state) is the first after the name, so field n is at index n − 3.
  const fields = text.slice(close + 1).trim().split(/\s+/);
  const state = fields[0];
  const ticks = fields[22 - 3];
  if (state === undefined || ticks === undefined || !/^\d+$/.test(ticks)) return undefined;
  return { state, startTicks: Number(ticks) };
}

let ownTicks: Promise<number | undefined> | undefined;
function ownStartTicks(): Promise<number | undefined> {
  return (ownTicks ??= procStat('self').then((s) => s?.startTicks));
}

let bootIdOnce: Promise<string | undefined> | undefined;
function currentBootId(): Promise<string | undefined> {
  return (bootIdOnce ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (text) => text.trim() || undefined,
    () => undefined,
  ));
}
