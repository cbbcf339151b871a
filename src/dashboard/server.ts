// The live dashboard (issue 11): served by the runner on 127.0.0.1 at a path carrying the run's
// token; without the token nothing is served. It shows progress, the profile's state, every panel
// in book order (thumbnails made once per image), failures with their evidence, and takes four
// commands: pause, resume, retry a failed panel, reject a verified one. Updates go out as
// server-sent events; every command is a POST whose Origin must be the dashboard's own.
// Hardened for a day on the user's own machine (ARCHITECTURE §12): only its own Host names are
// answered (a DNS-rebinding page cannot reach it), commands must be JSON, event streams are capped,
// files are served only if their real path is inside the book folder, and errors never repeat the request.
// The fleet's dashboard (fleet-server.ts) answers through the same checks and helpers, exported here.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Job, PromptBook } from '../prompts/types.js';
import type { RunEvent, RunEvents } from '../report/events.js';
import type { JobStore } from '../store/index.js';
import { NotRejectableError } from '../store/rejection.js';
import type { RunControl } from '../run/run-control.js';
import { openInside } from '../inside.js';
import { dashboardPage } from './page.js';

export interface DashboardOptions {
  readonly book: PromptBook;
  readonly store: JobStore;
  readonly events: RunEvents;
  readonly control: RunControl;
  /** `<out>/<book>`: images, thumbnails and evidence are served from under it only. */
  readonly bookDir: string;
  /** Makes (once) and returns the thumbnail file of an image. */
  readonly thumbnail: (png: string) => Promise<string>;
  /** Rejects a verified panel (journalled, file kept aside); the runner then generates it again. */
  readonly reject: (job: Job, reason: string) => Promise<void>;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** How many event streams may be open at once; more get 503. @default 16 */
  readonly maxStreams?: number;
}

export interface Dashboard {
  /** The address to open, token included. */
  readonly url: string;
  close(): Promise<void>;
}

/** What the page needs to draw itself; sent on load and whenever a job changes. */
interface Snapshot {
  book: string;
  paused: boolean;
  profile: { state: string; until?: number; reason?: string };
  /** Each profile (account) of the run, in the order given, with what it is doing and what it made. */
  profiles: Array<{ name: string; state: string; until?: number; reason?: string; verified: number }>;
  progress: { verified: number; failed: number; total: number; inFlight: string[]; etaMs?: number };
  panels: Array<{
    id: string;
    chapter: string;
    strip: string;
    panel: string;
    label: string;
    state: string;
    attempts: number;
    kind?: string;
    message?: string;
    evidence?: number[];
    thumb?: boolean;
    /** The profile whose attempt this is (the journal's), when known. */
    profile?: string;
  }>;
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

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const token = randomBytes(24).toString('base64url');
  const base = `/${token}/`;
  const clients = new Set<http.ServerResponse>();
  const byId = new Map(opts.book.jobs.map((job) => [job.id, job]));
  const profile: Snapshot['profile'] = { state: 'starting' };
  /** Per profile: its state from `profile-state` and `pause` events, and its verified images this run. */
  const profiles = new Map<string, Snapshot['profiles'][number]>();
  const profileOf = (name: string) => {
    let entry = profiles.get(name);
    if (!entry) profiles.set(name, (entry = { name, state: 'working', verified: 0 }));
    return entry;
  };
  const inFlight = new Set<string>();
  let etaMs: number | undefined;
  const maxStreams = opts.maxStreams ?? MAX_STREAMS;
  /** The Host values this server answers to, set once it listens: its own address, nothing else. */
  let hosts = new Set<string>();

  const onEvent = (event: RunEvent) => {
    switch (event.type) {
      case 'run-start':
        for (const name of event.profiles ?? [event.profile]) profileOf(name);
        break;
      case 'profile-state':
        Object.assign(profileOf(event.profile), { state: event.state, until: event.until, reason: event.reason });
        break;
      case 'job-start':
        inFlight.add(event.id);
        if (profile.state !== 'paused') Object.assign(profile, { state: 'working', until: undefined, reason: undefined });
        break;
      case 'job-verified':
        inFlight.delete(event.id);
        etaMs = event.etaMs;
        if (event.profile) profileOf(event.profile).verified += 1;
        break;
      case 'job-failed':
      case 'job-retry':
        inFlight.delete(event.id);
        break;
      case 'pause':
        if (event.profile) Object.assign(profileOf(event.profile), { state: 'paused', until: event.until, reason: event.reason });
        // With several profiles a pause is one profile's (its chip says so); the run goes on.
        if (!(event.profile && profiles.size > 1)) Object.assign(profile, { state: /usage cap/.test(event.reason) ? 'quota' : 'cooling down', until: event.until, reason: event.reason });
        break;
      case 'human-needed':
        if (!(event.profile && profiles.size > 1)) Object.assign(profile, { state: 'waiting for a login', until: undefined, reason: event.message });
        break;
      case 'run-end':
        Object.assign(profile, { state: 'finished', until: undefined, reason: undefined });
        // How each profile ended, and what it made, as the summary counted them from the store.
        for (const p of event.summary.profiles ?? []) Object.assign(profileOf(p.name), { state: p.state, until: undefined, reason: p.reason, verified: p.verified });
        inFlight.clear();
        break;
    }
    broadcast('run', event);
  };
  opts.events.on('event', onEvent);
  const onControl = () => {
    if (opts.control.paused) Object.assign(profile, { state: 'paused', reason: 'paused from the dashboard: no new prompt starts' });
    else if (profile.state === 'paused') Object.assign(profile, { state: 'working', reason: undefined });
    broadcast('control', { paused: opts.control.paused });
  };
  opts.control.on('change', onControl);

  function snapshot(): Snapshot {
    let verified = 0;
    let failed = 0;
    const panels = opts.book.jobs.map((job) => {
      const record = opts.store.get(job.id);
      const state = record?.state ?? 'pending';
      if (state === 'verified') verified += 1;
      if (state === 'failed' && record?.failure?.final !== false) failed += 1;
      const evidence = (record?.failure?.evidence ?? []).map((file, i) => (file.endsWith('.png') ? i : -1)).filter((i) => i >= 0);
      return {
        id: job.id,
        chapter: job.chapter,
        strip: job.strip,
        panel: job.panel,
        label: `${job.panel}${job.locale ? `.${job.locale}` : ''}${job.variant ? `~${job.variant}` : ''}`,
        state: inFlight.has(job.id) && state !== 'verified' ? 'in flight' : state,
        attempts: record?.attempts ?? 0,
        ...(record?.failure ? { kind: record.failure.kind, message: record.failure.message } : {}),
        ...(evidence.length ? { evidence } : {}),
        ...(state === 'verified' && record?.path ? { thumb: true } : {}),
        ...(record?.profile ? { profile: record.profile } : {}),
      };
    });
    return {
      book: opts.book.book,
      paused: opts.control.paused,
      profile: { ...profile },
      profiles: [...profiles.values()].map((p) => ({ ...p })),
      progress: { verified, failed, total: opts.book.jobs.length, inFlight: [...inFlight], ...(etaMs !== undefined ? { etaMs } : {}) },
      panels,
    };
  }

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
    if (route === 'GET /') return send(res, 200, 'text/html; charset=utf-8', dashboardPage(opts.book.book));
    if (route === 'GET /state') return send(res, 200, 'application/json', JSON.stringify(snapshot()));
    if (route === 'GET /events') {
      if (clients.size >= maxStreams) return send(res, 503, TEXT, 'too many dashboards open: close one and reload');
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`event: hello\ndata: {}\n\n`);
      clients.add(res);
      req.on('close', () => clients.delete(res));
      return;
    }
    const thumb = /^GET \/thumb\/(.+)$/.exec(route);
    if (thumb) {
      const record = opts.store.get(decodeURIComponent(thumb[1]));
      if (record?.state !== 'verified' || !record.path) return send(res, 404, TEXT, 'no image yet');
      // The image and its thumbnail both must really be in the book folder: a link planted there that
      // points elsewhere would otherwise be read (and shown, shrunk) or served.
      const image = await openInside(opts.bookDir, record.path);
      if (!image) return send(res, 404, TEXT, 'no such image');
      await image.handle.close();
      // An image that cannot be decoded, or a thumbnail folder that leads out of the book: no picture.
      const file = await opts.thumbnail(record.path).catch(() => undefined);
      if (!file) return send(res, 404, TEXT, 'no thumbnail');
      return sendFile(res, opts.bookDir, file, 'image/jpeg');
    }
    const shot = /^GET \/evidence\/(.+)\/(\d+)$/.exec(route);
    if (shot) {
      const file = opts.store.get(decodeURIComponent(shot[1]))?.failure?.evidence?.[Number(shot[2])];
      // Only files the journal lists as evidence, and only under the book's folder.
      if (!file || !file.endsWith('.png')) return send(res, 404, TEXT, 'no such evidence');
      return sendFile(res, opts.bookDir, file, 'image/png');
    }
    if (req.method === 'POST') {
      checkCommand(req);
      const body = await readJson(req);
      const job = typeof body.id === 'string' ? byId.get(body.id) : undefined;
      switch (url.pathname.slice(base.length - 1)) {
        case '/pause':
          opts.control.pause();
          return reply(res, { paused: true });
        case '/resume':
          opts.control.resume();
          return reply(res, { paused: false });
        case '/retry': {
          if (!job) return reply(res, { error: 'no such panel' }, 400);
          if (opts.store.get(job.id)?.state !== 'failed') return reply(res, { error: `${job.id} has not failed` }, 409);
          opts.control.requeue(job.id);
          return reply(res, { retrying: job.id });
        }
        case '/reject': {
          if (!job) return reply(res, { error: 'no such panel' }, 400);
          if (opts.store.get(job.id)?.state !== 'verified') return reply(res, { error: `${job.id} is not verified` }, 409);
          const reason = typeof body.reason === 'string' && body.reason.trim() ? body.reason.trim().slice(0, 500) : 'rejected from the dashboard';
          try {
            await opts.reject(job, reason);
          } catch (error) {
            // Our own words about our own files (e.g. the image is missing), for the page's alert.
            if (error instanceof NotRejectableError) return reply(res, { error: error.message }, 409);
            throw error;
          }
          opts.control.requeue(job.id);
          broadcast('run', { type: 'note', message: `${job.id} rejected: ${reason}` });
          return reply(res, { rejected: job.id });
        }
      }
    }
    return send(res, 404, TEXT, 'not found');
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
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(heartbeat);
        opts.events.off('event', onEvent);
        opts.control.off('change', onControl);
        for (const client of clients) client.end();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
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
