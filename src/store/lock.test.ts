import { spawn } from 'node:child_process';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LockedError } from '../protocol/errors.js';
import { acquireLock } from './lock.js';
import { withTempDir } from './test-support.js';

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
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
});
