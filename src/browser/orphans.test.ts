// closeOrphanBrowser against real processes: a SingletonLock naming a live pid is only acted on
// when that process carries this profile's `--user-data-dir=` as one whole argument.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { closeOrphanBrowser } from './orphans.js';

let dir: string;
let profileDir: string;
const children: ChildProcess[] = [];

/** A process that idles with `args` in its argv and says when it is up (so /proc shows them). */
async function idler(...args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000); process.stdout.write("up")', '--', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(child);
  await once(child.stdout!, 'data');
  return child;
}

/** Points the profile's SingletonLock at `pid` on this host, as Chromium does. */
const lockOn = (pid: number) => symlink(`${hostname()}-${pid}`, path.join(profileDir, 'SingletonLock'));

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'orphans-'));
  profileDir = path.join(dir, 'profiles', 'default');
  await mkdir(profileDir, { recursive: true });
});

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

it('leaves alone a process whose arguments only contain the profile path as a substring', async () => {
  for (const args of [[`--user-data-dir=${profileDir}-backup`], [`--user-data-dir=${path.join(profileDir, 'sub')}`], [`--log=${profileDir}`], ['--user-data-dir', profileDir]]) {
    const child = await idler(...args);
    await rm(path.join(profileDir, 'SingletonLock'), { force: true });
    await lockOn(child.pid!);
    expect(await closeOrphanBrowser(profileDir, 2_000), args.join(' ')).toBeUndefined();
    expect(child.exitCode, args.join(' ')).toBeNull();
    expect(child.signalCode, args.join(' ')).toBeNull();
  }
});

it('closes the process that has --user-data-dir=<this profile> as one argument', async () => {
  const child = await idler('--enable-automation', `--user-data-dir=${profileDir}`, '--no-first-run');
  await lockOn(child.pid!);
  const exited = once(child, 'exit');
  expect(await closeOrphanBrowser(path.relative(process.cwd(), profileDir), 2_000)).toBe(child.pid);
  const [, signal] = await exited;
  expect(signal).toBe('SIGTERM');
});
