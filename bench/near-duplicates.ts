// The near-duplicate threshold of the contact sheet (src/report/near-duplicates.ts), measured:
// 300 distinct mock panels (src/mock/render.ts, one per prompt) and four altered copies of each
// (JPEG q80, resized −10 %, 2 % cropped from each side, slight noise), all fingerprinted
// as the report does. Prints the distance distribution of the copies (copy vs its original) and of
// the distinct pairs, the threshold that separates them, and the time to compare all pairs of a
// 3,000-panel book.
// Run: npm run bench:near-duplicates  (node scripts/run-ts.mjs bench/near-duplicates.ts) [panels] [size]
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { renderPanelPng } from '../src/mock/render.js';
import { findNearDuplicates, fingerprintDistance, fingerprintOf, NEAR_DUPLICATE_THRESHOLD, parseFingerprint } from '../src/report/near-duplicates.js';

const PANELS = Number(process.argv[2] ?? 300);
const SIZE = Number(process.argv[3] ?? 768);
const SUBJECTS = ['a lighthouse', 'a gull', 'two children', 'a fishing boat', 'the harbour master', 'a storm', 'a red kite', 'a cat on a wall', 'the pier', 'a bicycle'];
const PLACES = ['at dusk', 'in the rain', 'at noon', 'under the stars', 'in fog', 'at dawn'];

function promptOf(i: number): string {
  return `${SUBJECTS[i % SUBJECTS.length]} ${PLACES[Math.floor(i / SUBJECTS.length) % PLACES.length]}, panel ${i}, ink and watercolour`;
}

/** Deterministic Gaussian-ish noise (sum of uniforms), so runs compare. */
function noiseOf(length: number, sigma: number, seed: number): Buffer {
  let s = seed >>> 0 || 1;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const out = Buffer.alloc(length);
  for (let k = 0; k < length; k++) out[k] = Math.max(0, Math.min(255, Math.round(128 + sigma * (next() + next() + next() + next() - 2) * 1.73)));
  return out;
}

const ALTERATIONS: Record<string, (png: Buffer, seed: number) => Promise<Buffer>> = {
  'jpeg q80': (png) => sharp(png).jpeg({ quality: 80 }).toBuffer(),
  'resized -10%': (png) => sharp(png).resize(Math.round(SIZE * 0.9)).png().toBuffer(),
  'cropped 2%/side': (png) => {
    const cut = Math.round(SIZE * 0.02);
    return sharp(png).extract({ left: cut, top: cut, width: SIZE - 2 * cut, height: SIZE - 2 * cut }).png().toBuffer();
  },
  'noise sd 6': async (png, seed) => {
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const noise = noiseOf(data.length, 6, seed);
    for (let k = 0; k < data.length; k++) data[k] = Math.max(0, Math.min(255, data[k] + noise[k] - 128));
    return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).png().toBuffer();
  },
};

function quantiles(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return `n=${sorted.length} min ${sorted[0]} p0.1 ${at(0.001)} p1 ${at(0.01)} p50 ${at(0.5)} p99 ${at(0.99)} max ${sorted[sorted.length - 1]}`;
}

function histogram(values: number[], upTo: number): string {
  const counts = new Map<number, number>();
  for (const v of values) if (v <= upTo) counts.set(Math.floor(v), (counts.get(Math.floor(v)) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([d, n]) => `${d}:${n}`).join(' ');
}

const started = performance.now();
const originals: Uint32Array[] = [];
const fingerprints: string[] = [];
const copies: Record<string, number[]> = Object.fromEntries(Object.keys(ALTERATIONS).map((k) => [k, []]));
let fingerprintMs = 0;
for (let i = 0; i < PANELS; i++) {
  const png = await renderPanelPng(promptOf(i), SIZE);
  const t0 = performance.now();
  const fingerprint = await fingerprintOf(png);
  fingerprintMs += performance.now() - t0;
  fingerprints.push(fingerprint);
  const own = parseFingerprint(fingerprint)!;
  originals.push(own);
  for (const [name, alter] of Object.entries(ALTERATIONS)) {
    copies[name].push(fingerprintDistance(own, parseFingerprint(await fingerprintOf(await alter(png, i + 1)))!));
  }
}
const distinct: number[] = [];
for (let i = 0; i < originals.length; i++) for (let j = i + 1; j < originals.length; j++) distinct.push(fingerprintDistance(originals[i], originals[j]));
const allCopies = Object.values(copies).flat();
const worstCopy = Math.max(...allCopies);
const closestDistinct = Math.min(...distinct);

console.log(`${PANELS} mock panels of ${SIZE} px, fingerprinted in ${(fingerprintMs / PANELS).toFixed(1)} ms each (decode + 64 px thumbnail + dHash)`);
console.log('distance in dHash cells (0 = same, 64 = opposite; ½ where one side is flat)');
for (const [name, values] of Object.entries(copies)) console.log(`  copy, ${name.padEnd(16)} ${quantiles(values)}`);
console.log(`  copy, all              ${quantiles(allCopies)}`);
console.log(`  distinct pairs         ${quantiles(distinct)}`);
console.log(`  distinct histogram up to 20: ${histogram(distinct, 20)}`);
console.log(`separation: worst copy ${worstCopy}, closest distinct ${closestDistinct}; any threshold in [${worstCopy}, ${closestDistinct}) separates them`);
console.log(`NEAR_DUPLICATE_THRESHOLD = ${NEAR_DUPLICATE_THRESHOLD}: copies caught ${allCopies.filter((d) => d <= NEAR_DUPLICATE_THRESHOLD).length}/${allCopies.length}, distinct pairs flagged ${distinct.filter((d) => d <= NEAR_DUPLICATE_THRESHOLD).length}/${distinct.length}`);

// All pairs of a 3,000-panel book: random fingerprints (each cell brighter, darker or flat as in
// the mock panels, about 40/40/20), so the loop does a real book's work and flags next to nothing.
const BOOK = 3000;
const random = (() => {
  let s = 12345;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
})();
const items = Array.from({ length: BOOK }, (_, k) => {
  const words = new Uint32Array(4);
  for (let bit = 0; bit < 64; bit++) {
    const r = random();
    const word = bit < 32 ? 0 : 1;
    if (r < 0.4) words[word] |= 1 << bit % 32;
    else if (r < 0.8) words[word + 2] |= 1 << bit % 32;
  }
  const hex = [...words].map((w) => (w >>> 0).toString(16).padStart(8, '0')).join('');
  return { id: `p${k}`, fingerprint: `${fingerprints[0].split(':')[0]}:${hex}` };
});
const t1 = performance.now();
const pairs = findNearDuplicates(items);
const pairMs = performance.now() - t1;
console.log(`all pairs of ${BOOK} panels (${((BOOK * (BOOK - 1)) / 2 / 1e6).toFixed(2)} M comparisons): ${pairMs.toFixed(0)} ms, ${pairs.length} flagged`);
console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
process.exitCode = worstCopy <= NEAR_DUPLICATE_THRESHOLD && closestDistinct > NEAR_DUPLICATE_THRESHOLD ? 0 : 1;
