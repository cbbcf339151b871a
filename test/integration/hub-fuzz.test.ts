// Any local process that reads the hub's port (and, from the profile's config.json, maybe its token)
// can send it anything. The real Hub and real sockets: whatever arrives, no error reaches the
// process, the hub keeps serving, and a legitimate extension still gets its replies (ARCHITECTURE §3, "Bounds").
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CLOSE_REASONS, Hub, MAX_CONNECTIONS, MAX_WAITING } from '../../src/hub/hub.js';
import { DisconnectError, PolicyError } from '../../src/protocol/errors.js';
import { CLOSE, MAX_PAYLOAD_BYTES, PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { loadProvider } from '../../src/providers/index.js';

const EXTENSION_ID = 'kcaacednoldnljoncgamkckgonidcnim';
const ORIGIN = `chrome-extension://${EXTENSION_ID}`;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

// Every error that escapes to the process is a crash of the runner: collected, and none allowed.
const escaped: unknown[] = [];
const onEscape = (error: unknown) => escaped.push(error);
beforeAll(() => {
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
});
afterAll(() => {
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
});

async function startHub(helloTimeoutMs: number): Promise<{ hub: Hub; logs: string[] }> {
  const hub = await Hub.start({ extensionId: EXTENSION_ID, provider: loadProvider('chatgpt', 'http://127.0.0.1:9/'), helloTimeoutMs });
  const logs: string[] = [];
  hub.on('log', (_level, message) => logs.push(message));
  return { hub, logs };
}

/** A real extension stand-in: says hello, answers open-tab with tab 7, or fails it as `http://fail/<name>` asks. */
async function extension(hub: Hub): Promise<WebSocket> {
  const socket = new WebSocket(`ws://127.0.0.1:${hub.port}${hub.path}`, { origin: ORIGIN });
  socket.on('error', () => undefined); // the hub may cut it mid-send (an oversized frame); the close says so
  await new Promise((resolve) => socket.once('open', resolve));
  const welcome = new Promise((resolve) => socket.once('message', resolve));
  socket.send(JSON.stringify({ type: 'hello', v: PROTOCOL_VERSION, token: hub.token, extensionId: EXTENSION_ID }));
  await welcome;
  socket.on('message', (raw) => {
    const message = JSON.parse(raw.toString());
    if (message.type !== 'open-tab') return;
    const failName = /^http:\/\/fail\/(.*)$/.exec(message.url)?.[1];
    if (failName === undefined) return socket.send(JSON.stringify({ type: 'reply', id: message.id, data: { tabId: 7 } }));
    const error = { name: decodeURIComponent(failName), message: '\u001b]0;owned\u0007refused by policy', kind: 'policy' };
    socket.send(JSON.stringify({ type: 'fail', id: message.id, error }));
  });
  return socket;
}

const roundTrip = (hub: Hub) => hub.request({ type: 'open-tab', url: 'http://127.0.0.1:9/' }, 3000);

/** Resolves once the hub has handled everything this client sent before (messages are handled in order). */
async function barrier(socket: WebSocket): Promise<void> {
  const t = Math.random();
  const acked = new Promise<void>((resolve) => {
    const onMessage = (raw: WebSocket.RawData) => {
      const message = JSON.parse(raw.toString());
      if (message.type === 'heartbeat-ack' && message.t === t) {
        socket.off('message', onMessage);
        resolve();
      }
    };
    socket.on('message', onMessage);
  });
  socket.send(JSON.stringify({ type: 'heartbeat', t }));
  await acked;
}

function closed(socket: WebSocket): Promise<{ code: number; reason: string }> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve({ code: 0, reason: '' });
  return new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** A TCP socket upgraded by hand, for bytes no WebSocket client would send; `next()` reads what the hub sends after the 101. */
class RawClient {
  readonly socket: net.Socket;
  #received = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.#received = Buffer.concat([this.#received, chunk]);
      this.#wake?.();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#wake?.();
    });
  }

  static async upgrade(hub: Hub, origin = ORIGIN): Promise<RawClient> {
    const client = new RawClient(net.connect(hub.port, '127.0.0.1'));
    const key = randomBytes(16).toString('base64');
    client.socket.write([`GET ${hub.path} HTTP/1.1`, `Host: 127.0.0.1:${hub.port}`, 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13', `Origin: ${origin}`, '', ''].join('\r\n'));
    const head = (await client.#until((b) => (b.includes('\r\n\r\n') ? b.indexOf('\r\n\r\n') + 4 : undefined)))?.toString('latin1') ?? '';
    if (!head.startsWith('HTTP/1.1 101')) throw new Error(head.split('\r\n')[0]);
    return client;
  }

  /** The next whole frame the hub sends ({opcode, payload}), or null when the connection ends first. */
  async nextFrame(): Promise<{ opcode: number; payload: Buffer } | null> {
    const bytes = await this.#until((b) => {
      if (b.length < 2) return undefined;
      const short = b[1] & 0x7f; // server frames are not masked
      const [start, length] = short === 126 ? [4, b.length >= 4 ? b.readUInt16BE(2) : Infinity] : short === 127 ? [10, b.length >= 10 ? Number(b.readBigUInt64BE(2)) : Infinity] : [2, short];
      return b.length >= start + length ? start + length : undefined;
    });
    if (!bytes) return null;
    const short = bytes[1] & 0x7f;
    return { opcode: bytes[0] & 0x0f, payload: bytes.subarray(short === 126 ? 4 : short === 127 ? 10 : 2) };
  }

  async #until(take: (received: Buffer) => number | undefined): Promise<Buffer> {
    for (;;) {
      const n = take(this.#received);
      if (n !== undefined) {
        const out = this.#received.subarray(0, n);
        this.#received = this.#received.subarray(n);
        return out;
      }
      if (this.#ended) return null as unknown as Buffer;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

/** A client frame (masked, as RFC 6455 requires of clients). */
function frame(opcode: number, payload: Buffer, opts: { fin?: boolean; rsv?: number } = {}): Buffer {
  const first = ((opts.fin ?? true) ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | (opcode & 0x0f);
  const n = payload.length;
  const length = n < 126 ? Buffer.from([0x80 | n]) : n < 65536 ? Buffer.from([0x80 | 126, n >> 8, n & 0xff]) : Buffer.concat([Buffer.from([0x80 | 127]), bigEndian64(n)]);
  const mask = randomBytes(4);
  return Buffer.concat([Buffer.from([first]), length, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))]);
}
function bigEndian64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** Writes bytes and waits for the hub's answer to them (a frame, or the end of the connection), then hangs up. */
async function sendRaw(client: RawClient, bytes: Buffer): Promise<void> {
  client.socket.write(bytes);
  await client.nextFrame();
  client.socket.destroy();
}

/** Waits for a state the hub reaches on its own side of a socket (it emits no event for it); fails after 5 s. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not reached within 5 s: ${condition}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc');
})();
function heapMiB(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

describe('the hub, before hello (anyone who reads the port)', () => {
  let hub: Hub;
  let logs: string[];
  beforeEach(async () => ({ hub, logs } = await startHub(300)));
  afterEach(async () => {
    // Then the extension connects and gets its replies, and nothing escaped.
    const legit = await extension(hub);
    await expect(roundTrip(hub)).resolves.toEqual({ tabId: 7 });
    legit.close();
    await hub.close();
    expect(escaped).toEqual([]);
    for (const line of logs) expect(line).not.toMatch(CONTROL);
  });

  it('closes a socket that sends an oversized frame, invalid UTF-8, a binary frame, a bad close code or a reserved opcode', async () => {
    const attacks: Array<[string, Buffer, number]> = [
      ['oversized', frame(0x1, Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x61)), 1009],
      ['invalid UTF-8', frame(0x1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), 1007],
      ['binary', frame(0x2, Buffer.from('{"type":"hello"}')), CLOSE.badMessage],
      ['close code 1004', frame(0x8, Buffer.from([0x03, 0xec])), 1002],
      ['reserved opcode', frame(0x3, Buffer.from('x')), 1002],
      ['RSV bits', frame(0x1, Buffer.from('{}'), { rsv: 4 }), 1002],
      ['not JSON', frame(0x1, Buffer.from('hello?')), CLOSE.badMessage],
    ];
    for (const [name, bytes, code] of attacks) {
      const client = await RawClient.upgrade(hub);
      client.socket.write(bytes);
      const closeFrame = await client.nextFrame();
      // The hub's close frame, the code in the first two payload bytes.
      expect([name, closeFrame?.opcode, closeFrame?.payload.readUInt16BE(0)]).toEqual([name, 0x8, code]);
      client.socket.destroy();
    }
    expect(hub.sockets.unattached).toBeLessThanOrEqual(attacks.length);
  });

  it('refuses an Origin of any length with fixed words, never echoing it', async () => {
    for (const origin of [`chrome-extension://${'a'.repeat(200)}`, `https://${'é'.repeat(3000)}.example`, '']) {
      const socket = new WebSocket(`ws://127.0.0.1:${hub.port}${hub.path}`, origin ? { origin } : {});
      expect(await closed(socket)).toEqual({ code: CLOSE.badOrigin, reason: CLOSE_REASONS[CLOSE.badOrigin] });
    }
  });

  it('survives random bytes and random frames after the upgrade', async () => {
    const randomFrame = fc
      .record({ opcode: fc.integer({ min: 0, max: 15 }), payload: fc.uint8Array({ maxLength: 300 }), fin: fc.boolean(), rsv: fc.integer({ min: 0, max: 7 }) })
      .map(({ opcode, payload, fin, rsv }) => frame(opcode, Buffer.from(payload), { fin, rsv }));
    const bytes = fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)), randomFrame, fc.array(randomFrame, { minLength: 2, maxLength: 5 }).map((f) => Buffer.concat(f)));
    await fc.assert(
      fc.asyncProperty(bytes, async (b) => sendRaw(await RawClient.upgrade(hub), b)),
      { numRuns: 60 },
    );
  });

  /** 500 sockets with the extension's Origin that never say hello; resolves with their close codes. */
  function flood(onOpen: () => void): Array<Promise<number>> {
    return Array.from({ length: 500 }, () => {
      const socket = new WebSocket(`ws://127.0.0.1:${hub.port}${hub.path}`, { origin: ORIGIN });
      socket.on('error', () => undefined);
      socket.on('open', onOpen);
      return closed(socket).then((c) => c.code);
    });
  }

  it(`keeps at most ${MAX_WAITING} sockets waiting for hello through floods of 500, its memory flat, the extension served`, async () => {
    const before = heapMiB();
    let mostWaiting = 0;
    // Before the extension is there: sockets beyond the cap are cut at once (1006), the others at the hello deadline.
    const early = await Promise.all(flood(() => (mostWaiting = Math.max(mostWaiting, hub.sockets.unattached))));
    expect(mostWaiting).toBe(MAX_WAITING);
    expect([...new Set(early)].sort()).toEqual([1006, CLOSE.helloTimeout]);
    await until(() => hub.sockets.unattached === 0);
    // With the extension there: its requests are answered while 500 more come and are refused.
    const legit = await extension(hub);
    const late = flood(() => (mostWaiting = Math.max(mostWaiting, hub.sockets.unattached)));
    await expect(Promise.all([1, 2, 3].map(() => roundTrip(hub)))).resolves.toEqual([{ tabId: 7 }, { tabId: 7 }, { tabId: 7 }]);
    expect((await Promise.all(late)).filter((code) => code !== 1006 && code !== CLOSE.alreadyConnected)).toEqual([]);
    expect(mostWaiting).toBe(MAX_WAITING);
    await until(() => hub.sockets.unattached === 0);
    expect(hub.sockets).toEqual({ attached: 1, unattached: 0 });
    legit.close();
    await new Promise((resolve) => hub.once('disconnected', resolve));
    const after = heapMiB();
    console.log(`hub floods: 2 × 500 sockets, at most ${mostWaiting} waiting; heap after GC ${before.toFixed(1)} → ${after.toFixed(1)} MiB`);
    expect(after - before).toBeLessThan(10);
  });

  it(`holds at most ${MAX_CONNECTIONS} TCP connections, closing idle ones beyond it at once`, async () => {
    const legit = await extension(hub);
    const sockets = Array.from({ length: 150 }, () => {
      const socket = net.connect(hub.port, '127.0.0.1');
      socket.on('error', () => undefined);
      return socket;
    });
    await Promise.all(sockets.map((s) => new Promise((resolve) => s.once('connect', resolve))));
    // The extension's connection is one of the hub's; idle ones beyond the cap are closed on accept.
    await expect(roundTrip(hub)).resolves.toEqual({ tabId: 7 });
    const open = () => sockets.filter((s) => !s.closed).length;
    await until(() => open() <= MAX_CONNECTIONS - 1);
    expect(open()).toBe(MAX_CONNECTIONS - 1);
    for (const s of sockets) s.destroy();
    legit.close();
    await new Promise((resolve) => hub.once('disconnected', resolve));
  });
});

describe('the hub, after hello (a client that has the token)', () => {
  let hub: Hub;
  let logs: string[];
  beforeAll(async () => ({ hub, logs } = await startHub(300)));
  afterAll(async () => {
    await hub.close();
    expect(escaped).toEqual([]);
  });

  /** After whatever the attacker did, a fresh extension connects and gets its replies. */
  async function stillServes(attacker: WebSocket): Promise<void> {
    if (attacker.readyState !== WebSocket.CLOSED) {
      attacker.terminate();
      await closed(attacker);
    }
    await new Promise<void>((resolve) => (hub.connected ? hub.once('disconnected', () => resolve()) : resolve()));
    const next = await extension(hub);
    await expect(roundTrip(hub)).resolves.toEqual({ tabId: 7 });
    next.close();
    await closed(next);
  }

  it('takes random and mutated messages without throwing or closing, and keeps serving the extension', async () => {
    const ext = await extension(hub);
    const templates = [
      { type: 'reply', id: '999999', data: { tabId: 1 } },
      { type: 'fail', id: '999999', error: { name: 'PolicyError', message: 'm', kind: 'policy' } },
      { type: 'progress', tabId: 1, jobId: 'ch1/s1/p1', phase: 'sent', conversationUrl: 'http://127.0.0.1:9/c/1' },
      { type: 'log', level: 'warn', message: 'm' },
      { type: 'invalid', id: '999999', message: 'm' },
      { type: 'hello', v: 1, token: 'x', extensionId: 'y' },
      { type: 'heartbeat', t: 1 },
    ];
    const nasty = fc.oneof(
      fc.jsonValue(),
      fc.constantFrom('toString', '__proto__', 'constructor', 'hasOwnProperty', '\u001b[2K\u001b]0;title\u0007', 'x'.repeat(200_000)),
      fc.string({ unit: 'binary', maxLength: 5000 }),
      fc.double(),
    );
    const mutated = fc.record({ template: fc.constantFrom(...templates), key: fc.constantFrom('type', 'id', 'data', 'error', 'message', 'tabId', 'phase', 'level', 'conversationUrl', '__proto__', 'constructor'), value: nasty, errorKey: fc.constantFrom('name', 'message', 'kind', 'resetInMs', '__proto__') })
      .map(({ template, key, value, errorKey }) => {
        const message: Record<string, unknown> = { ...template, [key]: value };
        if (template.type === 'fail' && key !== 'error') message.error = { ...template.error, [errorKey]: value };
        return JSON.stringify(message);
      });
    const text = fc.oneof(mutated, fc.jsonValue().map((v) => JSON.stringify(v)), fc.string({ unit: 'binary', maxLength: 2000 }));
    await fc.assert(
      fc.asyncProperty(text, async (t) => {
        ext.send(t);
        await barrier(ext);
      }),
      { numRuns: 400 },
    );
    // Deeply nested JSON and a binary frame: answered, not thrown.
    ext.send(`{"type":"reply","id":"999999","data":${'['.repeat(400_000)}${']'.repeat(400_000)}}`);
    ext.send(Buffer.from('{"type":"heartbeat","t":1}'), { binary: true });
    await barrier(ext);
    expect(hub.connected).toBe(true);
    await expect(roundTrip(hub)).resolves.toEqual({ tabId: 7 });
    for (const line of logs) expect(line).not.toMatch(CONTROL);
    for (const line of logs) expect(line.length).toBeLessThan(4200);
    await stillServes(ext);
  });

  it('rebuilds a failure named toString, __proto__ or constructor as the kind\'s class, its message cleaned', async () => {
    const ext = await extension(hub);
    for (const name of ['toString', '__proto__', 'constructor', 'hasOwnProperty']) {
      const error = await hub.request({ type: 'open-tab', url: `http://fail/${encodeURIComponent(name)}` }, 3000).catch((e) => e);
      expect(error, name).toBeInstanceOf(PolicyError);
      expect(error.message).toBe(']0;ownedrefused by policy');
    }
    expect(hub.connected).toBe(true);
    await stillServes(ext);
  });

  it('drops a client that sends an oversized frame or invalid UTF-8, and the next extension is served', async () => {
    for (const [bytes, code] of [[Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x20), 1009], [Buffer.from([0x22, 0xc3, 0x28, 0x22]), 1007]] as const) {
      const ext = await extension(hub);
      // The request in flight fails at once as a disconnect, not after its deadline.
      const pending = expect(roundTripThatNeverAnswers(hub)).rejects.toThrow(/extension disconnected/);
      const end = closed(ext);
      ext.send(bytes, { binary: false });
      expect((await end).code).toBe(code);
      await pending;
      await stillServes(ext);
    }
    expect(logs.some((l) => /Max payload size exceeded/i.test(l))).toBe(true);
  });

  it('fails a request whose reply is the wrong shape, naming the field', async () => {
    const ext = await extension(hub);
    ext.removeAllListeners('message');
    ext.on('message', (raw) => {
      const message = JSON.parse(raw.toString());
      if (message.type === 'open-tab') ext.send(JSON.stringify({ type: 'reply', id: message.id, data: { tabId: 'x'.repeat(100_000) } }));
    });
    const error = await roundTrip(hub).catch((e) => e);
    expect(error).toBeInstanceOf(DisconnectError);
    expect(error.message).toMatch(/^invalid open-tab reply: tabId: /);
    expect(error.message.length).toBeLessThan(2100);
    await stillServes(ext);
  });
});

/** A request the stand-in extension never answers (it answers open-tab only): pending until the socket closes. */
function roundTripThatNeverAnswers(hub: Hub): Promise<unknown> {
  return hub.request({ type: 'probe', tabId: 1 }, 30_000);
}
