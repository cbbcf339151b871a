// A runner killed with SIGKILL can leave its Chromium running on the profile, which would make the
// next launch fail ("ProcessSingleton"). The runner holds the profile lock, so any browser still on
// the profile is an orphan of ours: find it through Chromium's SingletonLock and close it.
import { readFile, readlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * True when one argument of `pid` is exactly `--user-data-dir=<profileDir resolved>`, as Playwright
 * passes it. Arguments are compared whole (cmdline is NUL-separated): a process on
 * `profiles/default-backup`, or one that merely mentions the path, is not ours to close.
 */
export async function usesProfile(pid: number, profileDir: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').includes(`--user-data-dir=${path.resolve(profileDir)}`);
}

/** Returns the pid that was closed, if any. Only kills a process whose arguments include this profile's `--user-data-dir=` exactly. */
export async function closeOrphanBrowser(profileDir: string, timeoutMs = 10_000): Promise<number | undefined> {
  let target: string;
  try {
    target = await readlink(path.join(profileDir, 'SingletonLock'));
  } catch {
    return undefined;
  }
  const match = /^(.*)-(\d+)$/.exec(target);
  if (!match || match[1] !== hostname()) return undefined;
  const pid = Number(match[2]);
  if (!alive(pid)) return undefined;
  if (!(await usesProfile(pid, profileDir))) return undefined;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  return pid;
}
