import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from './redis.js';

const started: RedisServer[] = [];
const clients: Redis[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  for (const s of started.splice(0)) await s.stop();
});

function client(server: RedisServer): Redis {
  // No retries: a test against a dead server should fail now, not hang reconnecting.
  const c = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  clients.push(c);
  return c;
}

describe('startRedis', () => {
  it('keeps a SET across a SIGKILL and restart (AOF, fsync always), and stop() removes its dir', async () => {
    const server = await startRedis();
    started.push(server);
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(server.pid).toBeGreaterThan(0);
    expect(existsSync(server.dir)).toBe(true);

    const before = client(server);
    await before.connect();
    expect(await before.set('fleet:test', 'survives')).toBe('OK');
    expect(await before.config('GET', 'bind')).toEqual(['bind', '127.0.0.1']);
    before.disconnect();

    const oldPid = server.pid;
    await server.kill();
    expect(server.pid).toBeUndefined();

    await server.restart();
    expect(server.pid).toBeGreaterThan(0);
    expect(server.pid).not.toBe(oldPid);
    const after = client(server);
    await after.connect();
    expect(await after.get('fleet:test')).toBe('survives');
    after.disconnect();

    started.splice(started.indexOf(server), 1);
    await server.stop();
    expect(server.pid).toBeUndefined();
    expect(existsSync(server.dir)).toBe(false);
  });

  it('gives two servers at once their own ports and dirs', async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()]);
    started.push(a, b);
    expect(a.port).not.toBe(b.port);
    expect(a.dir).not.toBe(b.dir);

    const ca = client(a);
    const cb = client(b);
    await Promise.all([ca.connect(), cb.connect()]);
    await ca.set('who', 'a');
    await cb.set('who', 'b');
    expect(await ca.get('who')).toBe('a');
    expect(await cb.get('who')).toBe('b');
  });
});
