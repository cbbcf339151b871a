// Text that comes from a page or a prompt file is untrusted: it may carry terminal escape
// sequences, and it may be long enough to make a pattern slow. Two rules, shared by the runner and
// the extension (this file imports nothing from Node):
// - strip control characters before any terminal, log or stored message (`cleanText`);
// - cap the text, keeping its head and its tail, before any pattern runs (`capText`): the words
//   that classify an answer sit at its start ("You've hit the … limit") or its end ("… may
//   violate our content policies"), never only in the middle of 400 KB.

/** The longest text any descriptor pattern is run on (head and tail kept). */
export const MAX_MATCH_CHARS = 8_000;
/** The longest page-derived string a message or a terminal line carries. */
export const MAX_MESSAGE_CHARS = 4_000;

// C0 controls except tab and newline, DEL, C1 controls (CSI 0x9b, OSC 0x9d …), and the bidi
// overrides that can make a line read differently from its bytes.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex
const CONTROL_AND_NEWLINES = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** `text` without control characters. Newlines and tabs stay unless `singleLine`, then they become spaces. */
export function cleanText(text: string, opts: { singleLine?: boolean } = {}): string {
  if (opts.singleLine) return text.replace(CONTROL_AND_NEWLINES, (c) => (c === '\n' || c === '\t' || c === '\r' ? ' ' : ''));
  return text.replace(CONTROL, '');
}

/** `text` cut to at most `max` characters: its first and last halves, joined by " … ". */
export function capText(text: string, max: number = MAX_MATCH_CHARS): string {
  if (text.length <= max) return text;
  const half = Math.floor((max - 3) / 2);
  return `${text.slice(0, half)} … ${text.slice(text.length - half)}`;
}

/** What a terminal or a log may print of page text: no control characters, one line, capped. */
export function safeLine(text: string, max: number = MAX_MESSAGE_CHARS): string {
  return capText(cleanText(text, { singleLine: true }), max);
}
