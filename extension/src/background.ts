// Service worker: owns the socket to the runner's hub, registers the provider's content script and
// routes commands to tabs. It never assumes it stays alive: config is re-read on every connect,
// an app heartbeat keeps the socket (and the worker) busy, and an alarm reconnects after a suspend.
import {
  ContentEventSchema,
  ContentReplySchema,
  HEARTBEAT_MS,
  LIMITS,
  PROTOCOL_VERSION,
  RunnerMessageSchema,
  describeIssues,
  type ContentCommand,
  type ExtensionMessage,
  type RunnerMessage,
} from '../../src/protocol/messages.js';
import type { ProviderDescriptor } from '../../src/protocol/provider.js';
import { serializeError, DisconnectError, GenerationTimeoutError, TransientError, type SerializedError } from '../../src/protocol/errors.js';
import { boundError, boundReply, fitsFrame } from '../../src/protocol/bounds.js';
import { capText } from '../../src/protocol/text.js';

interface HubConfig { port: number; path: string; token: string }

/** A typed failure raised in the page, passed on to the runner exactly as the page serialised it. */
class PageFailure extends Error {
  constructor(readonly serialized: SerializedError) {
    super(serialized.message);
  }
}

const SCRIPT_ID = 'semantest-provider';
let socket: WebSocket | undefined;
let provider: ProviderDescriptor | undefined;
let retryDelayMs = 500;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
/** Tabs whose content script has announced itself since their last navigation. */
const readyTabs = new Set<number>();
const readyWaiters = new Map<number, Array<() => void>>();

async function loadConfig(): Promise<HubConfig | undefined> {
  try {
    const response = await fetch(chrome.runtime.getURL('config.json'), { cache: 'no-store' });
    return response.ok ? ((await response.json()) as HubConfig) : undefined;
  } catch {
    return undefined;
  }
}

async function connect(): Promise<void> {
  if (socket && socket.readyState <= WebSocket.OPEN) return;
  const config = await loadConfig();
  if (!config || (socket && socket.readyState <= WebSocket.OPEN)) return;
  const ws = new WebSocket(`ws://127.0.0.1:${config.port}${config.path}`);
  socket = ws;
  ws.onopen = () => {
    retryDelayMs = 500;
    send({ type: 'hello', v: PROTOCOL_VERSION, token: config.token, extensionId: chrome.runtime.id });
  };
  ws.onmessage = (event) => void onRunnerMessage(String(event.data));
  ws.onclose = (event) => {
    if (socket === ws) socket = undefined;
    // The hub refuses with 4xxx codes for reasons a retry cannot fix (token, version, origin).
    if (event.code >= 4000 && event.code < 4100 && event.code !== 4008 && event.code !== 4010) return;
    scheduleReconnect();
  };
}

function scheduleReconnect(): void {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => void connect(), retryDelayMs);
  retryDelayMs = Math.min(retryDelayMs * 2, 15_000);
}

function send(message: ExtensionMessage): void {
  if (socket?.readyState !== WebSocket.OPEN) return;
  let json = JSON.stringify(message);
  // A frame over the hub's maxPayload closes the socket and fails every job in flight; fail this one only.
  if (!fitsFrame(json)) {
    if (!('id' in message) || !message.id) return;
    json = JSON.stringify({ type: 'fail', id: message.id, error: serializeError(new TransientError(`the ${message.type} message was over the hub's 1 MiB`)) } satisfies ExtensionMessage);
  }
  socket.send(json);
}

async function onRunnerMessage(text: string): Promise<void> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return send({ type: 'invalid', message: 'not JSON' });
  }
  const parsed = RunnerMessageSchema.safeParse(data);
  if (!parsed.success) {
    const id = typeof (data as { id?: unknown })?.id === 'string' ? (data as { id: string }).id : undefined;
    return send({ type: 'invalid', id: id && id.length <= 64 ? id : undefined, message: describeIssues(parsed.error) });
  }
  const message = parsed.data;
  if (message.type === 'welcome') return registerProvider(message.provider);
  if (message.type === 'heartbeat-ack' || message.type === 'invalid') return;
  try {
    // Page strings are cut to the hub's bounds here, the one place every reply passes (§3 "Bounds").
    send({ type: 'reply', id: message.id, data: boundReply(message.type, await handleRequest(message)) });
  } catch (error) {
    send({ type: 'fail', id: message.id, error: boundError(error instanceof PageFailure ? error.serialized : serializeError(error)) });
  }
}

/** A new active tab in `replaceTabId`'s window when that tab still exists, else in a new window. */
async function openTabIn(url: string, replaceTabId: number | undefined): Promise<chrome.tabs.Tab | undefined> {
  if (replaceTabId !== undefined) {
    const old = await chrome.tabs.get(replaceTabId).catch(() => undefined);
    if (old?.windowId !== undefined) return chrome.tabs.create({ windowId: old.windowId, url, active: true });
  }
  const window = await chrome.windows.create({ url, focused: false });
  return window?.tabs?.[0];
}

async function handleRequest(message: Exclude<RunnerMessage, { type: 'welcome' | 'heartbeat-ack' | 'invalid' }>): Promise<unknown> {
  const current = requireProvider();
  switch (message.type) {
    case 'open-tab': {
      // One window per tab: a tab that is not the active one in its window gets no frames, so its
      // screenshots stall and its timers are throttled; each page stays "visible" in its own window.
      // A replacement opens, active, in the old tab's window (the runner closes the old tab next):
      // every new window also feeds the browser's own UI renderer, which then grows all run long.
      const tab = await openTabIn(message.url, message.replaceTabId);
      if (tab?.id === undefined) throw new DisconnectError('the browser did not open a tab');
      await waitForReady(tab.id, current.timings.readyTimeoutMs);
      return { tabId: tab.id };
    }
    case 'generate':
      await waitForReady(message.tabId, current.timings.readyTimeoutMs);
      return toTab(message.tabId, {
        type: 'cs-generate',
        provider: current,
        jobId: message.jobId,
        prompt: message.prompt,
        timeoutMs: message.timeoutMs,
        sendGapMs: message.sendGapMs,
        excludeFileIds: message.excludeFileIds,
        imageIntent: message.imageIntent,
        ...(message.aspect ? { aspect: message.aspect } : {}),
        // Up to 40 MiB of references, runner → page only: chrome.tabs.sendMessage carries up to 64 MiB.
        ...(message.attachments?.length ? { attachments: message.attachments } : {}),
      });
    case 'probe':
      await waitForReady(message.tabId, current.timings.readyTimeoutMs);
      return toTab(message.tabId, { type: 'cs-probe', provider: current });
    case 'find-image':
      await waitForReady(message.tabId, current.timings.readyTimeoutMs);
      return toTab(message.tabId, {
        type: 'cs-find-image',
        provider: current,
        jobId: message.jobId,
        prompt: message.prompt,
        excludeFileIds: message.excludeFileIds,
        timeoutMs: message.timeoutMs,
      });
  }
}

function requireProvider(): ProviderDescriptor {
  if (!provider) throw new DisconnectError('the extension has no provider yet (no welcome from the hub)');
  return provider;
}

async function toTab(tabId: number, command: ContentCommand): Promise<unknown> {
  let raw: unknown;
  try {
    raw = await chrome.tabs.sendMessage(tabId, command);
  } catch (error) {
    throw new DisconnectError(`the page went away during the job (${(error as Error).message})`);
  }
  const reply = ContentReplySchema.safeParse(raw);
  if (!reply.success) throw new DisconnectError(`invalid reply from the page: ${describeIssues(reply.error)}`);
  if (!reply.data.ok) throw new PageFailure(reply.data.error);
  return reply.data.data;
}

function waitForReady(tabId: number, timeoutMs: number): Promise<void> {
  if (readyTabs.has(tabId)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      remove();
      reject(new GenerationTimeoutError(`the page in tab ${tabId} did not load within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    const waiter = () => {
      clearTimeout(timer);
      resolve();
    };
    const remove = () => readyWaiters.set(tabId, (readyWaiters.get(tabId) ?? []).filter((w) => w !== waiter));
    readyWaiters.set(tabId, [...(readyWaiters.get(tabId) ?? []), waiter]);
  });
}

async function registerProvider(next: ProviderDescriptor): Promise<void> {
  provider = next;
  const origin = new URL(next.baseUrl);
  // Match patterns carry no port: the mock site runs on a random one.
  const matches = [`${origin.protocol}//${origin.hostname}/*`];
  await chrome.scripting.unregisterContentScripts({ ids: [SCRIPT_ID] }).catch(() => undefined);
  await chrome.scripting.registerContentScripts([
    { id: SCRIPT_ID, matches, js: ['content.js'], runAt: 'document_idle', persistAcrossSessions: false },
  ]);
  // Tabs already open on the site get the script now; it guards against running twice.
  for (const tab of await chrome.tabs.query({ url: matches })) {
    if (tab.id !== undefined) await chrome.scripting.executeScript({ target: { tabId: tab.id }, files: ['content.js'] }).catch(() => undefined);
  }
}

// The runner's gate spaces the prompts; this is the last word, at the moment of sending, so tabs
// whose pages loaded at different speeds still cannot send in a burst.
let lastSendAt = 0;
let sendQueue: Promise<unknown> = Promise.resolve();
function sendPermit(gapMs: number): Promise<void> {
  const turn = sendQueue.then(async () => {
    const wait = lastSendAt + gapMs - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    lastSendAt = Date.now();
  });
  sendQueue = turn.catch(() => undefined);
  return turn;
}

chrome.runtime.onMessage.addListener((raw, sender, sendResponse) => {
  const tabId = sender.tab?.id;
  const parsed = ContentEventSchema.safeParse(raw);
  if (tabId === undefined || !parsed.success) return;
  const event = parsed.data;
  if (event.type === 'cs-send-permit') {
    void sendPermit(event.sendGapMs).then(() => sendResponse(true));
    return true; // answered asynchronously
  }
  if (event.type === 'cs-ready') {
    readyTabs.add(tabId);
    for (const waiter of readyWaiters.get(tabId) ?? []) waiter();
    readyWaiters.delete(tabId);
  } else {
    // An address too long for the hub is left out: progress is a hint, the reply carries the address too.
    const conversationUrl = event.conversationUrl && event.conversationUrl.length <= LIMITS.url ? event.conversationUrl : undefined;
    send({ type: 'progress', tabId, jobId: capText(event.jobId, LIMITS.jobId), phase: event.phase, conversationUrl });
  }
});

chrome.tabs.onUpdated.addListener((tabId, change) => {
  if (change.status === 'loading') readyTabs.delete(tabId);
});
chrome.tabs.onRemoved.addListener((tabId) => readyTabs.delete(tabId));

setInterval(() => send({ type: 'heartbeat', t: Date.now() }), HEARTBEAT_MS);
chrome.alarms.create('semantest-reconnect', { periodInMinutes: 0.5 });
chrome.alarms.onAlarm.addListener(() => void connect());
chrome.runtime.onStartup.addListener(() => void connect());
void connect();
