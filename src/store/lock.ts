// One run per book or profile: a lock file created exclusively, holding who took it. A lock left by
// a process that is gone is taken over, since a crash or a kill never gets to remove its own.
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LockedError } from '../protocol/errors.js';

export interface Lock {
  /** The pid of the dead process whose lock this one replaced. */
  readonly tookOverFrom?: number;
  /** Removes the lock file if it is still this lock; calling it again does nothing. */
  release(): Promise<void>;
}

interface Owner {
  pid: number;
  startedAt: string;
  hostname: string;
}

/** Locks this process holds, so its own pid in a lock file is told apart from a reused pid after a restart. */
const held = new Set<string>();
/** How long a lock file may stay empty or half-written before it counts as left by a crash. */
const WRITE_GRACE_MS = 2_000;

export async function acquireLock(file: string, what: string): Promise<Lock> {
  file = path.resolve(file);
  const me: Owner = { pid: process.pid, startedAt: new Date().toISOString(), hostname: os.hostname() };
  const content = `${JSON.stringify(me)}\n`;
  let tookOverFrom: number | undefined;
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
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    if (owner !== undefined && isAlive(owner, file)) {
      const where = owner.hostname === me.hostname ? '' : ` on ${owner.hostname}; if that run is gone, delete ${file}`;
      throw new LockedError(`${what} is in use by another run (pid ${owner.pid}${where}, since ${new Date(owner.startedAt).toLocaleString()})`, owner.pid);
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
  try {
    const value = JSON.parse(text) as Partial<Owner>;
    if (Number.isInteger(value.pid) && (value.pid as number) > 0 && typeof value.startedAt === 'string' && typeof value.hostname === 'string') return value as Owner;
  } catch {
    // Unparseable: empty or torn by a crash while it was being written.
  }
  return undefined;
}

function isAlive(owner: Owner, file: string): boolean {
  // A pid means nothing on another machine sharing the folder: assume that run is alive.
  if (owner.hostname !== os.hostname()) return true;
  if (owner.pid === process.pid) return held.has(file);
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
