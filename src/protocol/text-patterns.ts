// Descriptor patterns run in the user's page on page text, so a pattern that can backtrack
// exponentially would freeze the tab (ARCHITECTURE §4, "Page text"). These checks read a pattern's
// source as written and refuse the shapes that blow up: a repeated group holding a quantifier or
// alternatives ("(a+)+", "(a|aa)+", "(.*a){3,}"), backreferences, and lookbehind of unbounded length.
// Flags are limited to i, m, s and u: g and y make `.test()` remember where it stopped. Text is also
// capped (`capText`) before any pattern runs, which bounds what a merely quadratic pattern costs.
// Nothing here imports Node: the extension validates descriptors with the same schema.

/** The flags a descriptor pattern may carry. */
export const PATTERN_FLAGS = 'imsu';

/** Why `flags` is refused, or undefined. */
export function flagsProblem(flags: string): string | undefined {
  for (const [i, flag] of [...flags].entries()) {
    if (!PATTERN_FLAGS.includes(flag)) {
      return `flag "${flag}" is not allowed (only i, m, s and u${flag === 'g' || flag === 'y' ? `: ${flag} makes .test() start where the last match stopped` : ''})`;
    }
    if (flags.indexOf(flag) !== i) return `flag "${flag}" is given twice`;
  }
  return undefined;
}

interface Frame {
  start: number;
  lookbehind: boolean;
  /** A quantifier (any, `?` included) or a `|` somewhere inside, nested groups included. */
  quantified: boolean;
  alternatives: boolean;
  unbounded: boolean;
}

interface Atom {
  start: number;
  group?: Frame;
}

/** Why `source` may take exponential (or unbounded) time, or undefined. Assumes it compiles. */
export function patternProblem(source: string): string | undefined {
  const stack: Frame[] = [{ start: 0, lookbehind: false, quantified: false, alternatives: false, unbounded: false }];
  let last: Atom | undefined;
  const top = () => stack[stack.length - 1];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      if (/[1-9]/.test(next) || (next === 'k' && source[i + 2] === '<')) {
        return `backreference "${clip(/^\\(?:\d+|k<[^>]*>?)/.exec(source.slice(i, i + 80))![0])}" is not allowed (it can take exponential time)`;
      }
      last = { start: i };
      i += 2;
      continue;
    }
    if (c === '[') {
      const start = i;
      i += 1;
      if (source[i] === '^') i += 1;
      if (source[i] === ']') i += 1; // "[]…]" is not valid in JS anyway; keeps the scan moving
      while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
      i += 1;
      last = { start };
      continue;
    }
    if (c === '(') {
      const lookbehind = source.startsWith('(?<=', i) || source.startsWith('(?<!', i);
      stack.push({ start: i, lookbehind, quantified: false, alternatives: false, unbounded: false });
      last = undefined;
      // Past the group's own "?:", "?=", "?!", "?<=", "?<!" or "?<name>", which are no quantifier.
      const prefix = /^\((?:\?(?::|=|!|<=|<!|<[^>]*>))?/.exec(source.slice(i, i + 80))![0];
      i += prefix.length;
      continue;
    }
    if (c === ')') {
      const frame = stack.length > 1 ? stack.pop()! : top();
      if (frame.lookbehind && frame.unbounded) {
        return `lookbehind "${clip(source.slice(frame.start, i + 1))}" of unbounded length is not allowed`;
      }
      const parent = top();
      parent.quantified ||= frame.quantified;
      parent.alternatives ||= frame.alternatives;
      parent.unbounded ||= frame.unbounded;
      last = { start: frame.start, group: frame };
      i += 1;
      continue;
    }
    if (c === '|') {
      top().alternatives = true;
      last = undefined;
      i += 1;
      continue;
    }
    const quantifier = quantifierAt(source, i);
    if (quantifier) {
      const end = i + quantifier.length + (source[i + quantifier.length] === '?' ? 1 : 0);
      const group = last?.group;
      if (group && quantifier.max > 1 && (group.quantified || group.alternatives)) {
        const shown = clip(source.slice(last!.start, end));
        return group.quantified
          ? `nested quantifier "${shown}" can take exponential time`
          : `repeated alternatives "${shown}" can take exponential time (repeat a single character class instead)`;
      }
      top().quantified = true;
      if (quantifier.max === Infinity) top().unbounded = true;
      last = undefined;
      i = end;
      continue;
    }
    last = { start: i };
    i += 1;
  }
  return undefined;
}

/** The quantifier starting at `i` (`*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`) and the most it repeats. */
function quantifierAt(source: string, i: number): { length: number; max: number } | undefined {
  const c = source[i];
  if (c === '*' || c === '+') return { length: 1, max: Infinity };
  if (c === '?') return { length: 1, max: 1 };
  if (c !== '{') return undefined;
  const match = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i, i + 24));
  if (!match) return undefined;
  const max = match[2] === undefined ? Number(match[1]) : match[3] === '' ? Infinity : Number(match[3]);
  return { length: match[0].length, max };
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}
