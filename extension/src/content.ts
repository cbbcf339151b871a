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
  type Aspect,
  type Attachment,
  type ContentEvent,
  type ContentReply,
  type ImageFound,
  type ImageIntent,
  type ProbeResult,
} from '../../src/protocol/messages.js';
import { isConversationUrl, toRegExp, type ProviderDescriptor } from '../../src/protocol/provider.js';
import { capText } from '../../src/protocol/text.js';
import {
  ChallengeError,
  CooldownError,
  DriftError,
  GenerationTimeoutError,
  LoginRequiredError,
  NoImageError,
  PolicyError,
  QuotaError,
  StaleImageError,
  TransientError,
  UploadError,
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
    const work: Promise<unknown> = command.type === 'cs-generate'
      ? generate(command.provider, command)
      : command.type === 'cs-find-image'
        ? revisit(command.provider, command.jobId, command.prompt, new Set(command.excludeFileIds), command.timeoutMs)
        : probe(command.provider);
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
  return firstOf(selectors, root)?.element ?? null;
}

function firstOf(selectors: string[], root: ParentNode = document): { element: HTMLElement; index: number } | null {
  for (const [index, selector] of selectors.entries()) {
    const element = root.querySelector<HTMLElement>(selector);
    if (element) return { element, index };
  }
  return null;
}

/** Roles this page matched only by a fallback selector (index > 0), reported with each image. */
const fallbacks: Record<string, number> = {};

/** Looks a role up by its ordered selectors, remembering when only a fallback matched. */
function role(p: ProviderDescriptor, name: keyof ProviderDescriptor['selectors']): HTMLElement | null {
  const found = firstOf(p.selectors[name]);
  if (found && found.index > 0) fallbacks[name] = Math.max(fallbacks[name] ?? 0, found.index);
  return found?.element ?? null;
}

function driftError(p: ProviderDescriptor, name: keyof ProviderDescriptor['selectors']): DriftError {
  return new DriftError(`the page no longer matches the ${p.name} descriptor: ${name} not found (tried ${p.selectors[name].map((s) => `\`${s}\``).join(', ')})`);
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
  if (/^\/auth(\/|$)/.test(location.pathname)) throw new LoginRequiredError('the site moved to its login page: log in to this profile (semantest-run login)');
  // Page text is capped (head and tail) before any pattern runs on it (ARCHITECTURE §4, "Page text").
  const whole = visibleText(document.body);
  const text = capText(whole);
  if (toRegExp(p.text.challenge).test(text) && !first(p.selectors.composer)) {
    throw new ChallengeError(`the site shows a challenge ("${excerpt(text, toRegExp(p.text.challenge))}")`);
  }
  if (!first(p.selectors.composer)) {
    const loginButton = first(p.selectors.login);
    // The cheap length check first: a long page is no login wall, whatever its lines say.
    if (loginButton || (whole.length < p.timings.loginMaxTextLength && toRegExp(p.text.login).test(text))) {
      throw new LoginRequiredError('the site shows a login page: log in to this profile (semantest-run login)');
    }
  }
}

function excerpt(text: string, pattern: RegExp): string {
  const match = pattern.exec(text);
  if (!match) return text.slice(0, 120).trim();
  // The line of the match; of a long line, the 300 characters around the match (the words that matched).
  const lineStart = text.lastIndexOf('\n', match.index) + 1;
  const lineEnd = text.indexOf('\n', match.index + match[0].length);
  const end = Math.min(lineEnd === -1 ? text.length : lineEnd, Math.max(lineStart + 300, match.index + 150, match.index + match[0].length));
  const start = Math.max(lineStart, end - 300);
  return text.slice(start, end).trim();
}

/** The image's file id: from its src, or (blob: and data: srcs) from its container's id. */
function fileIdOf(p: ProviderDescriptor, img: HTMLImageElement): string | undefined {
  const fromSrc = toRegExp(p.imageSrc).exec(img.getAttribute('src') ?? '')?.[1];
  if (fromSrc) return fromSrc;
  if (!/^(blob|data):/.test(img.getAttribute('src') ?? '')) return undefined;
  const container = p.selectors.imageContainer.length ? img.closest<HTMLElement>(p.selectors.imageContainer.join(', ')) : null;
  return container ? toRegExp(p.imageContainerId).exec(container.id)?.[1] : undefined;
}

/** The bytes of blob: and data: images can only be read inside the page. */
const readableOnlyInPage = (img: HTMLImageElement) => /^(blob|data):/.test(img.getAttribute('src') ?? '');

/** Hidden copies (backdrops) show the same picture; the visible one is the one to prove. */
const hidden = (img: HTMLElement) => img.closest('[aria-hidden="true"]') !== null;

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
  const images = turns
    .flatMap((t) => all(p.selectors.image, t))
    .filter((e): e is HTMLImageElement => e instanceof HTMLImageElement && !inUserTurn(p, e));
  return { turns, text: turns.map(visibleText).join('\n'), images };
}

/**
 * An image the user sent (a reference shown in a user turn, served from the same URLs as generated
 * images): never the panel's image. Any image inside a user message or inside a turn holding one
 * (ARCHITECTURE §4, "Attachments"). Not "any image in a dialog button": generated ones may be too.
 */
function inUserTurn(p: ProviderDescriptor, img: HTMLElement): boolean {
  if (p.selectors.userMessage.some((s) => img.closest(s))) return true;
  const users = p.selectors.userMessage.join(', ');
  return p.selectors.turn.some((s) => img.closest(s)?.querySelector(users));
}

/** File ids of every image the user turns show: an answer echoing one of them is no new image. */
function userImageFileIds(p: ProviderDescriptor): string[] {
  const images = [...document.querySelectorAll<HTMLImageElement>('img')].filter((img) => inUserTurn(p, img));
  return images.map((img) => fileIdOf(p, img)).filter((id): id is string => id !== undefined);
}

function newErrors(p: ProviderDescriptor, before: Set<HTMLElement>): string[] {
  return all(p.selectors.error).filter((e) => !before.has(e)).map(visibleText).filter((t) => t.trim().length > 0);
}

/**
 * Maps what the page says in the answer (or a new error element) to a typed failure. `answerText`
 * comes capped by the caller, each of its parts on its own (the answer, the notices).
 */
function failOnPageText(p: ProviderDescriptor, answerText: string, errors: string[]): void {
  // A toast or alert may carry a cooldown or a cap as well as a plain error ("Too many requests").
  // Each part is capped (head and tail) before the patterns run: a refusal's words sit at its start
  // or its end, and 400 KB of answer must not make a pattern slow.
  const turnText = [answerText, ...errors.map((t) => capText(t))].join('\n');
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

function reportImage(p: ProviderDescriptor, img: HTMLImageElement, fileId: string, jobId: string, intent?: ImageFound['intent']): ImageFound {
  // Marked so the runner screenshots (and, for blob: and data:, reads) this element, not a copy elsewhere.
  const marker = `${jobId.replace(/[^A-Za-z0-9]/g, '').slice(0, 40)}-${++markers}`;
  img.setAttribute('data-semantest-image', marker);
  const inPage = readableOnlyInPage(img);
  return {
    src: inPage ? img.src.slice(0, 200) : img.src,
    ...(inPage ? { inPage: true } : {}),
    fileId,
    naturalWidth: img.naturalWidth,
    naturalHeight: img.naturalHeight,
    alt: img.alt,
    conversationUrl: location.href,
    marker,
    ...(intent ? { intent } : {}),
    ...(Object.keys(fallbacks).length ? { matched: { ...fallbacks } } : {}),
  };
}

/**
 * The 2026 page's two-image question ("Which image do you like more?"): its "Image N is better"
 * buttons by N (the descriptor's `text.choiceButton`, group 1 = N). A choice collapses the answer
 * to the chosen image, so a revisit finds that one.
 */
function choiceButtons(p: ProviderDescriptor, turns: HTMLElement[]): Map<number, HTMLElement> {
  const CHOICE_BUTTON = toRegExp(p.text.choiceButton);
  const buttons = new Map<number, HTMLElement>();
  for (const t of turns) {
    for (const b of t.querySelectorAll<HTMLElement>('button, [role="button"]')) {
      const label = normalize(visibleText(b));
      const n = Number(label.length < 60 ? CHOICE_BUTTON.exec(label)?.[1] : undefined);
      if (Number.isInteger(n) && n >= 1 && n <= 9 && !buttons.has(n)) buttons.set(n, b);
    }
  }
  return buttons;
}

type Outcome = { image: HTMLImageElement; fileId: string } | { ended: 'stale' | 'no-image' | 'no-answer'; detail: string };

/** Live regions (status, aria-live) whose text changed since the send, read for failure wordings only. */
function noticeWatcher(p: ProviderDescriptor): () => string {
  const before = new Map(all(p.selectors.notice).map((e) => [e, visibleText(e)]));
  return () => all(p.selectors.notice).map((e) => (before.get(e) === visibleText(e) ? '' : visibleText(e))).filter(Boolean).join('\n');
}

/**
 * Reads the answer to `user` until it ends: the finished image (new, loaded, visible, the largest of
 * any copies, generation over), a failure in the page's words (thrown), or an end without a usable
 * image. Returns undefined when `deadline` passes first.
 */
async function readAnswer(
  p: ProviderDescriptor,
  user: () => HTMLElement | null,
  exclude: Set<string>,
  errorsBefore: Set<HTMLElement>,
  deadline: number,
  onChange: () => void = () => undefined,
): Promise<Outcome | undefined> {
  const generating = toRegExp(p.text.generating);
  const done = toRegExp(p.text.done);
  const notices = noticeWatcher(p);
  let signature = '';
  let quietSince = Date.now();
  /** The image this answer's two-image question was answered with: the only one it may report. */
  let chosen: string | undefined;
  for (;;) {
    checkBlockers(p);
    onChange();
    const mine = user();
    const answer = mine ? answerTo(p, mine) : { turns: [], text: '', images: [] };
    // The answer's text as the patterns see it: capped, head and tail (ARCHITECTURE §4, "Page text").
    const matched = capText(answer.text);
    failOnPageText(p, `${matched}\n${capText(notices())}`, newErrors(p, errorsBefore));
    const stop = role(p, 'stop') !== null;
    // The user's own images (references) by file id: an answer that shows one again shows no new image.
    const sentByUser = new Set(userImageFileIds(p));
    const shown = answer.images
      .map((img) => ({ img, fileId: fileIdOf(p, img) }))
      .filter((c): c is { img: HTMLImageElement; fileId: string } => c.fileId !== undefined && !sentByUser.has(c.fileId));
    const loaded = shown.filter(({ img }) => img.complete && img.naturalWidth > p.timings.minImageWidth);
    // An image still loading its bytes, or a container with no image in it yet, is pending.
    const scaffolds = answer.turns.flatMap((t) => all(p.selectors.imageContainer, t)).filter((c) => !c.querySelector('img'));
    const loading = shown.some(({ img }) => !img.complete) || scaffolds.length > 0;
    const still = generating.test(matched) && !done.test(matched);
    const question = choiceButtons(p, answer.turns);
    if (!stop && !still && !loading && question.size > 0 && !chosen) {
      // Image N is the N-th picture the answer shows (copies aside): answer with the first we may take.
      const order = [...new Map(shown.filter((c) => !hidden(c.img)).map((c) => [c.fileId, c])).values()];
      const pick = order.findIndex((c, i) => !exclude.has(c.fileId) && loaded.includes(c) && question.has(i + 1));
      if (pick >= 0) {
        chosen = order[pick].fileId;
        press(question.get(pick + 1)!);
      }
    }
    // Answered, the page has yet to collapse the answer: report nothing yet.
    const asking = question.size > 0 && chosen !== undefined;
    if (!stop && !still && !loading && !asking) {
      let best: { img: HTMLImageElement; fileId: string; score: number } | undefined;
      for (const c of loaded) {
        if (exclude.has(c.fileId) || (chosen !== undefined && c.fileId !== chosen)) continue;
        const box = c.img.getBoundingClientRect();
        // Visible before hidden copies, then the largest on screen, then the largest file.
        const score = (hidden(c.img) ? 0 : 1e12) + box.width * box.height * 1e3 + c.img.naturalWidth * c.img.naturalHeight / 1e6;
        if (!best || score > best.score) best = { ...c, score };
      }
      if (best) return { image: best.img, fileId: best.fileId };
    }
    const now = Date.now();
    const nextSignature = `${stop}|${answer.turns.length}|${answer.text.length}|${scaffolds.length}|${shown.map((c) => `${c.fileId}:${c.img.complete}`).join(',')}`;
    if (nextSignature !== signature) {
      signature = nextSignature;
      quietSince = now;
    }
    // Ended: no stop button, nothing loading, and the page says "done" or has been still a while.
    const settled = !stop && !loading && !asking && (done.test(matched) || now - quietSince >= p.timings.settleMs);
    if (settled && mine && answer.turns.length > 0) {
      if (loaded.length > 0) {
        const ids = [...new Set(loaded.map((c) => c.fileId))].join(', ');
        return { ended: 'stale', detail: `the finished answer shows only an image already used by another panel (file id ${ids}): the page showed an old image` };
      }
      if (normalize(answer.text).length > 0) {
        return { ended: 'no-image', detail: `the answer ended without an image: "${normalize(answer.text).slice(0, 300)}"` };
      }
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

/** Waits briefly for something the page draws after a click (a menu, a pill); null if it does not come. */
async function briefly<T>(p: ProviderDescriptor, ms: number, probe: () => T | null | undefined): Promise<T | null> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) return null;
    await nextChange(Math.min(p.timings.pollMs, 100));
  }
}

const MENU_WAIT_MS = 3_000;

/**
 * Presses a control as a person does: menus on the real site (Radix) open on pointerdown and
 * ignore a bare click, items act on the click that follows.
 */
function press(element: HTMLElement): void {
  const at = element.getBoundingClientRect();
  const init = { bubbles: true, cancelable: true, composed: true, button: 0, clientX: at.x + at.width / 2, clientY: at.y + at.height / 2 };
  element.dispatchEvent(new PointerEvent('pointerdown', { ...init, pointerType: 'mouse', isPrimary: true }));
  element.dispatchEvent(new MouseEvent('mousedown', init));
  element.dispatchEvent(new PointerEvent('pointerup', { ...init, pointerType: 'mouse', isPrimary: true }));
  element.dispatchEvent(new MouseEvent('mouseup', init));
  element.click();
}

/** The menu entry that turns the image tool on: an entry of the image-tool role whose text says so. */
function imageToolEntry(p: ProviderDescriptor): HTMLElement | null {
  const wording = toRegExp(p.text.imageTool);
  return all(p.selectors.imageToolItem).find((e) => wording.test(capText(visibleText(e)))) ?? null;
}

function closeMenu(): void {
  document.activeElement?.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
  document.body.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
}

/** Turns the page's image tool on (the + menu, confirmed by the pill); false when the page offers none. */
async function turnImageToolOn(p: ProviderDescriptor): Promise<boolean> {
  if (role(p, 'imageToolOn')) return true;
  const plus = p.selectors.plusButton.length ? role(p, 'plusButton') : null;
  if (!plus) return false;
  press(plus);
  const entry = await briefly(p, MENU_WAIT_MS, () => imageToolEntry(p));
  if (!entry) {
    closeMenu();
    return false;
  }
  press(entry);
  const on = await briefly(p, MENU_WAIT_MS, () => role(p, 'imageToolOn'));
  if (!on) closeMenu();
  return on !== null;
}

/** Chooses the panel's shape in the page's aspect control, when it has one; the prompt states it too. */
async function chooseAspect(p: ProviderDescriptor, aspect: Aspect): Promise<void> {
  const control = p.selectors.aspectControl.length ? role(p, 'aspectControl') : null;
  if (!control) return;
  const label = aspect === 'auto' ? /^\s*Auto\b/i : new RegExp(`(^|\\D)${aspect.replace(':', '\\s*:\\s*')}(\\D|$)`);
  if (label.test(visibleText(control))) return;
  press(control);
  const option = await briefly(p, MENU_WAIT_MS, () => all(p.selectors.aspectOption).find((e) => e !== control && label.test(visibleText(e))) ?? null);
  if (!option) {
    closeMenu();
    return;
  }
  press(option);
}

// ── Attachments (ARCHITECTURE §4, "Attachments") ──

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Whether `label` names the file `name`, allowing the page's renames of a name it has seen before:
 * `mara.png` shows as `mara.png`, `mara(1).png` or `mara(20260920-152709).png`. The name stands
 * alone in the label ("Remove mara.png", "Remove file 2: mara.png"), not inside a longer name.
 */
function namesFile(label: string, name: string, exact = false): boolean {
  const dot = name.lastIndexOf('.');
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot) : '';
  const pattern = new RegExp(`(^|[\\s:"'“])${escapeRegExp(stem)}${exact ? '' : '(\\(\\d{1,4}\\)|\\(\\d{1,14}-\\d{1,14}\\))?'}${escapeRegExp(ext)}($|[\\s"'”])`, 'i');
  return pattern.test(normalize(label));
}

/** Every name a tile gives itself: its text and the labels, titles and alts of it and its parts. */
function tileLabels(tile: HTMLElement): string[] {
  const parts = [tile, ...tile.querySelectorAll<HTMLElement>('*')];
  const labels = parts.flatMap((e) => [e.getAttribute('aria-label'), e.getAttribute('title'), e.getAttribute('alt')]);
  return [visibleText(tile), tile.textContent ?? '', ...labels].filter((l): l is string => !!l && l.length < 2000);
}

function isBusy(p: ProviderDescriptor, tile: HTMLElement): boolean {
  return p.selectors.attachmentBusy.some((s) => tile.matches(s) || tile.querySelector(s) !== null);
}

function isDisabled(button: HTMLElement): boolean {
  return (button as HTMLButtonElement).disabled === true || button.getAttribute('aria-disabled') === 'true';
}

function base64ToBytes(base64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(base64);
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The composer form's file input: never one outside the form (a decoy there drops what it is given). */
function fileInputOf(p: ProviderDescriptor): HTMLInputElement {
  const form = role(p, 'composerForm');
  if (!form) throw driftError(p, 'composerForm');
  for (const selector of p.selectors.fileInput) {
    const input = [...form.querySelectorAll<HTMLElement>(selector)].find((e): e is HTMLInputElement => e instanceof HTMLInputElement && e.type === 'file');
    if (input) return input;
  }
  throw new DriftError(`the page no longer matches the ${p.name} descriptor: fileInput not found inside the composer form (tried ${p.selectors.fileInput.map((s) => `\`${s}\``).join(', ')})`);
}

/** What the page says about an upload that failed: the banner's line, or null. */
function uploadBanner(p: ProviderDescriptor, errorsBefore: Set<HTMLElement>, notices: () => string): string | null {
  const failed = toRegExp(p.text.uploadFailed);
  const form = first(p.selectors.composerForm);
  // The form's text without the message box: a prompt that says "Failed upload" is no banner.
  const box = form ? first(p.selectors.composer, form) : null;
  const formText = form ? visibleText(form).replace(box ? visibleText(box) : '\u0000', '') : '';
  const texts = [...newErrors(p, errorsBefore), notices(), formText].map((t) => capText(t));
  const hit = texts.find((t) => failed.test(t));
  return hit === undefined ? null : excerpt(hit, failed);
}

/**
 * Attaches every file at once through the form's file input (a DataTransfer, then a bubbling
 * change), then waits until each file has its own new tile. Returns a check to run after the prompt
 * is typed: every upload done and Send enabled and steady. Fails with an UploadError naming the
 * file on the banner, a file with no tile, or an upload still busy at the bound.
 */
async function attach(p: ProviderDescriptor, files: Attachment[]): Promise<(sendRole: () => HTMLElement | null) => Promise<HTMLElement>> {
  const input = fileInputOf(p);
  const tilesBefore = new Set(all(p.selectors.attachmentTile));
  const errorsBefore = new Set(all(p.selectors.error));
  const notices = noticeWatcher(p);
  const started = Date.now();
  const transfer = new DataTransfer();
  for (const file of files) transfer.items.add(new File([base64ToBytes(file.base64)], file.name, { type: file.type }));
  input.files = transfer.files;
  input.dispatchEvent(new Event('change', { bubbles: true }));
  // The page clears the input after taking the files: only the tiles say what it took.

  /** Each file's tile: new since the attach, named after it, each tile used once. */
  const tilesOf = (): Map<string, HTMLElement> => {
    const fresh = all(p.selectors.attachmentTile).filter((t) => !tilesBefore.has(t));
    const free = new Set(fresh);
    const found = new Map<string, HTMLElement>();
    // Exact names first, renames after: `mara.png` must not take the tile of a file named `mara(1).png`.
    for (const exact of [true, false]) {
      for (const file of files) {
        if (found.has(file.name)) continue;
        const tile = [...free].find((t) => tileLabels(t).some((l) => namesFile(l, file.name, exact)));
        if (tile) {
          found.set(file.name, tile);
          free.delete(tile);
        }
      }
    }
    return found;
  };
  const failFast = () => {
    checkBlockers(p);
    const banner = uploadBanner(p, errorsBefore, notices);
    if (banner) {
      const tiles = tilesOf();
      // The banner names no file: a tile that says it failed does, else a file with no tile.
      const named = files.filter((f) => tiles.has(f.name) && failedTile(tiles.get(f.name)!, p));
      const culprits = named.length ? named : files.filter((f) => !tiles.has(f.name));
      throw new UploadError(`the upload failed for ${(culprits.length ? culprits : files).map((f) => f.name).join(', ')}: the page says "${banner.slice(0, 200)}"`);
    }
  };

  for (;;) {
    failFast();
    if (tilesOf().size === files.length) break;
    if (Date.now() - started > p.timings.tileTimeoutMs) {
      const tiles = tilesOf();
      const dropped = files.filter((f) => !tiles.has(f.name)).map((f) => f.name);
      throw new UploadError(`the page dropped ${dropped.join(', ')}: no tile appeared for it within ${Math.round(p.timings.tileTimeoutMs / 1000)} s of attaching`);
    }
    await nextChange(p.timings.pollMs);
  }

  return async (sendRole) => {
    let steadySince: number | undefined;
    for (;;) {
      failFast();
      const tiles = tilesOf();
      const missing = files.filter((f) => !tiles.has(f.name)).map((f) => f.name);
      if (missing.length) throw new UploadError(`the page dropped ${missing.join(', ')}: its tile went away before the send`);
      const busy = files.filter((f) => isBusy(p, tiles.get(f.name)!)).map((f) => f.name);
      const send = sendRole();
      const ready = busy.length === 0 && send !== null && !isDisabled(send);
      const now = Date.now();
      if (!ready) steadySince = undefined;
      else if (steadySince === undefined) steadySince = now;
      else if (now - steadySince >= p.timings.sendSteadyMs) return send!;
      if (now - started > p.timings.uploadTimeoutMs) {
        const what = busy.length ? `${busy.join(', ')} still uploading` : send ? 'every upload shown done but Send still disabled' : 'every upload shown done but no Send button';
        throw new UploadError(`the upload never finished: ${what} ${Math.round(p.timings.uploadTimeoutMs / 1000)} s after attaching`);
      }
      // A steady Send is a span of time, not a change: look again within the steady period.
      await nextChange(ready ? Math.min(p.timings.pollMs, Math.max(MIN_CHECK_GAP_MS, p.timings.sendSteadyMs)) : p.timings.pollMs);
    }
  };
}

/** A tile that itself says its upload failed (the banner names no file; a tile may). */
function failedTile(tile: HTMLElement, p: ProviderDescriptor): boolean {
  return toRegExp(p.text.uploadFailed).test(capText(tileLabels(tile).join('\n')));
}

async function generate(
  p: ProviderDescriptor,
  command: { jobId: string; prompt: string; timeoutMs: number; sendGapMs: number; excludeFileIds: string[]; imageIntent: ImageIntent; aspect?: Aspect; attachments?: Attachment[] },
): Promise<ImageFound> {
  const { jobId, timeoutMs, sendGapMs } = command;
  const deadline = Date.now() + timeoutMs;
  const composer = await waitFor('the message box', p.timings.readyTimeoutMs, p, () => role(p, 'composer')).catch((error) => {
    throw error instanceof TransientError ? driftError(p, 'composer') : error;
  });
  // Image intent made explicit: the page's image tool when it offers one, else (or also) a prefix.
  const tool = await turnImageToolOn(p);
  const prefixed = !tool || command.imageIntent === 'tool-and-prefix';
  const intent: ImageFound['intent'] = tool ? (prefixed ? 'tool+prefix' : 'tool') : 'prefix';
  if (tool && command.aspect) await chooseAspect(p, command.aspect);
  // Attached after the tool and the aspect, never before: opening the + menu again can switch the
  // tool off. The uploads run while the prompt is typed; the send waits for them.
  const attachments = command.attachments ?? [];
  const uploaded = attachments.length ? await attach(p, attachments) : undefined;
  if (attachments.length) void announce({ type: 'cs-progress', jobId, phase: 'attached' });
  const prompt = prefixed && !command.prompt.toLowerCase().startsWith(p.imagePrefix.trim().toLowerCase()) ? `${p.imagePrefix}${command.prompt}` : command.prompt;
  // Anything on the page before the send (side bars, earlier turns) can never be this prompt's image.
  const exclude = new Set([...command.excludeFileIds, ...imageFileIds(p)]);
  const errorsBefore = new Set(all(p.selectors.error));
  const usersBefore = new Set(all(p.selectors.userMessage));

  const box = role(p, 'composer') ?? composer;
  fill(box, prompt);
  const head = prompt.slice(0, 40).replace(/\s+/g, ' ').trim();
  if (!composerText(box).replace(/\s+/g, ' ').includes(head)) throw new TransientError('the message box did not take the prompt');
  void announce({ type: 'cs-progress', jobId, phase: 'filled' });

  // The 2026 page has a send button only while the composer holds text; with attachments it stays
  // disabled until every upload is done.
  const send = uploaded
    ? await uploaded(() => role(p, 'send'))
    : await waitFor('an enabled send button', p.timings.sendTimeoutMs, p, () => {
      const button = role(p, 'send');
      return button && !isDisabled(button) ? button : null;
    }).catch((error) => {
      throw error instanceof TransientError ? driftError(p, 'send') : error;
    });
  if (sendGapMs > 0) await chrome.runtime.sendMessage({ type: 'cs-send-permit', sendGapMs } satisfies ContentEvent);
  const watchUrl = conversationWatcher(p, jobId, isConversationUrl(location.href, p) ? location.href : undefined);
  // pushState fires no event a content script sees: check on a short timer as well as on changes.
  const urlTimer = setInterval(watchUrl, 100);
  try {
    send.click();
    const sentMessage = () => {
      const user = userMessageOf(p, command.prompt);
      return user && !usersBefore.has(user) ? user : null;
    };
    await waitFor('the sent message', p.timings.sendTimeoutMs, p, () => {
      watchUrl();
      if (sentMessage() || role(p, 'stop')) return true;
      failOnPageText(p, '', newErrors(p, errorsBefore));
      return null;
    });
    void announce({ type: 'cs-progress', jobId, phase: 'sent', ...(isConversationUrl(location.href, p) ? { conversationUrl: location.href } : {}) });
    const outcome = await readAnswer(p, sentMessage, exclude, errorsBefore, deadline, watchUrl);
    watchUrl();
    if (!outcome) throw new GenerationTimeoutError(`no finished image after ${Math.round(timeoutMs / 1000)} s`);
    if ('image' in outcome) return reportImage(p, outcome.image, outcome.fileId, jobId, intent);
    if (outcome.ended === 'stale') throw new StaleImageError(outcome.detail);
    if (outcome.ended === 'no-image') throw new NoImageError(`${outcome.detail} (asked by ${intent === 'tool' ? 'the image tool' : intent === 'prefix' ? `the prefix "${p.imagePrefix.trim()}"` : 'the image tool and the prefix'})`);
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
  await waitFor('the conversation', p.timings.readyTimeoutMs, p, () => role(p, 'composer'));
  // The page draws the conversation after it loads; a conversation without our message is not ours.
  const user = await waitFor('this prompt in the conversation', Math.min(p.timings.readyTimeoutMs, timeoutMs), p, () => userMessageOf(p, prompt))
    .catch((error) => (error instanceof TransientError ? null : Promise.reject(error)));
  if (!user) return null;
  const outcome = await readAnswer(p, () => userMessageOf(p, prompt), exclude, new Set(all(p.selectors.error)), deadline);
  return outcome && 'image' in outcome ? reportImage(p, outcome.image, outcome.fileId, jobId) : null;
}

/** Every role of the descriptor looked up on the live page, nothing sent (doctor). */
async function probe(p: ProviderDescriptor): Promise<ProbeResult> {
  const names: Array<keyof ProviderDescriptor['selectors']> = ['composer', 'send', 'stop', 'turn', 'userMessage', 'image', 'newChat', 'login', 'plusButton', 'imageToolOn', 'aspectControl', 'imageContainer', 'composerForm'];
  const roles = names.map((name) => {
    const found = firstOf(p.selectors[name]);
    return { role: name, found: found !== null, ...(found ? { index: found.index, selector: p.selectors[name][found.index] } : {}), tried: p.selectors[name] };
  });
  let page: ProbeResult['page'] = 'ready';
  try {
    checkBlockers(p);
    if (!first(p.selectors.composer)) page = 'no-composer';
  } catch (error) {
    page = error instanceof ChallengeError ? 'challenge' : 'login';
  }
  // Whether the image tool is offered: open the + menu, look, close it again.
  let imageTool: ProbeResult['imageTool'] = 'absent';
  if (first(p.selectors.imageToolOn)) imageTool = 'offered';
  else {
    const plus = p.selectors.plusButton.length ? first(p.selectors.plusButton) : null;
    if (plus) {
      press(plus);
      if (await briefly(p, MENU_WAIT_MS, () => imageToolEntry(p))) imageTool = 'offered';
      closeMenu();
      if (first(p.selectors.imageToolItem)) press(plus);
    }
  }
  return { url: location.href, title: document.title, page, roles, imageTool };
}
