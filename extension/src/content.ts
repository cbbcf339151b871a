// Content script: runs the provider descriptor's generic steps in the page — wait for the composer,
// fill, send, then read the answer to this prompt until it ends: an image, or a typed failure in the
// page's own words. Every selector and text comes from the descriptor; nothing here knows a site.
//
// The answer to a prompt is the turns that follow the user message carrying that prompt, up to the
// next user message (docs/ARCHITECTURE.md, "The answer turn"). Side bars, library thumbnails and
// earlier turns are never part of it, on the first send and on every revisit alike.
import {
  ContentCommandSchema,
  describeIssues,
  type ContentEvent,
  type ContentReply,
  type ImageFound,
} from '../../src/protocol/messages.js';
import { isConversationUrl, toRegExp, type ProviderDescriptor } from '../../src/protocol/provider.js';
import {
  ChallengeError,
  CooldownError,
  GenerationTimeoutError,
  LoginRequiredError,
  NoImageError,
  PolicyError,
  QuotaError,
  TransientError,
  VerificationError,
  serializeError,
} from '../../src/protocol/errors.js';

declare global {
  interface Window { __semantestContent?: boolean }
}

if (!window.__semantestContent) {
  window.__semantestContent = true;
  chrome.runtime.onMessage.addListener((raw, _sender, sendResponse) => {
    const parsed = ContentCommandSchema.safeParse(raw);
    if (!parsed.success) {
      sendResponse({ ok: false, error: serializeError(new TransientError(`invalid command: ${describeIssues(parsed.error)}`)) } satisfies ContentReply);
      return false;
    }
    const command = parsed.data;
    if (command.type === 'cs-ping') {
      sendResponse({ ok: true, data: location.href } satisfies ContentReply);
      return false;
    }
    const work = command.type === 'cs-generate'
      ? generate(command.provider, command.jobId, command.prompt, command.timeoutMs, command.sendGapMs, new Set(command.excludeFileIds))
      : revisit(command.provider, command.jobId, command.prompt, new Set(command.excludeFileIds), command.timeoutMs);
    work.then(
      (data) => sendResponse({ ok: true, data } satisfies ContentReply),
      (error) => sendResponse({ ok: false, error: serializeError(error) } satisfies ContentReply),
    );
    return true; // the answer comes asynchronously
  });
  void announce({ type: 'cs-ready', url: location.href });
}

function announce(event: ContentEvent): Promise<unknown> {
  return chrome.runtime.sendMessage(event).catch(() => undefined);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Checks never run closer than this, however busy the page (a streaming answer mutates a lot). */
const MIN_CHECK_GAP_MS = 20;

/**
 * Waits until the page changes (DOM mutation, an image or other resource finished loading) or
 * `ms` passes, whichever is first: a finished image is noticed at once, not at the next poll.
 */
async function nextChange(ms: number): Promise<void> {
  const since = Date.now();
  // Listen first: a change that lands while we wait out the minimum gap must still count.
  await new Promise<void>((resolve) => {
    const done = () => {
      observer.disconnect();
      document.removeEventListener('load', done, true);
      clearTimeout(timer);
      resolve();
    };
    const observer = new MutationObserver(done);
    observer.observe(document.documentElement, { childList: true, subtree: true, attributes: true, characterData: true });
    document.addEventListener('load', done, true); // load events do not bubble; capture sees <img> loads
    const timer = setTimeout(done, ms);
  });
  const waited = Date.now() - since;
  if (waited < MIN_CHECK_GAP_MS) await sleep(MIN_CHECK_GAP_MS - waited);
}

function first(selectors: string[], root: ParentNode = document): HTMLElement | null {
  for (const selector of selectors) {
    const element = root.querySelector<HTMLElement>(selector);
    if (element) return element;
  }
  return null;
}

function all(selectors: string[], root: ParentNode = document): HTMLElement[] {
  const seen = new Set<HTMLElement>();
  for (const selector of selectors) for (const element of root.querySelectorAll<HTMLElement>(selector)) seen.add(element);
  return [...seen];
}

/** In document order, without elements nested inside another one of the list. */
function outermost(elements: HTMLElement[]): HTMLElement[] {
  const sorted = [...elements].sort((a, b) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1));
  return sorted.filter((e) => !sorted.some((other) => other !== e && other.contains(e)));
}

const follows = (later: Node, earlier: Node) => (earlier.compareDocumentPosition(later) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0;

function visibleText(element: HTMLElement | null): string {
  return element?.innerText ?? element?.textContent ?? '';
}

const normalize = (text: string) => text.replace(/\s+/g, ' ').trim();

/** A login wall or challenge stops everything: we never work around it. */
function checkBlockers(p: ProviderDescriptor): void {
  const text = visibleText(document.body);
  if (toRegExp(p.text.challenge).test(text) && !first(p.selectors.composer)) {
    throw new ChallengeError(`the site shows a challenge ("${excerpt(text, toRegExp(p.text.challenge))}")`);
  }
  if (!first(p.selectors.composer)) {
    const loginButton = first(p.selectors.login);
    if (loginButton || (toRegExp(p.text.login).test(text) && text.length < p.timings.loginMaxTextLength)) {
      throw new LoginRequiredError('the site shows a login page: log in to this profile (semantest-run login)');
    }
  }
}

function excerpt(text: string, pattern: RegExp): string {
  const match = pattern.exec(text);
  if (!match) return text.slice(0, 120).trim();
  const start = text.lastIndexOf('\n', match.index) + 1;
  const end = text.indexOf('\n', match.index + match[0].length);
  return text.slice(start, end === -1 ? undefined : end).trim().slice(0, 300);
}

function fileIdOf(p: ProviderDescriptor, img: HTMLImageElement): string | undefined {
  return toRegExp(p.imageSrc).exec(img.getAttribute('src') ?? '')?.[1];
}

function imageFileIds(p: ProviderDescriptor): Set<string> {
  const ids = new Set<string>();
  for (const element of all(p.selectors.image)) {
    const id = element instanceof HTMLImageElement ? fileIdOf(p, element) : undefined;
    if (id) ids.add(id);
  }
  return ids;
}

async function waitFor<T>(what: string, timeoutMs: number, p: ProviderDescriptor, probe: () => T | null | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    checkBlockers(p);
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new TransientError(`${what} did not appear within ${Math.round(timeoutMs / 1000)} s`);
    await nextChange(p.timings.pollMs);
  }
}

function fill(composer: HTMLElement, prompt: string): void {
  composer.focus();
  if (composer instanceof HTMLTextAreaElement) {
    composer.select();
  } else {
    const range = document.createRange();
    range.selectNodeContents(composer);
    const selection = window.getSelection();
    selection?.removeAllRanges();
    selection?.addRange(range);
  }
  // insertText goes through the editor's own input handling (ProseMirror), unlike setting text.
  document.execCommand('insertText', false, prompt);
  composer.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertText', data: prompt }));
}

function composerText(composer: HTMLElement): string {
  return composer instanceof HTMLTextAreaElement ? composer.value : visibleText(composer);
}

/** The user message carrying this prompt: the last one whose text starts like it. */
function userMessageOf(p: ProviderDescriptor, prompt: string): HTMLElement | null {
  const head = normalize(prompt).slice(0, 80);
  const mine = outermost(all(p.selectors.userMessage)).filter((e) => normalize(visibleText(e)).includes(head));
  return mine.at(-1) ?? null;
}

interface Answer {
  turns: HTMLElement[];
  text: string;
  images: HTMLImageElement[];
}

/** The turns after `user` up to the next user message, their text and their images. */
function answerTo(p: ProviderDescriptor, user: HTMLElement): Answer {
  const next = outermost(all(p.selectors.userMessage)).find((e) => e !== user && !e.contains(user) && !user.contains(e) && follows(e, user));
  const turns = outermost(all(p.selectors.turn)).filter(
    (t) => !t.contains(user) && follows(t, user) && (!next || (!t.contains(next) && follows(next, t))),
  );
  const images = turns.flatMap((t) => all(p.selectors.image, t)).filter((e): e is HTMLImageElement => e instanceof HTMLImageElement);
  return { turns, text: turns.map(visibleText).join('\n'), images };
}

function newErrors(p: ProviderDescriptor, before: Set<HTMLElement>): string[] {
  return all(p.selectors.error).filter((e) => !before.has(e)).map(visibleText).filter((t) => t.trim().length > 0);
}

/** Maps what the page says in the answer (or a new error element) to a typed failure. */
function failOnPageText(p: ProviderDescriptor, turnText: string, errors: string[]): void {
  const quota = toRegExp(p.text.quota);
  if (quota.test(turnText)) {
    const reset = toRegExp(p.text.quotaReset).exec(turnText);
    const resetInMs = reset && (reset[1] || reset[2] || reset[3])
      ? ((Number(reset[1] ?? 0) * 60 + Number(reset[2] ?? 0)) * 60 + Number(reset[3] ?? 0)) * 1000
      : undefined;
    throw new QuotaError(excerpt(turnText, quota), resetInMs);
  }
  const cooldown = toRegExp(p.text.cooldown);
  if (cooldown.test(turnText)) throw new CooldownError(excerpt(turnText, cooldown));
  const policy = toRegExp(p.text.policy);
  if (policy.test(turnText)) throw new PolicyError(excerpt(turnText, policy));
  const error = toRegExp(p.text.error);
  if (errors.length) throw new TransientError(`the site reported an error: ${errors[0].trim().slice(0, 300)}`);
  if (error.test(turnText)) throw new TransientError(`the site reported an error: ${excerpt(turnText, error)}`);
}

let markers = 0;

function reportImage(p: ProviderDescriptor, img: HTMLImageElement, fileId: string, jobId: string): ImageFound {
  // Marked so the runner screenshots this element, not a copy of the same src elsewhere on the page.
  const marker = `${jobId.replace(/[^A-Za-z0-9]/g, '').slice(0, 40)}-${++markers}`;
  img.setAttribute('data-semantest-image', marker);
  return { src: img.src, fileId, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight, alt: img.alt, conversationUrl: location.href, marker };
}

type Outcome = { image: ImageFound } | { ended: 'stale' | 'no-image' | 'no-answer'; detail: string };

/**
 * Reads the answer to `user` until it ends: the finished image (new, loaded, the largest of any
 * copies, generation over), a failure in the page's words (thrown), or an end without a usable image.
 * Returns undefined when `deadline` passes first.
 */
async function readAnswer(
  p: ProviderDescriptor,
  jobId: string,
  user: () => HTMLElement | null,
  exclude: Set<string>,
  errorsBefore: Set<HTMLElement>,
  deadline: number,
  onChange: () => void = () => undefined,
): Promise<Outcome | undefined> {
  const generating = toRegExp(p.text.generating);
  const done = toRegExp(p.text.done);
  let signature = '';
  let quietSince = Date.now();
  for (;;) {
    checkBlockers(p);
    onChange();
    const mine = user();
    const answer = mine ? answerTo(p, mine) : { turns: [], text: '', images: [] };
    failOnPageText(p, answer.text, newErrors(p, errorsBefore));
    const stop = first(p.selectors.stop) !== null;
    const shown = answer.images
      .map((img) => ({ img, fileId: fileIdOf(p, img) }))
      .filter((c): c is { img: HTMLImageElement; fileId: string } => c.fileId !== undefined);
    const loaded = shown.filter(({ img }) => img.complete && img.naturalWidth > p.timings.minImageWidth);
    const loading = shown.some(({ img }) => !img.complete);
    const still = generating.test(answer.text) && !done.test(answer.text);
    if (!stop && !still) {
      let best: { img: HTMLImageElement; fileId: string } | undefined;
      for (const c of loaded) {
        if (exclude.has(c.fileId)) continue;
        if (!best || c.img.naturalWidth * c.img.naturalHeight >= best.img.naturalWidth * best.img.naturalHeight) best = c;
      }
      if (best) return { image: reportImage(p, best.img, best.fileId, jobId) };
    }
    const now = Date.now();
    const nextSignature = `${stop}|${answer.turns.length}|${answer.text.length}|${shown.map((c) => `${c.fileId}:${c.img.complete}`).join(',')}`;
    if (nextSignature !== signature) {
      signature = nextSignature;
      quietSince = now;
    }
    // Ended: no stop button, nothing loading, and the page says "done" or has been still a while.
    const settled = !stop && !loading && (done.test(answer.text) || now - quietSince >= p.timings.settleMs);
    if (settled && mine && answer.turns.length > 0) {
      if (loaded.length > 0) {
        const ids = [...new Set(loaded.map((c) => c.fileId))].join(', ');
        return { ended: 'stale', detail: `the finished answer shows only an image already used by another panel (file id ${ids}): the page showed an old image` };
      }
      return { ended: 'no-image', detail: `the answer ended without an image: "${normalize(answer.text).slice(0, 300)}"` };
    }
    if (settled && mine && answer.turns.length === 0 && now - quietSince >= p.timings.settleMs * 2) {
      return { ended: 'no-answer', detail: 'the message has no answer and nothing is being generated' };
    }
    if (now > deadline) return undefined;
    await nextChange(p.timings.pollMs);
  }
}

/** Reports the conversation URL the first time the page moves to one (the site names it late). */
function conversationWatcher(p: ProviderDescriptor, jobId: string, known?: string): () => void {
  let reported = known;
  return () => {
    const url = location.href;
    if (url !== reported && isConversationUrl(url, p)) {
      reported = url;
      void announce({ type: 'cs-progress', jobId, phase: 'conversation', conversationUrl: url });
    }
  };
}

async function generate(p: ProviderDescriptor, jobId: string, prompt: string, timeoutMs: number, sendGapMs: number, excluded: Set<string>): Promise<ImageFound> {
  const deadline = Date.now() + timeoutMs;
  const composer = await waitFor('the message box', p.timings.readyTimeoutMs, p, () => first(p.selectors.composer));
  // Anything on the page before the send (side bars, earlier turns) can never be this prompt's image.
  const exclude = new Set([...excluded, ...imageFileIds(p)]);
  const errorsBefore = new Set(all(p.selectors.error));
  const usersBefore = new Set(all(p.selectors.userMessage));

  fill(composer, prompt);
  const head = prompt.slice(0, 40).replace(/\s+/g, ' ').trim();
  if (!composerText(composer).replace(/\s+/g, ' ').includes(head)) throw new TransientError('the message box did not take the prompt');
  void announce({ type: 'cs-progress', jobId, phase: 'filled' });

  const send = await waitFor('an enabled send button', p.timings.sendTimeoutMs, p, () => {
    const button = first(p.selectors.send) as HTMLButtonElement | null;
    return button && !button.disabled ? button : null;
  });
  if (sendGapMs > 0) await chrome.runtime.sendMessage({ type: 'cs-send-permit', sendGapMs } satisfies ContentEvent);
  const watchUrl = conversationWatcher(p, jobId, isConversationUrl(location.href, p) ? location.href : undefined);
  // pushState fires no event a content script sees: check on a short timer as well as on changes.
  const urlTimer = setInterval(watchUrl, 100);
  try {
    send.click();
    const sentMessage = () => {
      const user = userMessageOf(p, prompt);
      return user && !usersBefore.has(user) ? user : null;
    };
    await waitFor('the sent message', p.timings.sendTimeoutMs, p, () => {
      watchUrl();
      if (sentMessage() || first(p.selectors.stop)) return true;
      failOnPageText(p, '', newErrors(p, errorsBefore));
      return null;
    });
    void announce({ type: 'cs-progress', jobId, phase: 'sent', ...(isConversationUrl(location.href, p) ? { conversationUrl: location.href } : {}) });
    const outcome = await readAnswer(p, jobId, sentMessage, exclude, errorsBefore, deadline, watchUrl);
    watchUrl();
    if (!outcome) throw new GenerationTimeoutError(`no finished image after ${Math.round(timeoutMs / 1000)} s`);
    if ('image' in outcome) return outcome.image;
    if (outcome.ended === 'stale') throw new VerificationError(outcome.detail);
    if (outcome.ended === 'no-image') throw new NoImageError(outcome.detail);
    throw new TransientError(outcome.detail);
  } finally {
    clearInterval(urlTimer);
  }
}

/**
 * After a reload, a timeout or a crash: reads this prompt's answer in the conversation exactly as a
 * first send does. Null when there is nothing of ours to take (the prompt is not in this
 * conversation, or its answer ended with no new image): the runner then sends the prompt again.
 */
async function revisit(p: ProviderDescriptor, jobId: string, prompt: string, exclude: Set<string>, timeoutMs: number): Promise<ImageFound | null> {
  const deadline = Date.now() + timeoutMs;
  await waitFor('the conversation', p.timings.readyTimeoutMs, p, () => first(p.selectors.composer));
  // The page draws the conversation after it loads; a conversation without our message is not ours.
  const user = await waitFor('this prompt in the conversation', Math.min(p.timings.readyTimeoutMs, timeoutMs), p, () => userMessageOf(p, prompt))
    .catch((error) => (error instanceof TransientError ? null : Promise.reject(error)));
  if (!user) return null;
  const outcome = await readAnswer(p, jobId, () => userMessageOf(p, prompt), exclude, new Set(all(p.selectors.error)), deadline);
  return outcome && 'image' in outcome ? outcome.image : null;
}
