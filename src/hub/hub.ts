// The in-process WebSocket hub the extension connects to (ARCHITECTURE §3): loopback only, a secret path,
// a per-run token, an Origin check, one extension at a time, id-correlated requests, and every
// pending request rejected the moment the socket closes so nothing waits forever.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { z } from 'zod';
import { DisconnectError, GenerationTimeoutError, deserializeError } from '../protocol/errors.js';
import {
  CLOSE,
  ExtensionMessageSchema,
  HEARTBEAT_MS,
  MAX_PAYLOAD_BYTES,
  PROTOCOL_VERSION,
  ReplySchemas,
  describeIssues,
  type ExtensionMessage,
  type RequestType,
  type RunnerMessage,
  type RunnerMessageSchema,
} from '../protocol/messages.js';
import type { ProviderDescriptor } from '../protocol/provider.js';

export interface HubOptions {
  /** The only extension allowed to connect (its Origin is `chrome-extension://<id>`). */
  readonly extensionId: string;
  readonly provider: ProviderDescriptor;
  /** Milliseconds a new socket has to say hello. @default 5000 */
  readonly helloTimeoutMs?: number;
}

export interface HubConfig {
  port: number;
  path: string;
  token: string;
}

type Pending = {
  type: RequestType;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
};

// The input shape: fields with a schema default may be left out by the caller.
type OutgoingRequest = Extract<z.input<typeof RunnerMessageSchema>, { type: RequestType }>;
type Payload<T extends RequestType> = Omit<Extract<OutgoingRequest, { type: T }>, 'id'>;

export interface HubEvents {
  connected: [];
  disconnected: [reason: string];
  refused: [code: number, reason: string];
  progress: [Extract<ExtensionMessage, { type: 'progress' }>];
  log: [level: string, message: string];
}

export class Hub extends EventEmitter<HubEvents> {
  readonly token = randomBytes(24).toString('base64url');
  readonly path: string;
  #server: WebSocketServer;
  #client: WebSocket | undefined;
  #pending = new Map<string, Pending>();
  #nextId = 1;
  #opts: HubOptions;

  private constructor(server: WebSocketServer, path: string, opts: HubOptions) {
    super();
    this.path = path;
    this.#server = server;
    this.#opts = opts;
    server.on('connection', (socket, request) => this.#accept(socket, request.headers.origin));
  }

  static async start(opts: HubOptions): Promise<Hub> {
    const path = `/ext/${randomBytes(16).toString('hex')}`;
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path, maxPayload: MAX_PAYLOAD_BYTES });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    return new Hub(server, path, opts);
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get connected(): boolean {
    return this.#client !== undefined;
  }

  config(): HubConfig {
    return { port: this.port, path: this.path, token: this.token };
  }

  /** Resolves when an extension has completed the handshake. */
  async waitForExtension(timeoutMs: number): Promise<void> {
    if (this.#client) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('connected', onConnected);
        reject(new DisconnectError(`the extension did not connect to the hub within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      const onConnected = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('connected', onConnected);
    });
  }

  /** Sends a request and resolves with its validated reply; rejects on failure, timeout or disconnect. */
  request<T extends RequestType>(payload: Payload<T> & { type: T }, timeoutMs: number): Promise<z.infer<(typeof ReplySchemas)[T]>> {
    const client = this.#client;
    if (!client) return Promise.reject(new DisconnectError('the extension is not connected'));
    const id = String(this.#nextId++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new GenerationTimeoutError(`no answer from the extension to ${payload.type} within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.#pending.set(id, { type: payload.type, resolve: resolve as (v: unknown) => void, reject, timer });
      client.send(JSON.stringify({ ...payload, id }));
    });
  }

  async close(): Promise<void> {
    this.#client?.close(CLOSE.shutdown, 'the run is over');
    this.#rejectAll('the hub is shutting down');
    for (const socket of this.#server.clients) socket.terminate();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: WebSocket, origin: string | undefined): void {
    const expectedOrigin = `chrome-extension://${this.#opts.extensionId}`;
    if (origin !== expectedOrigin) return this.#refuse(socket, CLOSE.badOrigin, `origin ${origin ?? '(none)'} is not the Semantest extension`);
    if (this.#client) return this.#refuse(socket, CLOSE.alreadyConnected, 'another extension is already connected to this run');

    const helloTimer = setTimeout(
      () => this.#refuse(socket, CLOSE.helloTimeout, 'no hello within the handshake deadline'),
      this.#opts.helloTimeoutMs ?? 5000,
    );
    socket.once('message', (raw) => {
      clearTimeout(helloTimer);
      const parsed = parse(raw.toString());
      if (!parsed.ok || parsed.message.type !== 'hello') return this.#refuse(socket, CLOSE.badMessage, 'the first message must be hello');
      const hello = parsed.message;
      if (hello.v !== PROTOCOL_VERSION) return this.#refuse(socket, CLOSE.badVersion, `protocol version ${hello.v} is not ${PROTOCOL_VERSION}: rebuild the extension (npm run build)`);
      if (hello.token !== this.token) return this.#refuse(socket, CLOSE.badToken, 'wrong token');
      if (this.#client) return this.#refuse(socket, CLOSE.alreadyConnected, 'another extension is already connected to this run');
      this.#attach(socket);
    });
  }

  #attach(socket: WebSocket): void {
    this.#client = socket;
    socket.send(JSON.stringify({ type: 'welcome', v: PROTOCOL_VERSION, provider: this.#opts.provider } satisfies RunnerMessage));
    // The extension sends an app heartbeat every HEARTBEAT_MS; two missed means the worker is gone.
    let lastSeen = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - lastSeen > HEARTBEAT_MS * 2.5) socket.terminate();
    }, HEARTBEAT_MS);
    watchdog.unref();
    socket.on('message', (raw) => {
      lastSeen = Date.now();
      this.#handle(socket, raw.toString());
    });
    socket.on('close', (code, reason) => {
      clearInterval(watchdog);
      if (this.#client !== socket) return;
      this.#client = undefined;
      const why = `extension disconnected (${code}${reason.length ? `: ${reason}` : ''})`;
      this.#rejectAll(why);
      this.emit('disconnected', why);
    });
    this.emit('connected');
  }

  #handle(socket: WebSocket, text: string): void {
    const parsed = parse(text);
    if (!parsed.ok) {
      this.emit('log', 'warn', `invalid message from the extension: ${parsed.error}`);
      socket.send(JSON.stringify({ type: 'invalid', message: parsed.error } satisfies RunnerMessage));
      return;
    }
    const message = parsed.message;
    switch (message.type) {
      case 'heartbeat':
        socket.send(JSON.stringify({ type: 'heartbeat-ack', t: message.t } satisfies RunnerMessage));
        return;
      case 'progress':
        this.emit('progress', message);
        return;
      case 'log':
        this.emit('log', message.level, message.message);
        return;
      case 'invalid':
        this.emit('log', 'warn', `the extension rejected a message: ${message.message}`);
        if (message.id) this.#settle(message.id, (p) => p.reject(new DisconnectError(`the extension rejected the request: ${message.message}`)));
        return;
      case 'hello':
        return;
      case 'reply':
        this.#settle(message.id, (p) => {
          const result = ReplySchemas[p.type].safeParse(message.data);
          if (result.success) p.resolve(result.data);
          else p.reject(new DisconnectError(`invalid ${p.type} reply: ${describeIssues(result.error)}`));
        });
        return;
      case 'fail':
        this.#settle(message.id, (p) => p.reject(deserializeError(message.error)));
        return;
    }
  }

  #settle(id: string, action: (pending: Pending) => void): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    action(pending);
  }

  #rejectAll(why: string): void {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new DisconnectError(why));
      this.#pending.delete(id);
    }
  }

  #refuse(socket: WebSocket, code: number, reason: string): void {
    this.emit('refused', code, reason);
    socket.close(code, reason);
  }
}

function parse(text: string): { ok: true; message: ExtensionMessage } | { ok: false; error: string } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const result = ExtensionMessageSchema.safeParse(data);
  return result.success ? { ok: true, message: result.data } : { ok: false, error: describeIssues(result.error) };
}
