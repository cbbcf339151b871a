// The extension's side of the hub's bounds (ARCHITECTURE §3, "Bounds"): what the worker forwards is
// cut to LIMITS before it is sent, so a legitimate but long page string (a 10 KB alt text, a signed
// src past 4 KB) never turns a good answer into an invalid message. Only wrong-typed fields are left
// as they are, for the runner's schema to name. Imports nothing from Node: bundled into the extension.
import { DriftError, VerificationError, type SerializedError } from './errors.js';
import { LIMITS, MAX_PAYLOAD_BYTES, ROLE_NAME, type RequestType } from './messages.js';
import { capText, cleanText } from './text.js';

type Loose = Record<string, unknown>;

/** Prose from the page: no control characters, head and tail kept. */
const prose = (value: unknown, max: number = LIMITS.text) => (typeof value === 'string' ? capText(cleanText(value), max) : value);

/** A request's reply data, cut to the bounds; throws a typed failure when cutting would change what it means. */
export function boundReply(type: RequestType, data: unknown): unknown {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return data;
  if (type === 'generate' || type === 'find-image') return boundImage(data as Loose);
  if (type === 'probe') return boundProbe(data as Loose);
  return data;
}

function boundImage(found: Loose): Loose {
  const out: Loose = { ...found, alt: prose(found.alt) };
  if (typeof out.src === 'string' && out.src.length > LIMITS.src) {
    // Too long to send, but the page loaded it: the runner reads the bytes of the marked element in the page.
    if (typeof out.marker !== 'string') throw new VerificationError(`the image's address is ${out.src.length} characters long (over ${LIMITS.src}) and the image is not marked, so its bytes cannot be read`);
    out.inPage = true;
  }
  if (out.inPage === true && typeof out.src === 'string') out.src = out.src.slice(0, LIMITS.inPageSrc);
  if (typeof out.fileId === 'string' && out.fileId.length > LIMITS.fileId) {
    // Cutting an id would make two images one; a page whose ids are this long is not the page the descriptor knows.
    throw new DriftError(`the image's file id is ${out.fileId.length} characters long (at most ${LIMITS.fileId}): the descriptor's imageSrc or imageContainerId pattern no longer picks out a file id`);
  }
  if (typeof out.conversationUrl === 'string' && out.conversationUrl.length > LIMITS.url) out.conversationUrl = conversationAddress(out.conversationUrl);
  if (out.matched !== null && typeof out.matched === 'object') {
    out.matched = Object.fromEntries(Object.entries(out.matched).filter(([role]) => ROLE_NAME.test(role)).slice(0, LIMITS.list));
  }
  return out;
}

/** A conversation's address without its query and fragment, which a revisit does not need. */
function conversationAddress(href: string): string {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return href; // not a URL: the runner's schema says so
  }
  url.search = '';
  url.hash = '';
  if (url.href.length > LIMITS.url) throw new DriftError(`the conversation's address is ${url.href.length} characters long (at most ${LIMITS.url}): not a conversation page the descriptor knows`);
  return url.href;
}

function boundProbe(result: Loose): Loose {
  const out: Loose = { ...result, url: prose(result.url, LIMITS.url), title: prose(result.title) };
  if (Array.isArray(result.roles)) {
    out.roles = result.roles.slice(0, LIMITS.list).map((probe: unknown) => {
      if (probe === null || typeof probe !== 'object') return probe;
      const role = probe as Loose;
      return {
        ...role,
        selector: prose(role.selector, LIMITS.selector),
        tried: Array.isArray(role.tried) ? role.tried.slice(0, LIMITS.list).map((s) => prose(s, LIMITS.selector)) : role.tried,
      };
    });
  }
  return out;
}

/** A failure as it may cross the hub: name and message cut, a reset time only when it is one. */
export function boundError(error: SerializedError): SerializedError {
  const out: SerializedError = {
    name: cleanText(String(error.name), { singleLine: true }).slice(0, LIMITS.name),
    message: capText(cleanText(String(error.message)), LIMITS.text),
    kind: error.kind,
  };
  const reset = error.resetInMs;
  if (typeof reset === 'number' && Number.isFinite(reset) && reset >= 0 && reset <= LIMITS.resetInMs) out.resetInMs = reset;
  return out;
}

/** Whether a serialised message fits in one hub frame (ws measures bytes, not characters). */
export function fitsFrame(json: string): boolean {
  // Each UTF-16 unit is at most 3 UTF-8 bytes: most messages are decided without encoding them.
  return json.length * 3 <= MAX_PAYLOAD_BYTES || new TextEncoder().encode(json).length <= MAX_PAYLOAD_BYTES;
}
