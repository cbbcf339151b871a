import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { renderPanelPng } from '../mock/render.js';
import { findNearDuplicates, fingerprintDistance, fingerprintOf, NEAR_DUPLICATE_THRESHOLD, parseFingerprint } from './near-duplicates.js';

/** A fingerprint from its brighter and darker planes (64-bit each). */
const fp = (brighter: bigint, darker: bigint) => `dh3:${brighter.toString(16).padStart(16, '0')}${darker.toString(16).padStart(16, '0')}`;

describe('fingerprints of mock panels', () => {
  it('finds a re-encoded and a resized copy among distinct panels, and flags no distinct pair', async () => {
    const prompts = Array.from({ length: 12 }, (_, i) => `a harbour scene number ${i}, gulls and boats`);
    const pngs = await Promise.all(prompts.map((prompt) => renderPanelPng(prompt, 384)));
    const items = await Promise.all(pngs.map(async (png, i) => ({ id: `p${i}`, fingerprint: await fingerprintOf(png) })));
    const jpeg = await sharp(pngs[3]).jpeg({ quality: 80 }).toBuffer();
    const smaller = await sharp(pngs[7]).resize(346).png().toBuffer();
    items.push({ id: 'p3-jpeg', fingerprint: await fingerprintOf(jpeg) }, { id: 'p7-small', fingerprint: await fingerprintOf(smaller) });

    const pairs = findNearDuplicates(items);
    expect(pairs.map(({ a, b }) => [a, b]).sort()).toEqual([
      ['p3', 'p3-jpeg'],
      ['p7', 'p7-small'],
    ]);
    for (const pair of pairs) expect(pair.distance).toBeLessThanOrEqual(NEAR_DUPLICATE_THRESHOLD);
    // The distinct panels are far from the threshold, not just over it.
    const distinct = findNearDuplicates(items.slice(0, 12), 64).map((pair) => pair.distance);
    expect(distinct).toHaveLength(66);
    expect(Math.min(...distinct)).toBeGreaterThan(NEAR_DUPLICATE_THRESHOLD * 1.5);
  });

  it('gives the same picture the same fingerprint, and says when an image cannot be decoded', async () => {
    const png = await renderPanelPng('a lighthouse', 256);
    expect(await fingerprintOf(png)).toBe(await fingerprintOf(Buffer.from(png)));
    expect(parseFingerprint(await fingerprintOf(png))).toBeInstanceOf(Uint32Array);
    await expect(fingerprintOf(Buffer.from('not an image'))).rejects.toThrow(/the image cannot be decoded for comparison/);
  });
});

describe('fingerprintDistance', () => {
  it('counts 1 per opposite cell and ½ where one side is flat, in both halves of the hash', () => {
    const at = (bit: number) => 1n << BigInt(bit);
    const d = (a: string, b: string) => fingerprintDistance(parseFingerprint(a)!, parseFingerprint(b)!);
    expect(d(fp(at(0) | at(40), at(63)), fp(at(0) | at(40), at(63)))).toBe(0);
    expect(d(fp(at(0), 0n), fp(0n, at(0)))).toBe(1);
    expect(d(fp(at(40), 0n), fp(0n, at(40)))).toBe(1);
    expect(d(fp(at(5), 0n), fp(0n, 0n))).toBe(0.5);
    expect(d(fp(0n, at(50)), fp(0n, 0n))).toBe(0.5);
    expect(d(fp(2n ** 64n - 1n, 0n), fp(0n, 2n ** 64n - 1n))).toBe(64);
  });
});

describe('parseFingerprint', () => {
  it('refuses anything that is not a fingerprint of today’s format, so a damaged index is recomputed, not trusted', () => {
    expect(parseFingerprint(fp(1n, 2n))).toEqual(Uint32Array.from([0, 1, 0, 2]));
    for (const bad of [undefined, 42, '', 'dh2:' + '0'.repeat(32), `dh3:${'0'.repeat(31)}`, `dh3:${'0'.repeat(33)}`, `dh3:${'G'.repeat(32)}`, `dh3:${'A'.repeat(32)}`, ` ${fp(1n, 2n)}`, `${fp(1n, 2n)}\n`]) {
      expect(parseFingerprint(bad), String(bad)).toBeUndefined();
    }
    // A cell both brighter and darker cannot come from an image.
    expect(parseFingerprint(fp(1n, 1n))).toBeUndefined();
    expect(parseFingerprint(fp(1n << 40n, 1n << 40n))).toBeUndefined();
  });
});

describe('findNearDuplicates', () => {
  it('lists pairs within the threshold closest first, leaves out unparsable fingerprints and the pairs `skip` names', () => {
    const items = [
      { id: 'a', fingerprint: fp(0xffn, 0n) },
      { id: 'b', fingerprint: fp(0xfen, 0n) }, // ½ from a
      { id: 'c', fingerprint: fp(0xffn, 0n) }, // 0 from a
      { id: 'd', fingerprint: fp(0n, 0xffn) }, // 8 from a
      { id: 'e', fingerprint: 'dh3:nonsense' },
    ];
    expect(findNearDuplicates(items, 1)).toEqual([
      { a: 'a', b: 'c', distance: 0 },
      { a: 'a', b: 'b', distance: 0.5 },
      { a: 'b', b: 'c', distance: 0.5 },
    ]);
    expect(findNearDuplicates(items, 1, (x, y) => x === 'a' && y === 'c')).toEqual([
      { a: 'a', b: 'b', distance: 0.5 },
      { a: 'b', b: 'c', distance: 0.5 },
    ]);
    expect(findNearDuplicates(items, 8).filter((pair) => pair.b === 'd')).toHaveLength(3);
    expect(findNearDuplicates([], 8)).toEqual([]);
  });
});
