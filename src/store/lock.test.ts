import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LockedError } from '../protocol/errors.js';
import { acquireLock, procStat } from './lock.js';
import { withTempDir } from '../../test/support/store.js';

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

/** A process that stays until killed; killed with the test. */
function liveChild(command = process.execPath, args = ['-e', 'setInterval(() => {}, 1000)']): ChildProcess & { pid: number } {
  const child = spawn(command, args, { stdio: 'ignore' });
  children.push(child);
  return child as ChildProcess & { pid: number };
}
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** Waits until /proc says the process is in `state` (or has started, for any state). */
async function untilState(pid: number, want?: string): Promise<{ state: string; startTicks: number }> {
  for (let i = 0; i < 200; i++) {
    const stat = await procStat(pid);
    if (stat && (want === undefined || stat.state === want)) return stat;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`pid ${pid} never reached state ${want ?? 'any'}`);
}

function owner(pid: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ pid, startedAt: '2026-01-01T00:00:00.000Z', hostname: os.hostname(), ...extra });
}

async function lockFile(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  return path.join(dir, 'run.lock');
}

describe('acquireLock', () => {
  it('writes who holds the lock and removes it on release', async () => {
    await withTempDir(async (dir) => {
      const file = await lockFile(dir);
      const lock = await acquireLock(file, 'book "b"');
      expect(lock.tookOverFrom).toBeUndefined();
      expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ pid: process.pid, hostname: os.hostname() });
      await lock.release();
      await expect(readFile(file)).rejects.toMatchObject({ code: 'ENOENT' });
      await lock.release();
    });
  });

  it('refuses a second run in the same process, naming the pid', async () => {
    await withTempDir(async (dir) => {
      const file = await lockFile(dir);
      const lock = await acquireLock(file, 'book "b"');
      const error = await acquireLock(file, 'book "b"').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockedError);
      expect(error).toMatchObject({ pid: process.pid });
      expect((error as Error).message).toMatch(new RegExp(`^book "b" is in use by another run \\(pid ${process.pid}, since .+\\)$`));
      await lock.release();
    });
  });

  it('refuses while another live process holds it', async () => {
    await withTempDir(async (dir) => {
      const file = await lockFile(dir);
      const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
      try {
        await writeFile(file, JSON.stringify({ pid: holder.pid, startedAt: '2026-01-01T00:00:00.000Z', hostname: os.hostname() }));
        await expect(acquireLock(file, 'profile "p"')).rejects.toMatchObject({ name: 'LockedError', pid: holder.pid });
      } finally {
        holder.kill();
      }
    });
  });

  it('takes over the lock of a process that died, saying whose it was', async () => {
    await withTempDir(async (dir) => {
      const file = await lockFile(dir);
      const pid = await deadPid();
      await writeFile(file, JSON.stringify({ pid, startedAt: '2026-01-01T00:00:00.000Z', hostname: os.hostname() }));
      const lock = await acquireLock(file, 'book "b"');
      expect(lock.tookOverFrom).toBe(pid);
      expect(JSON.parse(await readFile(file, 'utf8')).pid).toBe(process.pid);
      await lock.release();
    });
  });

  it('takes over a lock left by an earlier process that had our pid (a restarted container)', async () => {
    await withTempDir(async (dir) => {
      const file = await lockFile(dir);
      await writeFile(file, JSON.stringify({ pid: process.pid, startedAt: '2020-01-01T00:00:00.000Z', hostname: os.hostname() }));
      const lock = await acquireLock(file, 'book "b"');
      expect(lock.tookOverFrom).toBe(process.pid);
      await lock.release();
    });
  });

  it('takes over an empty lock file left by a crash while it was being written', async () => {
    await withTempDir(async (dir) => {
      const file = await lockFile(dir);
      await writeFile(file, '');
      const minuteAgo = new Date(Date.now() - 60_000);
      await utimes(file, minuteAgo, minuteAgo);
      const lock = await acquireLock(file, 'book "b"');
      expect(JSON.parse(await readFile(file, 'utf8')).pid).toBe(process.pid);
      await lock.release();
    });
  });

  it('waits for a lock file that is still being written, then respects it', async () => {
    await withTempDir(async (dir) => {
      const file = await lockFile(dir);
      await writeFile(file, '');
      setTimeout(() => void writeFile(file, JSON.stringify({ pid: process.ppid, startedAt: '2026-01-01T00:00:00.000Z', hostname: os.hostname() })), 200);
      await expect(acquireLock(file, 'book "b"')).rejects.toMatchObject({ name: 'LockedError', pid: process.ppid });
    });
  });

  it('leaves a lock held on another host alone, since its pid cannot be checked from here', async () => {
    await withTempDir(async (dir) => {
      const file = await lockFile(dir);
      const pid = await deadPid();
      await writeFile(file, JSON.stringify({ pid, startedAt: '2026-01-01T00:00:00.000Z', hostname: 'elsewhere' }));
      await expect(acquireLock(file, 'book "b"')).rejects.toThrow(/in use by another run \(pid \d+ on elsewhere; if that run is gone, delete .*run\.lock, since/);
    });
  });

  it('does not remove a lock that is no longer its own', async () => {
    await withTempDir(async (dir) => {
      const file = await lockFile(dir);
      const lock = await acquireLock(file, 'book "b"');
      const other = JSON.stringify({ pid: 1, startedAt: '2026-01-01T00:00:00.000Z', hostname: os.hostname() });
      await writeFile(file, other);
      await lock.release();
      expect(await readFile(file, 'utf8')).toBe(other);
    });
  });

  it('checks its options up front', async () => {
    for (const waitForExitMs of [-1, Number.NaN, Number.POSITIVE_INFINITY, '1' as unknown as number]) {
      await expect(acquireLock('never-created.lock', 'book "b"', { waitForExitMs })).rejects.toThrow(new TypeError('Expected `waitForExitMs` to be a non-negative number.'));
    }
    expect(existsSync('never-created.lock')).toBe(false);
  });

  it('waits for a holder that exits within the grace, then takes over', async () => {
    await withTempDir(async (dir) => {
      const file = await lockFile(dir);
      const holder = liveChild(process.execPath, ['-e', 'setTimeout(() => {}, 600)']);
      const { startTicks } = await untilState(holder.pid);
      await writeFile(file, owner(holder.pid, { startTicks }));
      const started = Date.now();
      const lock = await acquireLock(file, 'book "b"');
      expect(Date.now() - started).toBeGreaterThan(300);
      expect(lock.tookOverFrom).toBe(holder.pid);
      expect(JSON.parse(await readFile(file, 'utf8')).pid).toBe(process.pid);
      await lock.release();
    });
  });

  it('refuses a live holder once the grace is over, naming its pid', async () => {
    await withTempDir(async (dir) => {
      const file = await lockFile(dir);
      const holder = liveChild();
      const { startTicks } = await untilState(holder.pid);
      await writeFile(file, owner(holder.pid, { startTicks }));
      const started = Date.now();
      const error = await acquireLock(file, 'book "b"', { waitForExitMs: 400 }).catch((e: unknown) => e);
      const waited = Date.now() - started;
      expect(error).toBeInstanceOf(LockedError);
      expect(error).toMatchObject({ pid: holder.pid, exitCode: 2 });
      expect((error as Error).message).toMatch(new RegExp(`^book "b" is in use by another run \\(pid ${holder.pid}, since .+\\)$`));
      expect(waited).toBeGreaterThanOrEqual(390);
      expect(waited).toBeLessThan(2_000);
      // The default grace is a few seconds, not more.
      const again = Date.now();
      await expect(acquireLock(file, 'book "b"')).rejects.toBeInstanceOf(LockedError);
      expect(Date.now() - again).toBeLessThan(4_000);
      expect(JSON.parse(await readFile(file, 'utf8')).pid).toBe(holder.pid);
    });
  });

  it('refuses at once when there is nothing to wait for: another host, or this process', async () => {
    await withTempDir(async (dir) => {
      const file = await lockFile(dir);
      await writeFile(file, JSON.stringify({ pid: 12345, startedAt: '2026-01-01T00:00:00.000Z', hostname: 'elsewhere' }));
      let started = Date.now();
      await expect(acquireLock(file, 'book "b"', { waitForExitMs: 10_000 })).rejects.toBeInstanceOf(LockedError);
      expect(Date.now() - started).toBeLessThan(5_000);
      const other = path.join(dir, 'other.lock');
      const lock = await acquireLock(other, 'book "b"');
      started = Date.now();
      await expect(acquireLock(other, 'book "b"', { waitForExitMs: 10_000 })).rejects.toBeInstanceOf(LockedError);
      expect(Date.now() - started).toBeLessThan(5_000);
      await lock.release();
    });
  });

  describe.runIf(existsSync('/proc/self/stat'))('with /proc (Linux)', () => {
    it('records the start time the kernel knows and the boot id', async () => {
      await withTempDir(async (dir) => {
        const file = await lockFile(dir);
        const lock = await acquireLock(file, 'book "b"');
        const written = JSON.parse(await readFile(file, 'utf8'));
        expect(written.startTicks).toBe((await procStat('self'))!.startTicks);
        expect(written.bootId).toBe((await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim());
        await lock.release();
      });
    });

    it('takes over the lock of a zombie: killed, not yet reaped by its parent', async () => {
      await withTempDir(async (dir) => {
        const file = await lockFile(dir);
        // sh starts a short sleep in the background and becomes a long one, which never reaps it.
        const pid = await new Promise<number>((resolve) => {
          const out = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 30']);
          children.push(out);
          out.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
        });
        const zombie = await untilState(pid, 'Z');
        // A zombie still answers signal 0: the old check called it alive.
        expect(() => process.kill(pid, 0)).not.toThrow();
        await writeFile(file, owner(pid, { startTicks: zombie.startTicks }));
        const started = Date.now();
        const lock = await acquireLock(file, 'book "b"');
        // Not the 3 s grace a live holder gets.
        expect(Date.now() - started).toBeLessThan(2_000);
        expect(lock.tookOverFrom).toBe(pid);
        await lock.release();
        // An older lock file without the start time: still not a holder.
        await writeFile(file, owner(pid));
        const older = await acquireLock(file, 'book "b"');
        expect(older.tookOverFrom).toBe(pid);
        await older.release();
      });
    });

    it('takes over a lock whose pid now belongs to another process (different start time)', async () => {
      await withTempDir(async (dir) => {
        const file = await lockFile(dir);
        const stranger = liveChild();
        const { startTicks } = await untilState(stranger.pid);
        await writeFile(file, owner(stranger.pid, { startTicks: startTicks - 1 }));
        const started = Date.now();
        const lock = await acquireLock(file, 'book "b"');
        // Not the 3 s grace a live holder gets.
        expect(Date.now() - started).toBeLessThan(2_000);
        expect(lock.tookOverFrom).toBe(stranger.pid);
        await lock.release();
      });
    });

    it('takes over a lock from before a reboot, whatever its pid is now', async () => {
      await withTempDir(async (dir) => {
        const file = await lockFile(dir);
        const stranger = liveChild();
        const { startTicks } = await untilState(stranger.pid);
        await writeFile(file, owner(stranger.pid, { startTicks, bootId: '00000000-0000-0000-0000-000000000000' }));
        const lock = await acquireLock(file, 'book "b"');
        expect(lock.tookOverFrom).toBe(stranger.pid);
        await lock.release();
      });
    });

    it('reads the state after the last ")", whatever the command name holds', async () => {
      await withTempDir(async (dir) => {
        await mkdir(dir, { recursive: true });
        // The kernel names the process after the file it ran: a name with ") Z 1 (" inside.
        const oddName = path.join(dir, 'a) Z 1 (b');
        await symlink('/bin/sleep', oddName);
        const holder = liveChild(oddName, ['30']);
        const stat = await untilState(holder.pid);
        expect(stat.state).toMatch(/^[RS]$/);
        expect(await readFile(`/proc/${holder.pid}/stat`, 'utf8')).toContain('(a) Z 1 (b)');
        const file = await lockFile(dir);
        await writeFile(file, owner(holder.pid, { startTicks: stat.startTicks }));
        await expect(acquireLock(file, 'book "b"', { waitForExitMs: 0 })).rejects.toMatchObject({ name: 'LockedError', pid: holder.pid });
      });
    });
  });
});
