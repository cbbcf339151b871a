import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CLOSE_REASONS, Hub } from './hub.js';
import { CLOSE, PROTOCOL_VERSION } from '../protocol/messages.js';
import { DisconnectError, PolicyError, QuotaError } from '../protocol/errors.js';
import { loadProvider } from '../providers/index.js';

const EXTENSION_ID = 'kcaacednoldnljoncgamkckgonidcnim';
const ORIGIN = `chrome-extension://${EXTENSION_ID}`;

function closeOf(socket: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

function open(hub: Hub, opts: { origin?: string; path?: string } = {}): WebSocket {
  return new WebSocket(`ws://127.0.0.1:${hub.port}${opts.path ?? hub.path}`, { origin: opts.origin ?? ORIGIN });
}

async function handshake(hub: Hub): Promise<WebSocket> {
  const socket = open(hub);
  await new Promise((resolve) => socket.once('open', resolve));
  const welcome = new Promise((resolve) => socket.once('message', resolve));
  socket.send(JSON.stringify({ type: 'hello', v: PROTOCOL_VERSION, token: hub.token, extensionId: EXTENSION_ID }));
  await welcome;
  return socket;
}

describe('hub', () => {
  let hub: Hub;
  beforeEach(async () => {
    hub = await Hub.start({ extensionId: EXTENSION_ID, provider: loadProvider('chatgpt'), helloTimeoutMs: 500 });
  });
  afterEach(async () => hub.close());

  it('listens on loopback only, on a secret path', () => {
    expect(hub.path).toMatch(/^\/ext\/[0-9a-f]{32}$/);
    expect(hub.config()).toEqual({ port: hub.port, path: hub.path, token: hub.token });
  });

  it('refuses a client with the wrong token, saying why', async () => {
    const socket = open(hub);
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ type: 'hello', v: PROTOCOL_VERSION, token: 'guess', extensionId: EXTENSION_ID }));
    expect(await closeOf(socket)).toEqual({ code: CLOSE.badToken, reason: 'wrong token' });
    expect(hub.connected).toBe(false);
  });

  it('refuses a web page origin even with the right token', async () => {
    const socket = open(hub, { origin: 'https://evil.example' });
    const closed = closeOf(socket);
    socket.once('open', () => socket.send(JSON.stringify({ type: 'hello', v: PROTOCOL_VERSION, token: hub.token, extensionId: EXTENSION_ID })));
    const { code, reason } = await closed;
    expect(code).toBe(CLOSE.badOrigin);
    // Fixed words: the client's Origin is never echoed (a long one made ws throw past 123 bytes).
    expect(reason).toBe('the origin is not the Semantest extension');
    expect(hub.connected).toBe(false);
  });

  it('has a fixed close reason of at most 123 bytes for every refusal code', () => {
    for (const code of Object.values(CLOSE)) {
      expect(CLOSE_REASONS[code], `close code ${code}`).toBeTruthy();
      expect(Buffer.byteLength(CLOSE_REASONS[code])).toBeLessThanOrEqual(123);
    }
  });

  it('refuses another protocol version and a client that never says hello', async () => {
    const old = open(hub);
    await new Promise((resolve) => old.once('open', resolve));
    old.send(JSON.stringify({ type: 'hello', v: PROTOCOL_VERSION + 1, token: hub.token, extensionId: EXTENSION_ID }));
    expect((await closeOf(old)).code).toBe(CLOSE.badVersion);
    const silent = open(hub);
    expect((await closeOf(silent)).code).toBe(CLOSE.helloTimeout);
  });

  it('rejects the wrong path at the HTTP upgrade', async () => {
    const socket = open(hub, { path: '/ext/0000' });
    const error = await new Promise<Error>((resolve) => socket.once('error', resolve));
    expect(error.message).toMatch(/400/);
  });

  it('accepts one extension and refuses a second', async () => {
    const first = await handshake(hub);
    expect(hub.connected).toBe(true);
    const second = open(hub);
    expect((await closeOf(second)).code).toBe(CLOSE.alreadyConnected);
    first.close();
  });

  it('correlates replies by id and rebuilds typed failures as the same classes', async () => {
    const ext = await handshake(hub);
    ext.on('message', (raw) => {
      const message = JSON.parse(raw.toString());
      if (message.type === 'open-tab') ext.send(JSON.stringify({ type: 'reply', id: message.id, data: { tabId: 7 } }));
      if (message.type === 'generate' && message.jobId === 'policy') ext.send(JSON.stringify({ type: 'fail', id: message.id, error: { name: 'PolicyError', message: 'content policy', kind: 'policy' } }));
      if (message.type === 'generate' && message.jobId === 'quota') ext.send(JSON.stringify({ type: 'fail', id: message.id, error: { name: 'QuotaError', message: 'limit', kind: 'quota', resetInMs: 60000 } }));
    });
    await expect(hub.request({ type: 'open-tab', url: 'http://127.0.0.1:1/' }, 2000)).resolves.toEqual({ tabId: 7 });
    const policy = hub.request({ type: 'generate', tabId: 7, jobId: 'policy', prompt: 'x', timeoutMs: 1000, sendGapMs: 0, excludeFileIds: [] }, 2000);
    await expect(policy).rejects.toBeInstanceOf(PolicyError);
    const quota = await hub.request({ type: 'generate', tabId: 7, jobId: 'quota', prompt: 'x', timeoutMs: 1000, sendGapMs: 0, excludeFileIds: [] }, 2000).catch((e) => e);
    expect(quota).toBeInstanceOf(QuotaError);
    expect(quota.resetInMs).toBe(60000);
    ext.close();
  });

  it('rejects every pending request at once when the extension goes away', async () => {
    const ext = await handshake(hub);
    const pending = [1, 2, 3].map((n) => hub.request({ type: 'generate', tabId: n, jobId: `j${n}`, prompt: 'p', timeoutMs: 60_000, sendGapMs: 0, excludeFileIds: [] }, 60_000));
    const started = Date.now();
    ext.terminate();
    for (const request of pending) await expect(request).rejects.toBeInstanceOf(DisconnectError);
    // Not after their 60 s deadline (the bound leaves room for a busy machine).
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('answers an invalid message with an error naming the field, and does not act on it', async () => {
    const ext = await handshake(hub);
    const answer = new Promise<string>((resolve) => ext.once('message', (raw) => resolve(raw.toString())));
    ext.send(JSON.stringify({ type: 'progress', tabId: 'one', jobId: 'x', phase: 'sent' }));
    const reply = JSON.parse(await answer);
    expect(reply.type).toBe('invalid');
    expect(reply.message).toContain('tabId');
    ext.close();
  });

  it('answers a binary frame with invalid, and refuses one as the first message', async () => {
    const ext = await handshake(hub);
    const answer = new Promise<string>((resolve) => ext.once('message', (raw) => resolve(raw.toString())));
    ext.send(Buffer.from(JSON.stringify({ type: 'heartbeat', t: 1 })), { binary: true });
    expect(JSON.parse(await answer)).toEqual({ type: 'invalid', message: 'binary frames are not part of the protocol' });
    const gone = new Promise((resolve) => hub.once('disconnected', resolve));
    ext.close();
    await gone;
    const early = open(hub);
    await new Promise((resolve) => early.once('open', resolve));
    early.send(Buffer.from(JSON.stringify({ type: 'hello', v: PROTOCOL_VERSION, token: hub.token, extensionId: EXTENSION_ID })), { binary: true });
    expect(await closeOf(early)).toEqual({ code: CLOSE.badMessage, reason: CLOSE_REASONS[CLOSE.badMessage] });
  });
});
