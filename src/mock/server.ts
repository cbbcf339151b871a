// The built-in mock site: the ChatGPT page contract (ARCHITECTURE §4) on 127.0.0.1, with a real PNG per
// prompt after `latencyMs`, a session cookie the image URLs require, and every fault of ARCHITECTURE §9
// rendered the way the real site shows it. Conversations are server-side and advance by wall clock.
// It is never kinder than the real site: the send is answered (and the URL becomes /c/<id>) only
// `urlDelayMs` after the prompt arrived, and a "Recent images" side bar shows other panels' images
// with the same alt text and src format as the turn's own.
// It renders either column of the contract (`dom`): the 2024–25 page or the 2026 one (image tool,
// signed image URLs, optionally `blob:` srcs), with optional churn (`churn`) of the markup.
// Each session cookie is one account, and everything an account has is its own, as on the real site:
// its conversations, files and side bar, its usage cap, its login wall (ARCHITECTURE §11).
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../protocol/errors.js';
import {
  HOSTILE_REFUSALS,
  MOCK_ASPECTS,
  MOCK_CHURNS,
  MOCK_DOMS,
  NOTICES,
  NO_TOOL,
  WORDINGS,
  asksForImage,
  describeScene,
  imageShape,
  quotaMessage,
  ratioInText,
  type MockAspect,
  type MockChurn,
  type MockDom,
  type MockRatio,
} from './answers.js';
import { FaultPlan, faultKinds, faultParts, parseDuration, parseFaultSpec, splitFaultRules, type MockFault, type MockFaultKind } from './faults.js';
import { CHALLENGE_BODY, LOGIN_BODY, appPage, recentAlt, type RecentImage } from './page.js';
import { MOCK_COMPOSERS, MOCK_LANGS, UPLOAD_MAX_BYTES, type MockComposer, type MockLang } from './page-common.js';
import { partialOf, renderPanelPng } from './render.js';

export { MOCK_ASPECTS, MOCK_CHURNS, MOCK_COMPOSERS, MOCK_DOMS, type MockAspect, type MockChurn, type MockComposer, type MockDom };

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
  /** The long side of a finished image in pixels (default 512); the short side follows its aspect. */
  imageSize?: number;
  /** What the usage-cap message says, e.g. "10 hours and 25 minutes". */
  quotaResetText?: string;
  /** Which column of the page contract the page renders (default '2026', the page users meet). */
  dom?: MockDom;
  /** Markup drift: 'cosmetic' keeps every anchor the contract names, 'breaking' drops the composer's. */
  churn?: MockChurn;
  /** Whether the 2026 page's "+" menu offers "Create image" (default true). */
  imageTool?: boolean;
  /** Which composer the 2026 page has for attachments (default 'sep-2026'; ARCHITECTURE §4, "Attachments"). */
  composer?: MockComposer;
  /** Time from a file's bytes arriving to its upload being done (default 1500). */
  uploadMs?: number;
  /** The 2026 page's language for its two-image question (default 'en'). */
  lang?: MockLang;
}

/** One prompt as the site received it, with what was attached (GET /__mock/prompts). */
export interface PromptLog {
  /** 1-based, site-wide, as `--mock-faults` counts prompts. */
  n: number;
  /** Index of its account in `MockStats.accounts`. */
  account: number;
  prompt: string;
  /** Each attachment in the order sent: its file id, the name the page gave it, its bytes' sha256. */
  attachments: Array<{ fileId: string; name: string; sha256: string; bytes: number }>;
  /** Whether every attachment's upload had finished when the prompt arrived (true with none). */
  uploadsDone: boolean;
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
  /** Fetches of image bytes other than the page's own (its <img> loads, the 2026-blob page's fetch): downloads. */
  downloads: number;
  faults: Partial<Record<MockFaultKind, number>>;
  conversations: number;
  /** Two-image questions answered ("Image N is better" or "Skip"). */
  choices: number;
  /** Each account that sent a prompt, in the order first seen (no cookie: it is a secret). */
  accounts: AccountStats[];
  /** File uploads the site received (each POST /backend-api/files). */
  uploads: number;
  /** Sends the page refused because Send was disabled (an upload busy): a careful client makes none. */
  sendsWhileDisabled: number;
}

/** What the site saw of one account: the fields of MockStats that belong to it. */
export interface AccountStats {
  prompts: number;
  images: number;
  minPromptGapMs: number | null;
}

export interface MockSite {
  readonly url: string;
  stats(): MockStats;
  /** Every prompt received, with its attachments (as GET /__mock/prompts answers). */
  prompts(): PromptLog[];
  close(): Promise<void>;
}

/** How a turn's answer ends. */
type Answer = 'image' | 'reply' | 'message' | 'notice' | 'timeout' | 'code';

interface Turn {
  n: number;
  prompt: string;
  createdAt: number;
  /** `data-turn-id` of the user and the assistant turn (the client chose the user's). */
  userId: string;
  answerId: string;
  answer: Answer;
  /** The finished image's pixel size (its shape). */
  width: number;
  height: number;
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
  /** `two-images`: the other image's file id, which choice the page made (1, 2 or skip), whether a reload swapped them. */
  second?: string;
  chosen?: 1 | 2 | 'skip';
  flipped?: boolean;
  /** `code-image`: the file id of the picture the code drew. */
  codeId?: string;
  /** The files attached to the prompt, shown in the user turn from the same estuary URLs as images. */
  attachments?: Array<{ fileId: string; name: string }>;
}

/** A file the page uploaded to its account. */
interface Upload {
  name: string;
  sha256: string;
  bytes: number;
  /** When its upload finished (epoch ms); undefined while it is still going (or stuck). */
  doneAt?: number;
}

interface Conversation {
  id: string;
  /** The account that made it: no other account can load, follow or continue it. */
  owner: Account;
  turns: Turn[];
}

/** One logged-in account (one session cookie, or several after a re-login): its own state, as on the real site. */
interface Account {
  /** Its finished-image turns, in the order they arrived: its side bar. */
  imageTurns: Turn[];
  /** Its last image turn, which `stale` and `stale-id` show again. */
  lastImageTurn?: Turn;
  /** Until when its usage cap holds (epoch ms). */
  quotaUntil: number;
  /** The wall it met (a `login` or `challenge` fault), until it logs in. */
  blocker?: 'login' | 'challenge';
  /** Set on its first prompt; the very object in `stats.accounts`. */
  stats?: AccountStats;
  lastPromptAt?: number;
  /** Its uploaded files, by file id. */
  uploads?: Map<string, Upload>;
}

interface MockFile {
  /** The `ts` its signed URL carries (seconds). */
  ts: number;
  /** What an <img> in the page (or the page's own fetch in blob mode) receives. */
  display(): Promise<Buffer>;
  /** What a download (context request, fetch) receives; `n` counts this file's downloads from 1. */
  download(n: number): Promise<Buffer>;
  downloads: number;
  /** Only this account can fetch it; to any other it is an unknown file. */
  owner: Account;
  /** Its content type (default image/png). */
  type?: string;
}

const COOKIE = 'mock_session';
/** Persistent like the real site's login cookie (a profile stays logged in across runs), and HttpOnly. */
const COOKIE_ATTRIBUTES = 'Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax';
const LONG_POLL_MS = 15_000;
/** `slow-final`: how late the page's own load of the final image's bytes comes. */
const SLOW_FINAL_MS = 600;
const RECENT_MAX = 6;
const TEXT_FAULTS: readonly MockFaultKind[] = ['cooldown', 'quota', 'policy', 'error', 'policy-long', 'policy-escape'];
/** The header the mock page's own fetch of image bytes carries (blob mode): it sees what an <img> sees. */
const PAGE_VIEW_HEADER = 'x-mock-view';
/** What the POST answers when the account fault hits; the page shows its "Reload" banner. */
const ACCOUNT_CODE = 'account_unavailable';

export async function startMockSite(opts: MockSiteOptions = {}): Promise<MockSite> {
  const latencyMs = opts.latencyMs ?? 1500;
  if (!(latencyMs >= 0)) throw new UsageError('--mock-latency-ms must be 0 or more');
  const urlDelayMs = opts.urlDelayMs ?? 700;
  if (!(urlDelayMs >= 0)) throw new UsageError('--mock-url-delay-ms must be 0 or more');
  const dom: MockDom = opts.dom ?? '2026';
  if (!(MOCK_DOMS as readonly string[]).includes(dom)) throw new UsageError(`--mock-dom: "${dom}" is not one of ${MOCK_DOMS.join(', ')}`);
  const churn: MockChurn = opts.churn ?? 'none';
  if (!(MOCK_CHURNS as readonly string[]).includes(churn)) throw new UsageError(`--mock-churn: "${churn}" is not one of ${MOCK_CHURNS.join(', ')}`);
  const composer: MockComposer = opts.composer ?? 'sep-2026';
  if (!(MOCK_COMPOSERS as readonly string[]).includes(composer)) throw new UsageError(`--mock-composer: "${composer}" is not one of ${MOCK_COMPOSERS.join(', ')}`);
  const lang: MockLang = opts.lang ?? 'en';
  if (!(MOCK_LANGS as readonly string[]).includes(lang)) throw new UsageError(`--mock-lang: "${lang}" is not one of ${MOCK_LANGS.join(', ')}`);
  const uploadMs = opts.uploadMs ?? 1500;
  if (!(uploadMs >= 0)) throw new UsageError('--mock-upload-ms must be 0 or more');
  const imageTool = opts.imageTool ?? true;
  if (typeof imageTool !== 'boolean') throw new UsageError(`--mock-image-tool: expects on or off, got ${String(imageTool)}`);
  /** The 2026 column (signed URLs, image tool, new wordings); '2024' is the 2024–25 one. */
  const modern = dom !== '2024';
  const wordings = WORDINGS[modern ? '2026' : '2024'];
  const size = opts.imageSize ?? 512;
  const rules = splitFaultRules(parseFaultSpec(opts.faults));
  const plan = new FaultPlan(rules.prompts, opts.seed ?? 1);
  const uploadPlan = new FaultPlan(rules.uploads, opts.seed ?? 1);
  const promptLog: PromptLog[] = [];
  const quotaResetMs = parseDuration(opts.quotaResetText ?? '2 minutes');
  /** Signs the 2026 image URLs; a URL without its `sig` (or with another's) is refused with 403. */
  const signingKey = randomBytes(32);
  /** Session cookie value → its account. A re-login gives the same account a new value. */
  const sessions = new Map<string, Account>();
  const conversations = new Map<string, Conversation>();
  const files = new Map<string, MockFile>();
  /** The `#image-<uuid>` of each file id a turn shows (a stale-id turn shows the previous one's, uuid and all). */
  const imageUuids = new Map<string, string>();
  const waiters = new Set<() => void>();
  /** Sends held back until their answer is due; woken (answered at once) when the site closes. */
  const sleepers = new Set<() => void>();
  let closing = false;
  const stats: MockStats = {
    prompts: 0,
    minPromptGapMs: null,
    lastPromptAt: null,
    images: 0,
    downloads: 0,
    faults: {},
    conversations: 0,
    choices: 0,
    accounts: [],
    uploads: 0,
    sendsWhileDisabled: 0,
  };
  let lastPromptAt: number | undefined;
  const cache = new Map<string, Promise<Buffer>>();
  const render = (prompt: string, variant: 'final' | 'partial' | 'blank', width: number, height: number): Promise<Buffer> => {
    const key = `${variant}\n${width}x${height}\n${prompt}`;
    let png = cache.get(key);
    if (!png) {
      // A partial is cut from the (cached) final rather than drawn again.
      png = variant === 'partial' ? render(prompt, 'final', width, height).then(partialOf) : renderPanelPng(prompt, width, variant, height);
      cache.set(key, png);
      if (cache.size > 400) cache.delete(cache.keys().next().value!);
    }
    return png;
  };

  function sign(id: string, ts: string): string {
    return createHmac('sha256', signingKey).update(`${id}\n${ts}`).digest('hex');
  }
  function validSignature(id: string, ts: string | null, sig: string | null): boolean {
    if (!ts || !sig || !/^[0-9a-f]{64}$/.test(sig)) return false;
    return timingSafeEqual(Buffer.from(sign(id, ts), 'hex'), Buffer.from(sig, 'hex'));
  }
  /** The URL the page gets for a file: bare on the 2024–25 page, signed (and needing the sig) on the 2026 one. */
  function urlOf(id: string): string {
    const bare = `/backend-api/estuary/content?id=${encodeURIComponent(id)}`;
    if (!modern) return bare;
    const ts = String(files.get(id)?.ts ?? Math.floor(Date.now() / 1000));
    return `${bare}&ts=${ts}&p=fs&cid=1&sig=${sign(id, ts)}&v=0`;
  }
  function uuidOf(fileId: string): string {
    let uuid = imageUuids.get(fileId);
    if (!uuid) imageUuids.set(fileId, (uuid = randomUUID()));
    return uuid;
  }

  function addFiles(owner: Account, turn: Turn, previous: Turn | undefined): void {
    // Every generation is a new picture, as on the real site (the seed includes the turn's file id):
    // the same prompt sent again must not come back with bytes another panel already saved.
    const { width, height } = turn;
    const own = () => render(`${turn.prompt}\n#${turn.fileId}`, 'final', width, height);
    let display = own;
    let download = (_n: number) => own();
    switch (turn.fault) {
      case 'blank':
        display = () => render('', 'blank', width, height);
        download = display;
        break;
      case 'stale':
        if (previous) {
          display = () => render(`${previous.prompt}\n#${previous.fileId}`, 'final', previous.width, previous.height);
          download = display;
        }
        break;
      case 'swap':
        download = () => render(`${turn.prompt}\n#${turn.fileId} (swapped)`, 'final', width, height);
        break;
      case 'corrupt':
        download = async () => {
          const whole = await own();
          return whole.subarray(0, Math.floor(whole.length * 0.6));
        };
        break;
      case 'partial':
        download = (n) => (n === 1 ? render(`${turn.prompt}\n#${turn.fileId}`, 'partial', width, height) : own());
        break;
      case 'slow-final':
        // The page's own load of the final bytes comes late (a download does not wait: it is not the page).
        display = async () => {
          await new Promise((resolve) => setTimeout(resolve, SLOW_FINAL_MS));
          return own();
        };
        break;
    }
    const ts = Math.floor(turn.createdAt / 1000);
    files.set(turn.fileId, { ts, display, download, downloads: 0, owner });
    if (turn.second) {
      const other = () => render(`${turn.prompt}\n#${turn.second}`, 'final', width, height);
      files.set(turn.second, { ts, display: other, download: () => other(), downloads: 0, owner });
    }
    for (let k = 1; k <= 3; k++) {
      const partial = () => render(`${turn.prompt}\n#${turn.fileId}`, 'partial', width, height);
      files.set(`${turn.fileId}-partial${k}`, { ts, display: partial, download: partial, downloads: 0, owner });
    }
  }

  /** A chart "drawn by Python" for `code-image`: a picture, but never a generated panel. */
  function addCodeFile(owner: Account, turn: Turn): void {
    const chart = () => render(`chart\n${turn.prompt}\n#${turn.codeId}`, 'final', 640, 480);
    files.set(turn.codeId!, { ts: Math.floor(turn.createdAt / 1000), display: chart, download: () => chart(), downloads: 0, owner });
  }

  type View = { state: Record<string, unknown>; nextAt?: number; reload?: boolean };

  /** The turn as the page sees it at `now`, when that will next change, and whether the page must reload. */
  function view(turn: Turn, now: number): View {
    const v = ending(turn, now);
    // The reload fault (alone or before another ending): once, half way through the generation,
    // while the turn still says "Creating image" (or, for a text answer, is still being written).
    if (turn.reload && !turn.reloadServed && (v.state.status === 'creating' || v.state.status === 'thinking')) {
      const reloadAt = turn.createdAt + latencyMs / 2;
      if (now >= reloadAt) return { ...v, reload: true };
      v.nextAt = Math.min(v.nextAt ?? Infinity, reloadAt);
    }
    return v;
  }

  /** A picture as the page gets it: file id, URL (signed on the 2026 page) and pixel size. */
  function pic(id: string, width: number, height: number) {
    return { id, url: urlOf(id), width, height };
  }

  /** The turn without the reload: "Creating image" with partials, then its image or its message. */
  function ending(turn: Turn, now: number): View {
    const t = now - turn.createdAt;
    const quarter = latencyMs / 4;
    const eighth = Math.max(latencyMs / 8, 1);
    const base: Record<string, unknown> = { n: turn.n, prompt: turn.prompt, userId: turn.userId, answerId: turn.answerId };
    if (turn.attachments) base.attachments = turn.attachments.map((a) => ({ name: a.name, id: a.fileId, url: urlOf(a.fileId) }));
    /** "Creating image": `partials` of them so far; on the 2026 page the latest one and a percentage. */
    const creating = (partials: number, percent?: number) => {
      const ids = Array.from({ length: partials }, (_, k) => `${turn.fileId}-partial${k + 1}`);
      const state: Record<string, unknown> = { ...base, status: 'creating', partials: ids };
      if (modern) {
        state.uuid = uuidOf(turn.imageId);
        state.width = turn.width;
        state.height = turn.height;
        state.partial = partials > 0 ? pic(ids[partials - 1], Math.round(turn.width / 2), Math.round(turn.height / 2)) : null;
        if (partials > 0 && percent !== undefined) state.percent = percent;
      }
      return state;
    };
    const thinking = () => ({ ...base, status: 'thinking' });
    // After a reload a message must come later than the reload point: at the full latency.
    const textAfter = turn.reload ? latencyMs : latencyMs / 2;
    switch (turn.answer) {
      case 'message': {
        if (t < textAfter) return { state: creating(0), nextAt: turn.createdAt + textAfter };
        const kind = turn.fault as 'cooldown' | 'quota' | 'policy' | 'error' | keyof typeof HOSTILE_REFUSALS;
        const message = kind === 'quota' ? turn.quotaText! : kind === 'policy-long' || kind === 'policy-escape' ? HOSTILE_REFUSALS[kind] : wordings[kind];
        return { state: { ...base, status: 'message', message, error: kind === 'error', toast: kind === 'error' && !modern } };
      }
      case 'reply':
        if (t < textAfter) return { state: thinking(), nextAt: turn.createdAt + textAfter };
        return { state: { ...base, status: 'message', message: turn.fault === 'no-tool' || turn.fault === 'code-image' ? NO_TOOL.reply : describeScene(turn.prompt), error: false, reply: true } };
      case 'notice':
        if (t < textAfter) return { state: creating(0), nextAt: turn.createdAt + textAfter };
        return { state: { ...base, status: 'notice', message: NOTICES.busy, toast: true } };
      case 'code':
        if (t < textAfter) return { state: thinking(), nextAt: turn.createdAt + textAfter };
        return { state: { ...base, status: 'code', message: NO_TOOL.codeIntro, code: NO_TOOL.code, outro: NO_TOOL.codeOutro, pic: pic(turn.codeId!, 640, 480) } };
      case 'timeout':
        // The image never finishes: one partial, the stop button forever.
        return t < quarter ? { state: creating(0), nextAt: turn.createdAt + quarter } : { state: creating(1, 18) };
      case 'image':
        break;
    }
    if (t >= latencyMs) {
      const state: Record<string, unknown> = { ...base, status: 'done', image: turn.imageId, width: turn.width, height: turn.height };
      if (modern) {
        state.uuid = uuidOf(turn.imageId);
        state.pic = pic(turn.imageId, turn.width, turn.height);
        if (turn.second && (turn.chosen === undefined || turn.chosen === 'skip')) {
          // "Which image do you like more?": both, in an order a reload may swap, until a choice collapses it.
          const both = [turn.fileId, turn.second].map((id) => ({ ...pic(id, turn.width, turn.height), uuid: uuidOf(id) }));
          state.pics = turn.flipped ? both.reverse() : both;
          state.choice = turn.chosen === undefined;
        }
        if (turn.fault === 'slow-final') {
          // The blurred previews stay stacked under the final image, which fades in once loaded.
          state.slow = true;
          state.under = [1, 2, 3].map((k) => pic(`${turn.fileId}-partial${k}`, Math.round(turn.width / 2), Math.round(turn.height / 2)));
        }
      } else {
        state.url = urlOf(turn.imageId);
      }
      return { state };
    }
    const partials = Math.min(3, Math.floor(t / Math.max(quarter, 1)));
    if (!modern) return { state: creating(partials), nextAt: turn.createdAt + Math.min(latencyMs, (partials + 1) * quarter) };
    // The 2026 page counts up in steps of an eighth: "Creating image 6%", 18%, 30%, 42% …
    const step = Math.min(7, Math.floor(t / eighth));
    return { state: creating(partials, 6 + 12 * step), nextAt: turn.createdAt + Math.min(latencyMs, (step + 1) * eighth) };
  }

  /** The side bar: the account's latest finished images of any of its conversations, newest first, one entry per file. */
  function recentImages(account: Account | undefined, now: number): RecentImage[] {
    const recent: RecentImage[] = [];
    const seen = new Set<string>();
    const imageTurns = account?.imageTurns ?? [];
    for (let i = imageTurns.length - 1; i >= 0 && recent.length < RECENT_MAX; i--) {
      const turn = imageTurns[i];
      if (now - turn.createdAt < latencyMs || seen.has(turn.imageId)) continue;
      seen.add(turn.imageId);
      const entry: RecentImage = { fileId: turn.imageId, alt: recentAlt(turn.prompt) };
      if (modern) entry.url = urlOf(turn.imageId);
      recent.push(entry);
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
    const recent = recentImages(conversation.owner, now);
    // A short, exact version tag for the long-poll (prompts can be long; the URL must not be).
    const signature = createHash('sha1').update(JSON.stringify([turns, recent])).digest('base64url').slice(0, 16);
    const consumeReload = () => reloading.forEach((turn) => (turn.reloadServed = true));
    return { state: { turns, recent, signature, reload: reloading.length > 0 }, nextAt, consumeReload };
  }

  function countFault(fault: MockFault): void {
    for (const kind of faultKinds(fault)) stats.faults[kind] = (stats.faults[kind] ?? 0) + 1;
  }

  /** What the page asked for besides the text: the image tool (2026) and its aspect choice, its own message id. */
  interface Ask {
    userId?: string;
    attachments: Array<{ fileId: string; name: string }>;
    tool: boolean;
    aspect: MockAspect;
  }

  /** Records a prompt's turn and starts its generation clock; `fault` was chosen when the prompt arrived. */
  function newPrompt(conversation: Conversation, prompt: string, fault: MockFault | undefined, ask: Ask): Turn {
    const now = Date.now();
    const account = conversation.owner;
    const { reload, ending: kind } = faultParts(fault);
    if (kind === 'quota' && now >= account.quotaUntil) account.quotaUntil = now + quotaResetMs;
    const fileId = `file_${randomBytes(12).toString('base64url')}`;
    // The 2024–25 page drew whatever was described; the 2026 one only with the tool on or when asked in words.
    const intent = !modern || ask.tool || asksForImage(prompt);
    const answer: Answer =
      kind && TEXT_FAULTS.includes(kind)
        ? 'message'
        : kind === 'busy'
          ? 'notice'
          : kind === 'timeout'
            ? 'timeout'
            : kind === 'text' || kind === 'no-tool' || !intent
              ? 'reply'
              : kind === 'code-image'
                ? modern ? 'code' : 'reply'
                : 'image';
    // The shape: the aspect control's choice, else a ratio the prompt states, else square.
    const asked: MockRatio = (ask.tool && ask.aspect !== 'auto' ? ask.aspect : undefined) ?? ratioInText(prompt) ?? '1:1';
    const { width, height } = imageShape(kind === 'ignore-aspect' ? '1:1' : asked, size);
    const turn: Turn = {
      n: conversation.turns.length + 1,
      prompt,
      createdAt: now,
      userId: ask.userId ?? randomUUID(),
      answerId: randomUUID(),
      answer,
      width,
      height,
      fault: kind,
      reload,
      reloadServed: false,
      fileId,
      // stale-id: the previous image turn's image, its very file id (and so its very src).
      // With no image before it, the turn shows its own.
      // Its own account's: another account's file is not one this account could be shown.
      imageId: kind === 'stale-id' && account.lastImageTurn ? account.lastImageTurn.imageId : fileId,
    };
    if (kind === 'quota') turn.quotaText = quotaMessage(account.quotaUntil - now, dom);
    if (ask.attachments.length) turn.attachments = ask.attachments;
    if (answer === 'image' && kind === 'two-images' && modern) turn.second = `file_${randomBytes(12).toString('base64url')}`;
    if (answer === 'code') {
      // The code tool's files are named `file-…` (a generated image's `file_…`) and shown as "Output image".
      turn.codeId = `file-${randomBytes(12).toString('base64url')}`;
      addCodeFile(account, turn);
    }
    if (answer === 'image' || answer === 'timeout') addFiles(account, turn, account.lastImageTurn);
    if (answer === 'image') {
      account.lastImageTurn = turn;
      account.imageTurns.push(turn);
      if (account.imageTurns.length > 1000) account.imageTurns.splice(0, account.imageTurns.length - 100);
      setTimeout(() => {
        stats.images += 1;
        if (account.stats) account.stats.images += 1;
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

  /** The cookie's value, if it is a live session. */
  function sessionOf(req: http.IncomingMessage): string | undefined {
    const match = new RegExp(`(?:^|;\\s*)${COOKIE}=([A-Za-z0-9_-]+)`).exec(req.headers.cookie ?? '');
    return match && sessions.has(match[1]) ? match[1] : undefined;
  }
  function accountOf(req: http.IncomingMessage): Account | undefined {
    const id = sessionOf(req);
    return id === undefined ? undefined : sessions.get(id);
  }
  /** A new session for `account` (a new account when none is given) and its Set-Cookie value. */
  function newSession(account: Account = { imageTurns: [], quotaUntil: 0 }): { account: Account; setCookie: string } {
    const id = randomBytes(16).toString('base64url');
    sessions.set(id, account);
    return { account, setCookie: `${COOKIE}=${id}; ${COOKIE_ATTRIBUTES}` };
  }
  /** The account's own conversation `id`; another account's is as unknown to it as one never made. */
  function ownConversation(account: Account | undefined, id: unknown): Conversation | undefined {
    const conversation = typeof id === 'string' ? conversations.get(id) : undefined;
    return conversation && conversation.owner === account ? conversation : undefined;
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
    if (route === 'GET /__mock/prompts') return json(res, 200, promptLog);
    if (route === 'POST /__mock/refused-send') {
      // The page's own report of a send it refused while Send was disabled (an upload still busy).
      stats.sendsWhileDisabled += 1;
      return json(res, 200, {});
    }
    if (route === 'GET /favicon.ico') return void res.writeHead(204, { 'cache-control': 'max-age=3600' }).end();
    if (route === 'GET /__mock/blocker') return json(res, 200, { blocker: accountOf(req)?.blocker ?? null });
    if (route === 'POST /__mock/login' || route === 'POST /__mock/challenge') {
      // Logging in is into the account whose page posts (the wall's form carries its cookie), which
      // keeps everything it had. A post without a live cookie (a test standing in for the person at
      // the window) logs into the one account behind a wall; with several it cannot tell which.
      const session = sessionOf(req);
      let account = session === undefined ? undefined : sessions.get(session);
      if (!account) {
        const walled = [...new Set(sessions.values())].filter((a) => a.blocker);
        if (walled.length > 1) {
          return json(res, 409, { detail: `${walled.length} accounts are behind a wall: post with the cookie of the one to log in` });
        }
        account = walled[0];
      }
      // As a real login does, the session gets a new value and the old one stops working.
      if (session !== undefined) sessions.delete(session);
      if (account) account.blocker = undefined;
      res.writeHead(303, { location: '/', 'set-cookie': newSession(account).setCookie });
      return void res.end();
    }

    // `/c/WEB:<id>` is the address a new chat shows before the server answers; loaded, it is an empty chat.
    if (req.method === 'GET' && (url.pathname === '/' || /^\/c\/(WEB:)?[A-Za-z0-9-]+$/.test(url.pathname))) {
      const headers: Record<string, string> = {};
      let account = accountOf(req);
      if (!account) {
        // The "logged-in profile": the first visit gets a session (a new account), as a persisted login would have.
        const fresh = newSession();
        account = fresh.account;
        headers['set-cookie'] = fresh.setCookie;
      }
      const id = url.pathname.startsWith('/c/') && !url.pathname.startsWith('/c/WEB:') ? url.pathname.slice(3) : null;
      // Like the real site: an unknown conversation, or another account's, is an empty chat (composer, no turns).
      const recent = recentImages(account, Date.now());
      const page = { dom, churn, imageTool, composer, lang };
      const { blocker } = account;
      if (id && !ownConversation(account, id) && !blocker) return send(res, 404, appPage(null, undefined, recent, page), 'text/html; charset=utf-8', headers);
      const blockerBody = blocker === 'login' ? LOGIN_BODY : blocker === 'challenge' ? CHALLENGE_BODY : undefined;
      return send(res, 200, appPage(id, blockerBody, recent, page), 'text/html; charset=utf-8', headers);
    }

    const account = accountOf(req);
    if (url.pathname.startsWith('/backend-api/') && !account) return json(res, 401, { detail: 'Unauthorized' });

    if (route === 'GET /backend-api/images/recent') return json(res, 200, { recent: recentImages(account, Date.now()) });
    if (route === 'POST /backend-api/files') return upload(req, res, account!);

    if (route === 'POST /backend-api/conversation') {
      const body = await readJson(req);
      const prompt = typeof body.prompt === 'string' ? body.prompt.slice(0, 20_000) : '';
      if (!prompt.trim()) return json(res, 400, { detail: 'empty prompt' });
      // An unknown id, or another account's, starts a new conversation, as an unknown one always did here.
      const requested = ownConversation(account, body.conversation_id);
      const conversation = requested ?? { id: randomBytes(16).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'), owner: account!, turns: [] };
      // Attachments: file ids of this account's uploads; anything else is refused before the prompt counts.
      const attached = Array.isArray(body.attachments) ? body.attachments.slice(0, 50) : [];
      const uploads = account!.uploads ?? new Map<string, Upload>();
      const unknown = attached.find((id) => typeof id !== 'string' || !uploads.has(id));
      if (unknown !== undefined) return json(res, 400, { detail: `Unknown attachment: ${String(unknown).slice(0, 80)}` });
      const ask: Ask = {
        attachments: (attached as string[]).map((fileId) => ({ fileId, name: uploads.get(fileId)!.name })),
        userId: typeof body.message_id === 'string' && /^[A-Za-z0-9-]{8,64}$/.test(body.message_id) ? body.message_id : undefined,
        // Only the 2026 page has the tool, and only when it offers it.
        tool: modern && imageTool && body.tool === 'image',
        aspect: (MOCK_ASPECTS as readonly unknown[]).includes(body.aspect) ? (body.aspect as MockAspect) : 'auto',
      };
      stats.prompts += 1;
      const arrived = performance.now();
      const arrivedAt = Date.now();
      stats.lastPromptAt = arrivedAt;
      if (lastPromptAt !== undefined) stats.minPromptGapMs = Math.min(stats.minPromptGapMs ?? Infinity, arrived - lastPromptAt);
      lastPromptAt = arrived;
      const mine = account!;
      if (!mine.stats) stats.accounts.push((mine.stats = { prompts: 0, images: 0, minPromptGapMs: null }));
      mine.stats.prompts += 1;
      if (mine.lastPromptAt !== undefined) mine.stats.minPromptGapMs = Math.min(mine.stats.minPromptGapMs ?? Infinity, arrived - mine.lastPromptAt);
      mine.lastPromptAt = arrived;
      const pending = typeof body.uploads_pending === 'number' ? body.uploads_pending : 0;
      promptLog.push({
        n: stats.prompts,
        account: stats.accounts.indexOf(mine.stats),
        prompt,
        attachments: (attached as string[]).map((fileId) => {
          const u = uploads.get(fileId)!;
          return { fileId, name: u.name, sha256: u.sha256, bytes: u.bytes };
        }),
        uploadsDone: pending === 0 && (attached as string[]).every((id) => (uploads.get(id)!.doneAt ?? Infinity) <= arrivedAt),
      });
      // Numbered site-wide (`quota@3` is the site's third prompt, whoever sent it), rolled on every
      // prompt so the sequence is stable.
      const planned = plan.forPrompt(stats.prompts);
      // A usage cap holds every prompt of its account until it resets, as the real site's does.
      const fault: MockFault | undefined = arrivedAt < mine.quotaUntil ? 'quota' : planned;
      if (fault) countFault(fault);
      // The prompt is in (counted, its turn and generation clock started) now; the page hears back
      // only `urlDelayMs` later, as on the real site, where the URL becomes /c/<id> a moment after
      // the user message and the stop button appeared.
      const answerAt = arrivedAt + urlDelayMs;
      switch (fault) {
        case 'network':
        case 'login':
        case 'challenge':
        case 'too-many':
        case 'unusual':
        case 'account':
          if (fault === 'login' || fault === 'challenge') mine.blocker = fault;
          await until(answerAt);
          if (fault === 'network') return json(res, 502, { detail: 'Bad gateway' });
          if (fault === 'too-many') return json(res, 429, { detail: NOTICES['too-many'] });
          if (fault === 'unusual') return json(res, 403, { detail: NOTICES.unusual });
          if (fault === 'account') return json(res, 500, { detail: NOTICES.account, code: ACCOUNT_CODE });
          return json(res, 401, { blocker: fault === 'login' ? LOGIN_BODY : CHALLENGE_BODY });
      }
      if (!requested) {
        conversations.set(conversation.id, conversation);
        stats.conversations += 1;
      }
      newPrompt(conversation, prompt, fault, ask);
      wake();
      await until(answerAt);
      if (res.destroyed || closing) return;
      const { state, consumeReload } = conversationState(conversation, Date.now());
      consumeReload();
      return json(res, 200, { conversation_id: conversation.id, state });
    }

    const choice = /^\/backend-api\/conversation\/([A-Za-z0-9-]+)\/choice$/.exec(url.pathname);
    if (req.method === 'POST' && choice) {
      // "Image 1 is better" / "Image 2 is better" / "Skip": the answer collapses to the chosen image.
      const conversation = ownConversation(account, choice[1]);
      const body = await readJson(req);
      const turn = conversation?.turns.find((t) => t.n === body.n);
      if (!conversation || !turn?.second || turn.chosen !== undefined) return json(res, 404, { detail: 'No question to answer' });
      if (body.choice === 1 || body.choice === 2) {
        const shown = turn.flipped ? [turn.second, turn.fileId] : [turn.fileId, turn.second];
        turn.imageId = shown[body.choice - 1];
        turn.chosen = body.choice;
      } else turn.chosen = 'skip';
      stats.choices += 1;
      wake();
      return json(res, 200, conversationState(conversation, Date.now()).state);
    }

    const follow = /^\/backend-api\/conversation\/([A-Za-z0-9-]+)$/.exec(url.pathname);
    if (req.method === 'GET' && follow) {
      const conversation = ownConversation(account, follow[1]);
      if (!conversation) return json(res, 404, { detail: 'Conversation not found' });
      const since = url.searchParams.get('since');
      // A fresh load of the page shows an unanswered two-image question the other way round.
      if (since === null) for (const turn of conversation.turns) if (turn.second && turn.chosen === undefined) turn.flipped = !turn.flipped;
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
      const id = url.searchParams.get('id') ?? '';
      // The 2026 URLs are signed: without the sig (or with another URL's) the answer is 403, cookie or not.
      if (modern && !validSignature(id, url.searchParams.get('ts'), url.searchParams.get('sig'))) {
        return json(res, 403, { detail: 'You do not have permission to access this file: the signature is missing or invalid.' });
      }
      const file = files.get(id);
      // Another account's file is as unknown as one never made (its signed URL does not help).
      if (!file || file.owner !== account) return json(res, 404, { detail: 'File not found' });
      // What the page itself shows: an <img> load, or (blob mode) the page's own fetch of the bytes.
      const isPageView = req.headers['sec-fetch-dest'] === 'image' || req.headers[PAGE_VIEW_HEADER] === 'page';
      let bytes: Buffer;
      if (isPageView) bytes = await file.display();
      else {
        file.downloads += 1;
        stats.downloads += 1;
        bytes = await file.download(file.downloads);
      }
      return send(res, 200, bytes, file.type ?? 'image/png');
    }

    return json(res, 404, { detail: 'Not found' });
  }

  /**
   * A file upload: the raw bytes, the name in `x-file-name` (URI-encoded). The answer's headers come
   * at once (`x-mock-upload: accepted`, or `dropped` with the upload-drop fault, when the page shows
   * no tile); its body, `uploadMs` later: the file id and signed URL, or the upload-fail error, or
   * (upload-stuck) never.
   */
  async function upload(req: http.IncomingMessage, res: http.ServerResponse, account: Account): Promise<void> {
    if (Number(req.headers['content-length'] ?? 0) > UPLOAD_MAX_BYTES) return json(res, 413, { detail: 'File is larger than 20 MB' });
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of req) {
      total += (chunk as Buffer).length;
      if (total > UPLOAD_MAX_BYTES) return json(res, 413, { detail: 'File is larger than 20 MB' });
      chunks.push(chunk as Buffer);
    }
    const bytes = Buffer.concat(chunks);
    let name = 'file';
    try {
      name = decodeURIComponent(String(req.headers['x-file-name'] ?? 'file'));
    } catch {
      // A malformed name is just "file".
    }
    name = name.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 255) || 'file';
    const declared = String(req.headers['content-type'] ?? '');
    const type = /^image\/(png|jpeg|webp|gif)$/.test(declared) ? declared : 'application/octet-stream';
    stats.uploads += 1;
    const fault = uploadPlan.forPrompt(stats.uploads);
    if (fault) countFault(fault);
    const fileId = `file_${randomBytes(12).toString('base64url')}`;
    const record: Upload = { name, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
    if (fault !== 'upload-drop' && fault !== 'upload-fail') (account.uploads ??= new Map()).set(fileId, record);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-mock-upload': fault === 'upload-drop' ? 'dropped' : 'accepted' });
    res.flushHeaders();
    if (fault === 'upload-drop') return void res.end('{}');
    if (fault === 'upload-stuck') {
      // Never answered: held until the page goes away or the site closes.
      await new Promise<void>((resolve) => {
        const done = () => {
          sleepers.delete(done);
          resolve();
        };
        sleepers.add(done);
        res.once('close', done);
      });
      return void res.end();
    }
    await until(Date.now() + uploadMs);
    if (res.destroyed) return;
    if (fault === 'upload-fail') return void res.end(JSON.stringify({ error: 'Failed upload to files.oaiusercontent.com' }));
    record.doneAt = Date.now();
    files.set(fileId, { ts: Math.floor(record.doneAt / 1000), display: async () => bytes, download: async () => bytes, downloads: 0, owner: account, type });
    res.end(JSON.stringify({ file_id: fileId, name, url: urlOf(fileId) }));
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
    prompts: () => structuredClone(promptLog),
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
