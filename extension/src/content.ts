// Content script: runs the provider descriptor's generic steps in the page — wait for the composer,
// fill, send, then watch the new turn until the finished image or a typed failure. Every selector
// and text comes from the descriptor; nothing here knows a particular site.
import {
  ContentCommandSchema,
  describeIssues,
  type ContentEvent,
  type ContentReply,
  type ImageFound,
} from '../../src/protocol/messages.js';
import { toRegExp, type ProviderDescriptor } from '../../src/protocol/provider.js';
import {
  ChallengeError,
  CooldownError,
  GenerationTimeoutError,
  LoginRequiredError,
  PolicyError,
  QuotaError,
  TransientError,
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
      ? generate(command.provider, command.jobId, command.prompt, command.timeoutMs, command.sendGapMs)
      : findImage(command.provider, new Set(command.excludeFileIds), command.timeoutMs);
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

function visibleText(element: HTMLElement | null): string {
  return element?.innerText ?? element?.textContent ?? '';
}

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

async function generate(p: ProviderDescriptor, jobId: string, prompt: string, timeoutMs: number, sendGapMs: number): Promise<ImageFound> {
  const deadline = Date.now() + timeoutMs;
  const composer = await waitFor('the message box', p.timings.readyTimeoutMs, p, () => first(p.selectors.composer));
  const before = imageFileIds(p);
  const turnsBefore = all(p.selectors.turn).length;
  const errorsBefore = new Set(all(p.selectors.error));

  fill(composer, prompt);
  const head = prompt.slice(0, 40).replace(/\s+/g, ' ').trim();
  if (!composerText(composer).replace(/\s+/g, ' ').includes(head)) throw new TransientError('the message box did not take the prompt');
  void announce({ type: 'cs-progress', jobId, phase: 'filled' });

  const send = await waitFor('an enabled send button', p.timings.sendTimeoutMs, p, () => {
    const button = first(p.selectors.send) as HTMLButtonElement | null;
    return button && !button.disabled ? button : null;
  });
  if (sendGapMs > 0) await chrome.runtime.sendMessage({ type: 'cs-send-permit', sendGapMs } satisfies ContentEvent);
  send.click();
  await waitFor('the sent message', p.timings.sendTimeoutMs, p, () =>
    all(p.selectors.turn).length > turnsBefore || first(p.selectors.stop) || newErrors(p, errorsBefore).length ? true : null,
  );
  void announce({ type: 'cs-progress', jobId, phase: 'sent', conversationUrl: location.href });

  let announcedGenerating = false;
  for (;;) {
    checkBlockers(p);
    const turnText = all(p.selectors.turn).slice(turnsBefore).map(visibleText).join('\n');
    failOnPageText(p, turnText, newErrors(p, errorsBefore));
    if (!announcedGenerating && toRegExp(p.text.generating).test(turnText)) {
      announcedGenerating = true;
      void announce({ type: 'cs-progress', jobId, phase: 'generating', conversationUrl: location.href });
    }
    const image = finishedImage(p, before);
    if (image) return image;
    if (Date.now() > deadline) throw new GenerationTimeoutError(`no finished image after ${Math.round(timeoutMs / 1000)} s`);
    await nextChange(p.timings.pollMs);
  }
}

function newErrors(p: ProviderDescriptor, before: Set<HTMLElement>): string[] {
  return all(p.selectors.error).filter((e) => !before.has(e)).map(visibleText).filter((t) => t.trim().length > 0);
}

/** Maps what the page says in the new turn (or a new error element) to a typed failure. */
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

/** The finished image: new since the prompt, loaded, the largest of any stacked partials, generation over. */
function finishedImage(p: ProviderDescriptor, before: Set<string>): ImageFound | null {
  if (first(p.selectors.stop)) return null;
  let best: { img: HTMLImageElement; fileId: string; area: number } | null = null;
  for (const element of all(p.selectors.image)) {
    if (!(element instanceof HTMLImageElement)) continue;
    const fileId = fileIdOf(p, element);
    if (!fileId || before.has(fileId)) continue;
    if (!element.complete || element.naturalWidth <= p.timings.minImageWidth) continue;
    const area = element.naturalWidth * element.naturalHeight;
    if (!best || area >= best.area) best = { img: element, fileId, area };
  }
  if (!best) return null;
  return {
    src: best.img.src,
    fileId: best.fileId,
    naturalWidth: best.img.naturalWidth,
    naturalHeight: best.img.naturalHeight,
    alt: best.img.alt,
    conversationUrl: location.href,
  };
}

/** After a reload, a timeout or a crash: is the image already in this conversation? */
async function findImage(p: ProviderDescriptor, exclude: Set<string>, timeoutMs: number): Promise<ImageFound | null> {
  const deadline = Date.now() + timeoutMs;
  await waitFor('the conversation', p.timings.readyTimeoutMs, p, () => first(p.selectors.composer));
  // The page draws the conversation after it loads; an empty one after a while has nothing for us.
  const drawn = await waitFor('the conversation turns', Math.min(p.timings.readyTimeoutMs, timeoutMs), p, () => all(p.selectors.turn).length > 0 || null)
    .catch((error) => (error instanceof TransientError ? false : Promise.reject(error)));
  if (!drawn) return null;
  for (;;) {
    checkBlockers(p);
    const image = finishedImage(p, exclude);
    if (image) return image;
    const stillGenerating = first(p.selectors.stop) || toRegExp(p.text.generating).test(all(p.selectors.turn).map(visibleText).join('\n'));
    // An image element still loading its bytes is not an absent image.
    const stillLoading = all(p.selectors.image).some((e) => {
      const id = e instanceof HTMLImageElement ? fileIdOf(p, e) : undefined;
      return id !== undefined && !exclude.has(id) && !(e as HTMLImageElement).complete;
    });
    if ((!stillGenerating && !stillLoading) || Date.now() > deadline) return null;
    await nextChange(p.timings.pollMs);
  }
}
