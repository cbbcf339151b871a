// The page's HTML as evidence a user may share (ARCHITECTURE "Evidence and secrets"). Sanitised in
// two steps. In the page, on a deep clone of the live DOM (the page itself is never touched):
// elements that run code or carry data are dropped, attributes are cut down, URLs lose their query
// and fragment (where signed URLs keep `sig=`, `token=`), long token-like values are replaced; the
// browser then serialises the clone, so what is removed is decided on parsed nodes, not on text
// matched by patterns. In Node, every cookie value the browser context holds (HttpOnly ones too,
// which `document.cookie` never shows), the page's `document.cookie` values and the hub token are
// removed from the result wherever they appear, text included.

export interface SanitizedPage {
  html: string;
  /** The page's `document.cookie`, so its values can be scrubbed from the HTML in Node. */
  documentCookie: string;
}

/**
 * Runs inside the page (page.evaluate): self-contained, no reference to anything outside itself.
 * What it keeps is the structure, text, classes, roles and labels a person needs to see why an
 * attempt failed; without scripts and external styles the copy will not look exactly like the page.
 */
export function serializeSanitizedPage(): SanitizedPage {
  const REMOVED = '[removed]';
  const clone = document.documentElement.cloneNode(true) as HTMLElement;
  // Code, other documents, and places pages keep tokens (meta tags, preload links, hidden inputs).
  const dropped = 'script, noscript, iframe, frame, frameset, object, embed, applet, portal, template, base, link, meta:not([charset]), input[type="hidden" i]';
  for (const element of clone.querySelectorAll(dropped)) element.remove();
  const walker = document.createTreeWalker(clone, NodeFilter.SHOW_COMMENT);
  const comments: Node[] = [];
  while (walker.nextNode()) comments.push(walker.currentNode);
  for (const comment of comments) comment.parentNode?.removeChild(comment);

  const urlAttributes = new Set(['href', 'src', 'srcset', 'imagesrcset', 'action', 'formaction', 'poster', 'data', 'cite', 'background', 'ping', 'xlink:href', 'longdesc', 'manifest']);
  // 32+ characters of a token alphabet without a break: a signature, a session or an API key.
  // A UUID (the page's turn and conversation ids) names something, it does not grant anything.
  const token = /[A-Za-z0-9_\-+=~%]{32,}/g;
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const scrubTokens = (value: string) => value.replace(token, (match) => (uuid.test(match) ? match : REMOVED));
  // A URL's query and fragment go (signed image URLs carry `sig=`); its origin and path stay.
  const stripQueries = (value: string) => value.replace(/[?#][^\s,"'()]*/g, '');
  const looksLikeUrl = (value: string) => /^\s*(?:[a-z][a-z0-9+.-]*:\/\/|\/|blob:)/i.test(value);

  const elements = [clone, ...clone.querySelectorAll('*')];
  for (const element of elements) {
    const tag = element.localName;
    for (const { name, value } of [...element.attributes]) {
      const lower = name.toLowerCase();
      const code = /^\s*(?:javascript|vbscript):/i.test(value);
      const formValue = lower === 'value' && (tag === 'input' || tag === 'textarea' || tag === 'select' || tag === 'option' || tag === 'button');
      if (lower.startsWith('on') || lower === 'nonce' || lower === 'integrity' || lower === 'srcdoc' || code || formValue) {
        element.removeAttribute(name);
        continue;
      }
      let next = value;
      if (/^\s*data:/i.test(next)) next = 'data:,';
      else if (urlAttributes.has(lower) || lower === 'style' || looksLikeUrl(next)) next = stripQueries(next);
      // Class names are the site's own words (and some are long): not where a token hides.
      if (lower !== 'class') next = scrubTokens(next);
      if (next !== value) element.setAttribute(name, next);
    }
    if (tag === 'textarea') element.textContent = '';
    if (tag === 'style') element.textContent = scrubTokens(stripQueries(element.textContent ?? ''));
  }
  const note = '<!-- Semantest evidence: scripts, cookies, form values, URL queries and tokens were removed from this copy of the page. -->';
  return { html: `<!DOCTYPE html>\n${note}\n${clone.outerHTML}`, documentCookie: document.cookie };
}

/** Values shorter than this are not secrets ("1", "true", "en-US") and would garble the text if removed. */
const MIN_SECRET_LENGTH = 8;

/** Removes each secret value from `text` as written, URL-encoded and HTML-escaped. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
    forms.add(secret.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;'));
  }
  // Longest first, so a secret that contains another is removed whole.
  let out = text;
  for (const form of [...forms].sort((a, b) => b.length - a.length)) out = out.split(form).join('[removed]');
  return out;
}
