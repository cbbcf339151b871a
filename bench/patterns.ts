// Descriptor pattern costs on hostile page text (ARCHITECTURE §4, "Page text"): every built-in
// pattern of chatgpt.json, before (the patterns up to issue 14) and now, on 400 KB inputs built to
// make a backtracking engine work: many newlines, whitespace runs, and the pattern's own words
// repeated without ever completing a match. "now" runs on the raw 400 KB and, as the extension
// does, on the capped text (capText: head and tail, 8,000 characters).
// Run: npm run bench:patterns  (node scripts/run-ts.mjs bench/patterns.ts)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { capText } from '../src/protocol/text.js';

const SIZE = 400_000;
/** Patterns as they were before issue 14, where they differ from today's. */
const BEFORE: Record<string, string> = {
  'text.quota': 'hit the .* plan limit for image generation',
  'text.login': '^\\s*(Log in|Sign up)\\s*$',
};

type Pattern = { source: string; flags: string };
const descriptor = JSON.parse(readFileSync(path.join('src', 'providers', 'chatgpt.json'), 'utf8')) as {
  text: Record<string, Pattern>;
  imageSrc: Pattern;
  conversationPath: Pattern;
  imageContainerId: Pattern;
};
const patterns: Array<[string, Pattern]> = [
  ...Object.entries(descriptor.text).map(([k, v]) => [`text.${k}`, v] as [string, Pattern]),
  ['imageSrc', descriptor.imageSrc],
  ['conversationPath', descriptor.conversationPath],
  ['imageContainerId', descriptor.imageContainerId],
];

/** The words of a pattern's source (letters only), e.g. "hit the plan limit for image generation". */
function wordsOf(source: string): string[] {
  return source.replace(/\\[a-zA-Z]/g, ' ').match(/[A-Za-z]{2,}/g) ?? ['a'];
}

/** Each input as a function of its size, so a pattern too slow for 400 KB can be timed on less. */
function inputsFor(source: string): Array<[string, (size: number) => string]> {
  const words = wordsOf(source);
  const fill = (unit: string) => (size: number) => unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
  const most = `${words.slice(0, Math.max(1, words.length - 1)).join(' ')} `;
  const ending = ' Sorry, this request violates our content policies.';
  return [
    ['newlines', fill('\n')],
    ['spaces+newlines', fill(' \n')],
    // Every word but the last, over and over: each start gets far and then fails.
    [`"${most}" ×n`, fill(most)],
    [`"${words[0]} " ×n`, fill(`${words[0]} `)],
    ['a long refusal', (size) => `${fill('I hit the limits of what I can draw here. ')(size - ending.length)}${ending}`],
  ];
}

/** Least of three runs (the first one pays for compiling). */
function time(re: RegExp, text: string): number {
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const t0 = performance.now();
    re.test(text);
    best = Math.min(best, performance.now() - t0);
    if (best > 200) break;
  }
  return best;
}

/**
 * Time on SIZE characters; a pattern that takes over a second on less is timed at growing sizes and
 * its 400 KB figure extrapolated from the last two (marked "~"), since waiting hours proves nothing more.
 */
function timeAt(re: RegExp, make: (size: number) => string): { ms: number; estimated: boolean } {
  let previous: { size: number; ms: number } | undefined;
  for (let size = 12_500; size < SIZE; size *= 2) {
    const ms = time(re, make(size));
    if (ms > 1000 && previous) {
      const exponent = Math.log(ms / previous.ms) / Math.log(size / previous.size);
      return { ms: ms * (SIZE / size) ** exponent, estimated: true };
    }
    previous = { size, ms };
  }
  return { ms: time(re, make(SIZE)), estimated: false };
}

const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${n.toFixed(2)} ms`);
console.log(`built-in patterns on ${SIZE / 1000} KB inputs (${process.version}); worst input per pattern`);
console.log(`${'pattern'.padEnd(20)}${'worst input'.padEnd(44)}${'before'.padStart(10)}${'now'.padStart(10)}${'now, capped'.padStart(13)}`);
for (const [field, p] of patterns) {
  let worst = { input: '', before: '', now: '', capped: '', cost: -1 };
  for (const [name, make] of inputsFor(BEFORE[field] ?? p.source)) {
    const before = timeAt(new RegExp(BEFORE[field] ?? p.source, p.flags), make);
    const now = time(new RegExp(p.source, p.flags), make(SIZE));
    const capped = time(new RegExp(p.source, p.flags), capText(make(SIZE)));
    const cost = Math.max(before.ms, now);
    if (cost > worst.cost) worst = { input: name.slice(0, 42), before: `${before.estimated ? '~' : ''}${ms(before.ms)}`, now: ms(now), capped: ms(capped), cost };
  }
  console.log(`${field.padEnd(20)}${worst.input.padEnd(44)}${worst.before.padStart(10)}${worst.now.padStart(10)}${worst.capped.padStart(13)}`);
}
