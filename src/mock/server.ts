// The built-in mock site: the ChatGPT page contract (ARCHITECTURE §4) on 127.0.0.1, with a real PNG per
// prompt after `latencyMs`, a session cookie the image URLs require, and every fault of ARCHITECTURE §9
// rendered the way the real site shows it. Conversations are server-side and advance by wall clock.
// It is never kinder than the real site: the send is answered (and the URL becomes /c/<id>) only
// `urlDelayMs` after the prompt arrived, and a "Recent images" side bar shows other panels' images
// with the same alt text and src format as the turn's own.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../protocol/errors.js';
import { FaultPlan, faultKinds, faultParts, parseDuration, parseFaultSpec, type MockFault, type MockFaultKind } from './faults.js';
import { CHALLENGE_BODY, LOGIN_BODY, appPage, recentAlt, type RecentImage } from './page.js';
import { partialOf, renderPanelPng } from './render.js';

export interface MockSiteOptions {
  port?: number;
  /** Time from send to finished image. */
  latencyMs?: number;
  /**
   * Time from a prompt arriving (counted, its generation clock started) to the site answering the
   * send, which is when the page learns its `/c/<id>` URL. Default 700; 0 answers at once.
   */
  urlDelayMs?: number;
  faults?: string;
  seed?: number;
  imageSize?: number;
  /** What the usage-cap message says, e.g. "10 hours and 25 minutes". */
  quotaResetText?: string;
}

export interface MockStats {
  /** Prompts the site received (each send, whatever came of it). */
  prompts: number;
  /** Images that finished. */
  images: number;
  /** The shortest time between two prompts arriving (ms), what the site sees of the pacing. */
  minPromptGapMs: number | null;
  /** When the last prompt arrived (epoch ms, Date.now()); its send is answered `urlDelayMs` later. */
  lastPromptAt: number | null;
  /** Fetches of image bytes from outside an <img> (a download). */
  downloads: number;
  faults: Partial<Record<MockFaultKind, number>>;
  conversations: number;
}

export interface MockSite {
  readonly url: string;
  stats(): MockStats;
  close(): Promise<void>;
}

interface Turn {
  n: number;
  prompt: string;
  createdAt: number;
  /** How the turn ends (undefined: a normal image). */
  fault?: MockFaultKind;
  /** The page is told to reload once, half way through the generation (`reload`, `reload+KIND`). */
  reload: boolean;
  reloadServed: boolean;
  /** This turn's own file id (its partials hang off it). */
  fileId: string;
  /** The file id the finished turn shows: its own, or with `stale-id` the previous image turn's. */
  imageId: string;
  quotaText?: string;
}

interface Conversation {
  id: string;
  turns: Turn[];
}

interface MockFile {
  /** What an <img> in the page receives. */
  display(): Promise<Buffer>;
  /** What a download (context request, fetch) receives; `n` counts this file's downloads from 1. */
  download(n: number): Promise<Buffer>;
  downloads: number;
}

const COOKIE = 'mock_session';
const LONG_POLL_MS = 15_000;
const RECENT_MAX = 6;
const TEXT_FAULTS: readonly MockFaultKind[] = ['cooldown', 'quota', 'policy', 'error'];
const NO_IMAGE_FAULTS: readonly MockFaultKind[] = [...TEXT_FAULTS, 'timeout'];

const MESSAGES = {
  cooldown:
    "You're generating images too quickly. To ensure the best experience for everyone, we have rate limits in place. Please wait a short while before generating more images.",
  policy: "I wasn't able to generate that image because this request violates our content policy. Feel free to try a different idea.",
  error: 'Something went wrong while generating the response. If this issue persists please contact us through our help center.',
};

function quotaMessage(remainingMs: number): string {
  const s = Math.max(1, Math.ceil(remainingMs / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const text = h > 0 ? `${h} hours and ${m} minutes` : m > 0 ? `${m} minutes${s % 60 ? ` and ${s % 60} seconds` : ''}` : `${s} seconds`;
  return `You've hit the Plus plan limit for image generation requests. You can create more images when the limit resets in ${text}.`;
}

export async function startMockSite(opts: MockSiteOptions = {}): Promise<MockSite> {
  const latencyMs = opts.latencyMs ?? 1500;
  if (!(latencyMs >= 0)) throw new UsageError('--mock-latency-ms must be 0 or more');
  const urlDelayMs = opts.urlDelayMs ?? 700;
  if (!(urlDelayMs >= 0)) throw new UsageError('--mock-url-delay-ms must be 0 or more');
  const size = opts.imageSize ?? 512;
  const plan = new FaultPlan(parseFaultSpec(opts.faults), opts.seed ?? 1);
  const quotaResetMs = parseDuration(opts.quotaResetText ?? '2 minutes');
  const sessions = new Set<string>();
  const conversations = new Map<string, Conversation>();
  const files = new Map<string, MockFile>();
  const waiters = new Set<() => void>();
  /** Sends held back until their answer is due; woken (answered at once) when the site closes. */
  const sleepers = new Set<() => void>();
  let closing = false;
  /** Every turn that ends in an image, in the order they arrived (= the order they finish). */
  const imageTurns: Turn[] = [];
  const stats: MockStats = {
    prompts: 0,
    minPromptGapMs: null,
    lastPromptAt: null,
    images: 0,
    downloads: 0,
    faults: {},
    conversations: 0,
  };
  let lastPromptAt: number | undefined;
  let blocker: 'login' | 'challenge' | undefined;
  let quotaUntil = 0;
  let lastImageTurn: Turn | undefined;
  const cache = new Map<string, Promise<Buffer>>();
  const render = (prompt: string, variant: 'final' | 'partial' | 'blank'): Promise<Buffer> => {
    const key = `${variant}\n${prompt}`;
    let png = cache.get(key);
    if (!png) {
      // A partial is cut from the (cached) final rather than drawn again.
      png = variant === 'partial' ? render(prompt, 'final').then(partialOf) : renderPanelPng(prompt, size, variant);
      cache.set(key, png);
      if (cache.size > 400) cache.delete(cache.keys().next().value!);
    }
    return png;
  };

  function addFiles(turn: Turn, previous: Turn | undefined): void {
    // Every generation is a new picture, as on the real site (the seed includes the turn's file id):
    // the same prompt sent again must not come back with bytes another panel already saved.
    const own = () => render(`${turn.prompt}\n#${turn.fileId}`, 'final');
    let display = own;
    let download = (_n: number) => own();
    switch (turn.fault) {
      case 'blank':
        display = () => render('', 'blank');
        download = display;
        break;
      case 'stale':
        if (previous) {
          display = () => render(`${previous.prompt}\n#${previous.fileId}`, 'final');
          download = display;
        }
        break;
      case 'swap':
        download = () => render(`${turn.prompt}\n#${turn.fileId} (swapped)`, 'final');
        break;
      case 'corrupt':
        download = async () => {
          const whole = await own();
          return whole.subarray(0, Math.floor(whole.length * 0.6));
        };
        break;
      case 'partial':
        download = (n) => (n === 1 ? render(`${turn.prompt}\n#${turn.fileId}`, 'partial') : own());
        break;
    }
    files.set(turn.fileId, { display, download, downloads: 0 });
    for (let k = 1; k <= 3; k++) {
      const partial = () => render(`${turn.prompt}\n#${turn.fileId}`, 'partial');
      files.set(`${turn.fileId}-partial${k}`, { display: partial, download: partial, downloads: 0 });
    }
  }

  type View = { state: Record<string, unknown>; nextAt?: number; reload?: boolean };

  /** The turn as the page sees it at `now`, when that will next change, and whether the page must reload. */
  function view(turn: Turn, now: number): View {
    const v = ending(turn, now);
    // The reload fault (alone or before another ending): once, half way through the generation,
    // while the turn still says "Creating image".
    if (turn.reload && !turn.reloadServed && v.state.status === 'creating') {
      const reloadAt = turn.createdAt + latencyMs / 2;
      if (now >= reloadAt) return { ...v, reload: true };
      v.nextAt = Math.min(v.nextAt ?? Infinity, reloadAt);
    }
    return v;
  }

  /** The turn without the reload: "Creating image" with partials, then its image or its message. */
  function ending(turn: Turn, now: number): View {
    const t = now - turn.createdAt;
    const quarter = latencyMs / 4;
    const base = { n: turn.n, prompt: turn.prompt };
    const creating = (partials: number) => ({
      ...base,
      status: 'creating',
      partials: Array.from({ length: partials }, (_, k) => `${turn.fileId}-partial${k + 1}`),
    });
    if (turn.fault && TEXT_FAULTS.includes(turn.fault)) {
      // After a reload the message must come later than the reload point: at the full latency.
      const textAfter = turn.reload ? latencyMs : latencyMs / 2;
      if (t < textAfter) return { state: creating(0), nextAt: turn.createdAt + textAfter };
      const message = turn.fault === 'quota' ? turn.quotaText! : MESSAGES[turn.fault as 'cooldown' | 'policy' | 'error'];
      return { state: { ...base, status: 'message', message, error: turn.fault === 'error', toast: turn.fault === 'error' } };
    }
    if (turn.fault === 'timeout') {
      // The image never finishes: one partial, the stop button forever.
      return t < quarter ? { state: creating(0), nextAt: turn.createdAt + quarter } : { state: creating(1) };
    }
    if (t >= latencyMs) return { state: { ...base, status: 'done', image: turn.imageId } };
    const partials = Math.min(3, Math.floor(t / Math.max(quarter, 1)));
    return { state: creating(partials), nextAt: turn.createdAt + Math.min(latencyMs, (partials + 1) * quarter) };
  }

  /** The side bar: the latest finished images of any conversation, newest first, one entry per file. */
  function recentImages(now: number): RecentImage[] {
    const recent: RecentImage[] = [];
    const seen = new Set<string>();
    for (let i = imageTurns.length - 1; i >= 0 && recent.length < RECENT_MAX; i--) {
      const turn = imageTurns[i];
      if (now - turn.createdAt < latencyMs || seen.has(turn.imageId)) continue;
      seen.add(turn.imageId);
      recent.push({ fileId: turn.imageId, alt: recentAlt(turn.prompt) });
    }
    return recent;
  }

  /** What the page is sent; a reload it is told to do is told once. */
  function conversationState(conversation: Conversation, now: number) {
    let nextAt: number | undefined;
    const reloading: Turn[] = [];
    const turns = conversation.turns.map((turn) => {
      const v = view(turn, now);
      if (v.nextAt !== undefined) nextAt = Math.min(nextAt ?? Infinity, v.nextAt);
      if (v.reload) reloading.push(turn);
      return v.state;
    });
    const recent = recentImages(now);
    // A short, exact version tag for the long-poll (prompts can be long; the URL must not be).
    const signature = createHash('sha1').update(JSON.stringify([turns, recent])).digest('base64url').slice(0, 16);
    const consumeReload = () => reloading.forEach((turn) => (turn.reloadServed = true));
    return { state: { turns, recent, signature, reload: reloading.length > 0 }, nextAt, consumeReload };
  }

  function countFault(fault: MockFault): void {
    for (const kind of faultKinds(fault)) stats.faults[kind] = (stats.faults[kind] ?? 0) + 1;
  }

  /** Records a prompt's turn and starts its generation clock; `fault` was chosen when the prompt arrived. */
  function newPrompt(conversation: Conversation, prompt: string, fault: MockFault | undefined): Turn {
    const now = Date.now();
    const { reload, ending: kind } = faultParts(fault);
    if (kind === 'quota' && now >= quotaUntil) quotaUntil = now + quotaResetMs;
    const fileId = `file_${randomBytes(12).toString('base64url')}`;
    const producesImage = !(kind && NO_IMAGE_FAULTS.includes(kind));
    const turn: Turn = {
      n: conversation.turns.length + 1,
      prompt,
      createdAt: now,
      fault: kind,
      reload,
      reloadServed: false,
      fileId,
      // stale-id: the previous image turn's image, its very file id (and so its very src).
      // With no image before it, the turn shows its own.
      imageId: kind === 'stale-id' && lastImageTurn ? lastImageTurn.imageId : fileId,
    };
    if (kind === 'quota') turn.quotaText = quotaMessage(quotaUntil - now);
    if (producesImage) {
      addFiles(turn, lastImageTurn);
      lastImageTurn = turn;
      imageTurns.push(turn);
      if (imageTurns.length > 1000) imageTurns.splice(0, imageTurns.length - 100);
      setTimeout(() => {
        stats.images += 1;
        wake(); // every open long-poll carries the side bar, which just changed
      }, latencyMs).unref();
    }
    conversation.turns.push(turn);
    return turn;
  }

  /** Resolves once Date.now() reaches `at` (never earlier, whatever a timer's rounding), or when the site closes. */
  async function until(at: number): Promise<void> {
    while (Date.now() < at && !closing) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          sleepers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(1, at - Date.now()));
        sleepers.add(done);
      });
    }
  }

  function sessionOf(req: http.IncomingMessage): string | undefined {
    const match = new RegExp(`(?:^|;\\s*)${COOKIE}=([A-Za-z0-9_-]+)`).exec(req.headers.cookie ?? '');
    return match && sessions.has(match[1]) ? match[1] : undefined;
  }

  function send(res: http.ServerResponse, status: number, body: string | Buffer, type: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
    res.end(body);
  }
  const json = (res: http.ServerResponse, status: number, value: unknown) => send(res, status, JSON.stringify(value), 'application/json');

  async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of req) {
      total += (chunk as Buffer).length;
      if (total > 1_000_000) throw new Error('body too large');
      chunks.push(chunk as Buffer);
    }
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    return value && typeof value === 'object' ? value : {};
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://mock');
    const route = `${req.method} ${url.pathname}`;

    if (route === 'GET /__mock/stats') return json(res, 200, stats);
    if (route === 'GET /__mock/blocker') return json(res, 200, { blocker: blocker ?? null });
    if (route === 'POST /__mock/login' || route === 'POST /__mock/challenge') {
      const id = randomBytes(16).toString('base64url');
      sessions.add(id);
      blocker = undefined;
      res.writeHead(303, { location: '/', 'set-cookie': `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax` });
      return void res.end();
    }

    if (req.method === 'GET' && (url.pathname === '/' || /^\/c\/[A-Za-z0-9-]+$/.test(url.pathname))) {
      const headers: Record<string, string> = {};
      if (!sessionOf(req)) {
        // The "logged-in profile": the first visit gets a session, as a persisted login would have.
        const id = randomBytes(16).toString('base64url');
        sessions.add(id);
        headers['set-cookie'] = `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax`;
      }
      const id = url.pathname.startsWith('/c/') ? url.pathname.slice(3) : null;
      // Like the real site: an unknown conversation is an empty chat (composer, no turns).
      const recent = recentImages(Date.now());
      if (id && !conversations.has(id) && !blocker) return send(res, 404, appPage(null, undefined, recent), 'text/html; charset=utf-8', headers);
      const blockerBody = blocker === 'login' ? LOGIN_BODY : blocker === 'challenge' ? CHALLENGE_BODY : undefined;
      return send(res, 200, appPage(id, blockerBody, recent), 'text/html; charset=utf-8', headers);
    }

    if (url.pathname.startsWith('/backend-api/') && !sessionOf(req)) return json(res, 401, { detail: 'Unauthorized' });

    if (route === 'POST /backend-api/conversation') {
      const body = await readJson(req);
      const prompt = typeof body.prompt === 'string' ? body.prompt.slice(0, 20_000) : '';
      if (!prompt.trim()) return json(res, 400, { detail: 'empty prompt' });
      const requested = typeof body.conversation_id === 'string' ? conversations.get(body.conversation_id) : undefined;
      const conversation = requested ?? { id: randomBytes(16).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'), turns: [] };
      stats.prompts += 1;
      const arrived = performance.now();
      const arrivedAt = Date.now();
      stats.lastPromptAt = arrivedAt;
      if (lastPromptAt !== undefined) stats.minPromptGapMs = Math.min(stats.minPromptGapMs ?? Infinity, arrived - lastPromptAt);
      lastPromptAt = arrived;
      const planned = plan.forPrompt(stats.prompts); // rolled on every prompt so the sequence is stable
      // A usage cap holds every prompt until it resets, as the real site's does.
      const fault: MockFault | undefined = arrivedAt < quotaUntil ? 'quota' : planned;
      if (fault) countFault(fault);
      // The prompt is in (counted, its turn and generation clock started) now; the page hears back
      // only `urlDelayMs` later, as on the real site, where the URL becomes /c/<id> a moment after
      // the user message and the stop button appeared.
      const answerAt = arrivedAt + urlDelayMs;
      if (fault === 'network' || fault === 'login' || fault === 'challenge') {
        if (fault !== 'network') blocker = fault;
        await until(answerAt);
        if (fault === 'network') return json(res, 502, { detail: 'Bad gateway' });
        return json(res, 401, { blocker: fault === 'login' ? LOGIN_BODY : CHALLENGE_BODY });
      }
      if (!requested) {
        conversations.set(conversation.id, conversation);
        stats.conversations += 1;
      }
      newPrompt(conversation, prompt, fault);
      wake();
      await until(answerAt);
      if (res.destroyed || closing) return;
      const { state, consumeReload } = conversationState(conversation, Date.now());
      consumeReload();
      return json(res, 200, { conversation_id: conversation.id, state });
    }

    const follow = /^\/backend-api\/conversation\/([A-Za-z0-9-]+)$/.exec(url.pathname);
    if (req.method === 'GET' && follow) {
      const conversation = conversations.get(follow[1]);
      if (!conversation) return json(res, 404, { detail: 'Conversation not found' });
      const since = url.searchParams.get('since');
      const deadline = Date.now() + LONG_POLL_MS;
      for (;;) {
        const now = Date.now();
        const { state, nextAt, consumeReload } = conversationState(conversation, now);
        // Nothing due (say, a turn that never finishes): hold until the deadline, or until a prompt or
        // another panel's finished image (the side bar) wakes it, rather than answer at once forever.
        if (since === null || state.signature !== since || state.reload || now >= deadline || res.destroyed || closing) {
          consumeReload();
          return json(res, 200, state);
        }
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            waiters.delete(done);
            resolve();
          };
          const timer = setTimeout(done, Math.max(1, Math.min(nextAt ?? deadline, deadline) - now + 2));
          waiters.add(done);
        });
      }
    }

    if (route === 'GET /backend-api/estuary/content') {
      const file = files.get(url.searchParams.get('id') ?? '');
      if (!file) return json(res, 404, { detail: 'File not found' });
      const isImageElement = req.headers['sec-fetch-dest'] === 'image';
      let bytes: Buffer;
      if (isImageElement) bytes = await file.display();
      else {
        file.downloads += 1;
        stats.downloads += 1;
        bytes = await file.download(file.downloads);
      }
      return send(res, 200, bytes, 'image/png');
    }

    return json(res, 404, { detail: 'Not found' });
  }

  function wake(): void {
    for (const waiter of [...waiters]) waiter();
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: Error) => {
      if (!res.headersSent) json(res, 500, { detail: error.message });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new UsageError(`--port ${opts.port}: the port is in use`) : error),
    );
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    stats: () => structuredClone(stats),
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        for (const sleeper of [...sleepers]) sleeper();
        wake();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
