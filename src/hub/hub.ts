// The in-process WebSocket hub the extension connects to (ARCHITECTURE §3): loopback only, a secret path,
// a per-run token, an Origin check, one extension at a time, id-correlated requests, and every
// pending request rejected the moment the socket closes so nothing waits forever.
// Any local process that reads the port can connect, so nothing a client sends may throw: every
// socket has an `error` listener before anything else, close reasons are fixed words (never the
// client's input), and sockets that have not said hello are few and short-lived (§3, "Bounds").
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, STATUS_CODES, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type ServerOptions, type WebSocket } from 'ws';
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
import { safeLine } from '../protocol/text.js';

/** Sockets open but not yet past hello; a new one beyond this is cut at once. */
export const MAX_WAITING = 16;
/** TCP connections the hub's HTTP server holds at all (upgraded or not); Node closes any beyond it on accept. */
export const MAX_CONNECTIONS = 64;
/** A refused peer that does not answer the close frame is cut off after this. */
const CLOSE_GRACE_MS = 2000;
/** An HTTP request (a non-upgrade or a half-sent upgrade) must be complete within this. */
const REQUEST_TIMEOUT_MS = 5000;

/** Close reasons are fixed words: `ws` throws on a reason over 123 bytes, and the client's input has no place in them. */
export const CLOSE_REASONS: Record<(typeof CLOSE)[keyof typeof CLOSE], string> = {
  [CLOSE.badMessage]: 'the first message must be hello',
  [CLOSE.badToken]: 'wrong token',
  [CLOSE.badVersion]: `another protocol version than ${PROTOCOL_VERSION}: rebuild the extension (npm run build)`,
  [CLOSE.badOrigin]: 'the origin is not the Semantest extension',
  [CLOSE.helloTimeout]: 'no hello within the handshake deadline',
  [CLOSE.alreadyConnected]: 'another extension is already connected to this run',
  [CLOSE.shutdown]: 'the run is over',
};

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
  #http: Server;
  #server: WebSocketServer;
  #client: WebSocket | undefined;
  /** Sockets past the upgrade but not attached: waiting for hello, or refused and closing. */
  #unattached = new Set<WebSocket>();
  #pending = new Map<string, Pending>();
  #nextId = 1;
  #opts: HubOptions;

  private constructor(http: Server, server: WebSocketServer, path: string, opts: HubOptions) {
    super();
    this.path = path;
    this.#http = http;
    this.#server = server;
    this.#opts = opts;
    // After listening, a server error (e.g. EMFILE on accept) is logged; the hub keeps serving.
    const onServerError = (error: Error) => this.emit('log', 'warn', `hub server: ${safeLine(error.message, 200)}`);
    server.on('error', onServerError);
    http.on('error', onServerError);
    server.on('connection', (socket, request) => this.#accept(socket, request.headers.origin));
  }

  static async start(opts: HubOptions): Promise<Hub> {
    const path = `/ext/${randomBytes(16).toString('hex')}`;
    // Our own HTTP server, for its limits: ws's default one waits 60 s for headers and holds any number of connections.
    const http = createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1000 }, (_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close' }).end(STATUS_CODES[426]);
    });
    http.maxConnections = MAX_CONNECTIONS;
    // `closeTimeout` (in ws 8.23, which we use) is missing from @types/ws: without it a refused peer lingers 30 s.
    const options: ServerOptions & { closeTimeout: number } = { server: http, path, maxPayload: MAX_PAYLOAD_BYTES, closeTimeout: CLOSE_GRACE_MS };
    const server = new WebSocketServer(options);
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(0, '127.0.0.1', () => {
        http.off('error', reject);
        resolve();
      });
    });
    return new Hub(http, server, path, opts);
  }

  get port(): number {
    return (this.#http.address() as AddressInfo).port;
  }

  /** Open sockets: the attached extension and those not (yet) attached (the fuzz spec checks the bound). */
  get sockets(): { attached: number; unattached: number } {
    return { attached: this.#client ? 1 : 0, unattached: this.#unattached.size };
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
    this.#client?.close(CLOSE.shutdown, CLOSE_REASONS[CLOSE.shutdown]);
    this.#rejectAll('the hub is shutting down');
    for (const socket of this.#server.clients) socket.terminate();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #accept(socket: WebSocket, origin: string | undefined): void {
    // First, before anything can throw: an oversized frame, invalid UTF-8 or a bad close code is
    // an 'error' event, and one without a listener ends the process. ws closes the socket itself.
    socket.on('error', (error) => {
      const level = socket === this.#client ? 'warn' : 'debug';
      this.emit('log', level, `hub socket: ${safeLine(error.message, 200)}`);
    });
    if (this.#unattached.size >= MAX_WAITING) return socket.terminate();
    this.#unattached.add(socket);
    socket.once('close', () => this.#unattached.delete(socket));

    const expectedOrigin = `chrome-extension://${this.#opts.extensionId}`;
    if (origin !== expectedOrigin) return this.#refuse(socket, CLOSE.badOrigin);
    if (this.#client) return this.#refuse(socket, CLOSE.alreadyConnected);

    const helloTimer = setTimeout(() => this.#refuse(socket, CLOSE.helloTimeout), this.#opts.helloTimeoutMs ?? 5000);
    socket.once('close', () => clearTimeout(helloTimer));
    socket.once('message', (raw, isBinary) => {
      clearTimeout(helloTimer);
      if (socket.readyState !== socket.OPEN) return; // already refused (the deadline passed)
      const parsed = isBinary ? undefined : parse(raw);
      if (!parsed?.ok || parsed.message.type !== 'hello') return this.#refuse(socket, CLOSE.badMessage);
      const hello = parsed.message;
      if (hello.v !== PROTOCOL_VERSION) return this.#refuse(socket, CLOSE.badVersion);
      if (!sameSecret(hello.token, this.token)) return this.#refuse(socket, CLOSE.badToken);
      if (this.#client) return this.#refuse(socket, CLOSE.alreadyConnected);
      this.#unattached.delete(socket);
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
    socket.on('message', (raw, isBinary) => {
      lastSeen = Date.now();
      try {
        if (isBinary) this.#answerInvalid(socket, 'binary frames are not part of the protocol');
        else this.#handle(socket, raw);
      } catch (error) {
        // A listener's bug (progress, log) must not take the socket's read loop, and the run, down.
        this.emit('log', 'error', `the hub could not handle a message: ${safeLine((error as Error)?.message ?? String(error), 300)}`);
      }
    });
    socket.on('close', (code, reason) => {
      clearInterval(watchdog);
      if (this.#client !== socket) return;
      this.#client = undefined;
      const why = `extension disconnected (${code}${reason.length ? `: ${safeLine(reason.toString(), 123)}` : ''})`;
      this.#rejectAll(why);
      this.emit('disconnected', why);
    });
    this.emit('connected');
  }

  #answerInvalid(socket: WebSocket, error: string): void {
    this.emit('log', 'warn', `invalid message from the extension: ${safeLine(error)}`);
    socket.send(JSON.stringify({ type: 'invalid', message: error } satisfies RunnerMessage));
  }

  #handle(socket: WebSocket, raw: RawData): void {
    const parsed = parse(raw);
    if (!parsed.ok) return this.#answerInvalid(socket, parsed.error);
    const message = parsed.message;
    switch (message.type) {
      case 'heartbeat':
        socket.send(JSON.stringify({ type: 'heartbeat-ack', t: message.t } satisfies RunnerMessage));
        return;
      case 'progress':
        this.emit('progress', message);
        return;
      case 'log':
        this.emit('log', message.level, safeLine(message.message));
        return;
      case 'invalid': {
        const words = safeLine(message.message);
        this.emit('log', 'warn', `the extension rejected a message: ${words}`);
        if (message.id) this.#settle(message.id, (p) => p.reject(new DisconnectError(`the extension rejected the request: ${words}`)));
        return;
      }
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

  #refuse(socket: WebSocket, code: keyof typeof CLOSE_REASONS): void {
    const reason = CLOSE_REASONS[code];
    this.emit('refused', code, reason);
    socket.close(code, reason);
  }
}

function parse(raw: RawData): { ok: true; message: ExtensionMessage } | { ok: false; error: string } {
  let data: unknown;
  try {
    data = JSON.parse(textOf(raw));
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const result = ExtensionMessageSchema.safeParse(data);
  return result.success ? { ok: true, message: result.data } : { ok: false, error: describeIssues(result.error) };
}

/** A comparison whose time does not tell a guesser how much of the token it got right. */
function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function textOf(raw: RawData): string {
  if (Buffer.isBuffer(raw)) return raw.toString();
  return Array.isArray(raw) ? Buffer.concat(raw).toString() : Buffer.from(raw).toString();
}
