// What both dashboards share (the run's, server.ts, and the fleet's, fleet-server.ts): the server
// on 127.0.0.1 at a path carrying a fresh token, its defences (ARCHITECTURE §12: only its own Host
// names, commands JSON from its own Origin, capped event streams, bounded bodies, files only from
// inside a folder, fixed error texts that never repeat the request), the page, /state, the
// server-sent /events with a heartbeat, and the close. Each dashboard adds its own routes.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openInside } from '../inside.js';
import { dashboardPage } from './page.js';

export interface Dashboard {
  /** The address to open, token included. */
  readonly url: string;
  close(): Promise<void>;
}

/** A dashboard's own part: what /state returns, and every route after the page, /state and /events. */
export interface ShellOptions {
  /** The book's slug, the page's title. */
  readonly title: string;
  readonly state: () => unknown | Promise<unknown>;
  /** `route` is `<METHOD> <path after the token>`, e.g. `GET /thumb/ch1%2Fs1%2Fp1`; unanswered routes are 404. */
  readonly route: (req: http.IncomingMessage, res: http.ServerResponse, route: string) => Promise<void | 'unanswered'>;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** How many event streams may be open at once; more get 503. @default MAX_STREAMS */
  readonly maxStreams?: number;
  /** Runs first when the dashboard closes (its listeners and timers). */
  readonly onClose?: () => void;
}

export interface Shell extends Dashboard {
  /** Sends a server-sent event to every open page. */
  broadcast(type: string, data: unknown): void;
  /** How many pages have an event stream open. */
  readonly streams: () => number;
}

export async function startShell(opts: ShellOptions): Promise<Shell> {
  const token = randomBytes(24).toString('base64url');
  const base = `/${token}/`;
  const clients = new Set<http.ServerResponse>();
  const maxStreams = opts.maxStreams ?? MAX_STREAMS;
  /** The Host values this server answers to, set once it listens: its own address, nothing else. */
  let hosts = new Set<string>();

  function broadcast(type: string, data: unknown): void {
    const frame = `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const client of clients) client.write(frame);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (error instanceof Refusal) return refuse(req, res, error);
      // URIError: a bad %-escape in the path. Its message quotes the request, so it is not repeated.
      if (error instanceof URIError) return send(res, 400, TEXT, 'bad request');
      send(res, 500, TEXT, 'internal error');
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    checkHost(req, hosts);
    const url = new URL(req.url ?? '/', 'http://dashboard');
    // Without the token nothing is served, not even a hint that something is here.
    if (!hasToken(url.pathname, base)) return send(res, 404, TEXT, 'not found');
    const route = `${req.method} ${url.pathname.slice(base.length - 1)}`;
    if (route === 'GET /') return send(res, 200, 'text/html; charset=utf-8', dashboardPage(opts.title));
    if (route === 'GET /state') return send(res, 200, 'application/json', JSON.stringify(await opts.state()));
    if (route === 'GET /events') {
      if (clients.size >= maxStreams) return send(res, 503, TEXT, 'too many dashboards open: close one and reload');
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`event: hello\ndata: {}\n\n`);
      clients.add(res);
      req.on('close', () => clients.delete(res));
      return;
    }
    if ((await opts.route(req, res, route)) === 'unanswered') send(res, 404, TEXT, 'not found');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const heartbeat = setInterval(() => broadcast('ping', {}), 15_000);
  heartbeat.unref();
  return {
    url: `http://127.0.0.1:${port}${base}`,
    broadcast,
    streams: () => clients.size,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(heartbeat);
        opts.onClose?.();
        for (const client of clients) client.end();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const MAX_BODY = 16 * 1024;
/** Enough for a few tabs on the dashboard; a page that opens hundreds is refused, not served. */
export const MAX_STREAMS = 16;
export const TEXT = 'text/plain; charset=utf-8';

/** A refusal whose status and fixed text are all the client hears; nothing of the request is echoed. */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly text: string,
  ) {
    super(text);
  }
}


/** A page on another name that resolves to 127.0.0.1 (DNS rebinding) sends its own name as Host. */
export function checkHost(req: http.IncomingMessage, hosts: ReadonlySet<string>): void {
  if (!hosts.has(req.headers.host ?? '')) throw new Refusal(421, 'wrong host: use the address the runner printed');
}

/** A command's Origin must be the dashboard's own; a form or a "simple" cross-site request cannot send application/json without a preflight. */
export function checkCommand(req: http.IncomingMessage): void {
  if (req.headers.origin !== `http://${req.headers.host}`) throw new Refusal(403, 'commands come from the dashboard page only');
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') throw new Refusal(415, 'commands are JSON (content-type: application/json)');
}

export function hasToken(pathname: string, base: string): boolean {
  const given = Buffer.from(pathname.slice(0, base.length));
  const wanted = Buffer.from(base);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

export function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'content-security-policy': "default-src 'self'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'",
  });
  res.end(body);
}

export function reply(res: http.ServerResponse, value: unknown, status = 200): void {
  send(res, status, 'application/json', JSON.stringify(value));
}

/** Serves `file` only if its real path is inside `root` (links resolved); anything else is a 404. */
export async function sendFile(res: http.ServerResponse, root: string, file: string, type: string): Promise<void> {
  const opened = await openInside(root, file);
  if (!opened) return send(res, 404, TEXT, 'gone');
  res.writeHead(200, { 'content-type': type, 'content-length': opened.size, 'cache-control': 'private, max-age=60', 'x-content-type-options': 'nosniff' });
  opened.handle.createReadStream().pipe(res);
}

/** Answers a refusal and, if the request still has a body coming, closes the connection instead of reading it. */
export function refuse(req: http.IncomingMessage, res: http.ServerResponse, refusal: Refusal): void {
  if (!req.complete) res.setHeader('connection', 'close');
  send(res, refusal.status, TEXT, refusal.text);
}

export async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const tooLarge = new Refusal(413, `a command is at most ${MAX_BODY} bytes`);
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY) throw tooLarge;
  // Events, not `for await`: leaving that loop early destroys the socket before the 413 is sent.
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= MAX_BODY) return void chunks.push(chunk);
      // Stop reading here: the rest of the body is never buffered.
      req.off('data', onData);
      req.pause();
      reject(tooLarge);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
  try {
    const value = JSON.parse(text || '{}');
    return value && typeof value === 'object' ? value : {};
  } catch {
    return {};
  }
}
