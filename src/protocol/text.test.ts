import { describe, expect, it } from 'vitest';
import { flagsProblem, patternProblem } from './text-patterns.js';
import { MAX_MATCH_CHARS, capText, cleanText, safeLine } from './text.js';

const ESC = '\u001b';
const HOSTILE = `${ESC}[2K\r  ✓ [12/12] p12 verified${ESC}]0;pwned\u0007 done\u009b31m\u202eevil`;

describe('cleanText', () => {
  it('drops escape sequences\' control bytes, C1 controls and bidi overrides, keeping tabs and newlines', () => {
    const out = cleanText(`a\tb\n${HOSTILE}`);
    expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(out).toBe('a\tb\n[2K  ✓ [12/12] p12 verified]0;pwned done31mevil');
  });

  it('makes one line of the text with singleLine: newlines and tabs become spaces', () => {
    expect(cleanText('one\ntwo\tthree\r\nfour', { singleLine: true })).toBe('one two three  four');
  });
});

describe('capText', () => {
  it('leaves short text alone', () => {
    expect(capText('short', 10)).toBe('short');
  });

  it('keeps the head and the tail, where the words that classify an answer sit', () => {
    const long = `You've hit the limit. ${'x'.repeat(400_000)} This request violates our content policies.`;
    const capped = capText(long);
    expect(capped.length).toBeLessThanOrEqual(MAX_MATCH_CHARS);
    expect(capped.startsWith("You've hit the limit.")).toBe(true);
    expect(capped.endsWith('violates our content policies.')).toBe(true);
  });
});

describe('safeLine', () => {
  it('is one capped line without any control character', () => {
    const line = safeLine(`${HOSTILE}\n${'y'.repeat(10_000)}`, 200);
    expect(line).not.toContain(ESC);
    expect(line).not.toContain('\n');
    expect(line).not.toContain('\r');
    expect(line.length).toBeLessThanOrEqual(200);
  });
});

describe('descriptor pattern checks', () => {
  it.each([
    ['^/c/(a+)+$', 'nested quantifier "(a+)+"'],
    ['(a*)*', 'nested quantifier "(a*)*"'],
    ['(.*a){3,}', 'nested quantifier "(.*a){3,}"'],
    ['x(?:y(?:z+))*', 'nested quantifier "(?:y(?:z+))*"'],
    ['(a|aa)+', 'repeated alternatives "(a|aa)+"'],
    ['(x)\\1', 'backreference "\\1"'],
    ['(?<w>x)\\k<w>', 'backreference "\\k<w>"'],
    ['(?<=a.*)b', 'lookbehind "(?<=a.*)" of unbounded length'],
  ])('refuses %s', (source, why) => {
    expect(patternProblem(source)).toContain(why);
  });

  it.each([
    'hit the [^\\n]{1,80} plan limit for image generation',
    'resets in (?:(\\d+) hours?)?(?:,? and |, | )?(?:(\\d+) minutes?)?',
    '^[^\\S\\n]*(Log in|Sign up)[^\\S\\n]*$',
    '/backend-api/estuary/content\\?id=(file_[A-Za-z0-9_-]+)',
    '(?:ab)+',
    '[(a+)+]',
    '\\(a+\\)+',
    '(?<=ab)c',
    'a{2}(?:b)?',
  ])('accepts %s', (source) => {
    expect(patternProblem(source)).toBeUndefined();
  });

  it('allows the flags i, m, s and u once each, and names g and y as stateful', () => {
    expect(flagsProblem('imsu')).toBeUndefined();
    expect(flagsProblem('')).toBeUndefined();
    expect(flagsProblem('ig')).toMatch(/flag "g" is not allowed.*\.test\(\)/);
    expect(flagsProblem('y')).toMatch(/flag "y" is not allowed/);
    expect(flagsProblem('d')).toMatch(/flag "d" is not allowed \(only i, m, s and u\)/);
    expect(flagsProblem('ii')).toBe('flag "i" is given twice');
  });
});
