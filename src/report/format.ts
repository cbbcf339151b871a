// Small text helpers shared by the console lines and the live status block.

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

const two = (n: number): string => String(n).padStart(2, '0');
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/**
 * The local time of day, `14:03:09`. By hand, not through Intl: the first Intl call maps ~6 MB of
 * Node's ICU data into the runner for good (docs/ARCHITECTURE.md §10 "The runner's own memory").
 */
export function clockTime(at: number): string {
  const d = new Date(at);
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** The local time of `at`, with its weekday when it is not on the same day as `now` (`Tue 03:10:00`). */
export function clockTimeFrom(at: number, now: number): string {
  const a = new Date(at);
  const b = new Date(now);
  const sameDay = a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  return sameDay ? clockTime(at) : `${WEEKDAYS[a.getDay()]} ${clockTime(at)}`;
}

// Code points a terminal draws two cells wide (East Asian Wide and Fullwidth, and emoji), the
// common ranges; everything else is one cell, or none for controls and combining marks.
const WIDE: ReadonlyArray<readonly [number, number]> = [
  [0x1100, 0x115f],
  [0x231a, 0x231b],
  [0x2329, 0x232a],
  [0x23e9, 0x23ec],
  [0x23f0, 0x23f0],
  [0x23f3, 0x23f3],
  [0x25fd, 0x25fe],
  [0x2614, 0x2615],
  [0x2648, 0x2653],
  [0x26a1, 0x26a1],
  [0x26aa, 0x26ab],
  [0x26bd, 0x26be],
  [0x26c4, 0x26c5],
  [0x26d4, 0x26d4],
  [0x26ea, 0x26ea],
  [0x26f2, 0x26f5],
  [0x26fa, 0x26fd],
  [0x2705, 0x2705],
  [0x270a, 0x270b],
  [0x274c, 0x274c],
  [0x2753, 0x2755],
  [0x2795, 0x2797],
  [0x2b1b, 0x2b1c],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x1f300, 0x1f64f],
  [0x1f680, 0x1f6ff],
  [0x1f900, 0x1f9ff],
  [0x20000, 0x3fffd],
];

function cellsOf(codePoint: number): number {
  if (codePoint < 0x20 || (codePoint >= 0x7f && codePoint < 0xa0)) return 0;
  if ((codePoint >= 0x300 && codePoint <= 0x36f) || (codePoint >= 0x200b && codePoint <= 0x200f) || (codePoint >= 0x20d0 && codePoint <= 0x20ff) || (codePoint >= 0xfe00 && codePoint <= 0xfe0f)) return 0;
  for (const [from, to] of WIDE) {
    if (codePoint < from) return 1;
    if (codePoint <= to) return 2;
  }
  return 1;
}

/** How many terminal cells `text` takes (plain text, no escape sequences). */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) width += cellsOf(char.codePointAt(0)!);
  return width;
}

/** `text` cut to at most `columns` cells, ending in `…` when something was cut. */
export function fitWidth(text: string, columns: number): string {
  if (columns <= 0) return '';
  if (displayWidth(text) <= columns) return text;
  let out = '';
  let width = 0;
  for (const char of text) {
    const cells = cellsOf(char.codePointAt(0)!);
    if (width + cells > columns - 1) break;
    out += char;
    width += cells;
  }
  return `${out}…`;
}
