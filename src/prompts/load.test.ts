import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PromptFileError } from '../protocol/errors.js';
import { loadPromptFile, parsePromptText } from './index.js';

const FILE = 'story.yaml';

/** Lines 1-11 of a valid book; `panels` start on line 12, list items at column 11. */
function withPanels(...panels: string[]): string {
  return [
    'book: lighthouse',
    'style: ink',
    'characters:',
    '  mara: "Mara, a keeper"',
    '  tom: "Tom, a fisherman"',
    'locales: [en, ja]',
    'chapters:',
    '  - id: ch1',
    '    strips:',
    '      - id: s1',
    '        panels:',
    ...panels.map((line) => `          ${line}`),
    '',
  ].join('\n');
}

function errorOf(text: string): PromptFileError {
  try {
    parsePromptText(text, FILE);
  } catch (error) {
    if (error instanceof PromptFileError) return error;
    throw error;
  }
  throw new Error('expected a PromptFileError');
}

/** The first line of the message: the problem reported first. */
const firstLine = (text: string) => errorOf(text).message.split('\n')[0];

describe('reading the file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'semantest-prompts-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads a file from disk and records it as the jobs source', async () => {
    const file = path.join(dir, 'ok.yaml');
    await writeFile(file, 'book: ok\nprompts:\n  - "a lighthouse"\n');
    const book = await loadPromptFile(file);
    expect(book.file).toBe(file);
    expect(book.jobs.map((j) => [j.id, j.source])).toEqual([['ch1/s1/p1', { file, line: 3 }]]);
  });

  it('names a missing file at 1:1 and says why', async () => {
    const file = path.join(dir, 'missing.yaml');
    await expect(loadPromptFile(file)).rejects.toThrow(`${file}:1:1: cannot read the prompt file: no such file (ENOENT)`);
  });

  it('says when the path is a folder', async () => {
    await expect(loadPromptFile(dir)).rejects.toThrow(`${dir}:1:1: cannot read the prompt file: it is a directory, not a file (EISDIR)`);
  });

  it('throws a PromptFileError that carries the position and exits with code 2', async () => {
    const error = errorOf('book: ok\nprompts: [a]\nextra: 1\n');
    expect(error).toBeInstanceOf(PromptFileError);
    expect(error).toMatchObject({ file: FILE, line: 3, column: 1, exitCode: 2, name: 'PromptFileError' });
    expect(error.detail).toBe('extra: unknown key (a prompt file takes book, provider, style, aspect, characters, locales, pacing, profiles, quota, chapters, prompts)');
  });
});

describe('YAML syntax', () => {
  it('points at an unclosed flow list', () => {
    const error = errorOf('book: broken\nstyle: "ink"\nprompts:\n  - "a lighthouse"\n  - [unclosed\n');
    expect(error.message).toMatch(/^story\.yaml:6:1: YAML syntax error: /);
  });

  it('points at the second of two equal keys', () => {
    expect(errorOf('book: a\nstyle: x\nbook: b\nprompts: [x]\n').message).toBe(
      'story.yaml:3:1: YAML syntax error: this key appears twice in the same mapping',
    );
  });

  it('points at a tab used for indentation', () => {
    expect(errorOf('book: a\nprompts:\n\t- x\n').message).toMatch(/^story\.yaml:3:1: YAML syntax error: /);
  });

  it('rejects several documents in one file', () => {
    expect(errorOf('book: a\nprompts: [x]\n---\nbook: b\n').message).toBe(
      'story.yaml:3:1: YAML syntax error: the file holds several YAML documents (separated by ---); a prompt file is one document',
    );
  });

  it('rejects an empty file', () => {
    expect(errorOf('# nothing yet\n').message).toBe('story.yaml:1:1: the file is empty: it needs book: and either chapters: or prompts:');
  });

  it('rejects a file that is a list, not a mapping', () => {
    expect(firstLine('- a\n- b\n')).toBe('story.yaml:1:1: the file: must be a mapping (key: value lines), not a list');
  });
});

describe('schema', () => {
  it('points at an unknown panel key, naming the keys a panel takes', () => {
    const text = withPanels('- id: p1', '  promt: "{mara} climbs"');
    expect(firstLine(text)).toBe(
      'story.yaml:13:13: chapters[0].strips[0].panels[0].promt: unknown key (a panel takes id, prompt, modifiers, text, variants, aspect)',
    );
  });

  it('reports a missing prompt at the start of its panel', () => {
    const text = withPanels('- id: p1', '  prompt: "a"', '- id: p2', '  modifiers: [wide]');
    expect(firstLine(text)).toBe('story.yaml:14:13: chapters[0].strips[0].panels[1].prompt: is required');
  });

  it('reports a missing book at the top of the file', () => {
    expect(firstLine('style: ink\nprompts: [a]\n')).toBe('story.yaml:1:1: book: is required');
  });

  it('points at a value of the wrong type', () => {
    const text = withPanels('- id: p1', '  prompt: "a"', '  modifiers: wide shot');
    expect(firstLine(text)).toBe('story.yaml:14:24: chapters[0].strips[0].panels[0].modifiers: must be a list, not "wide shot"');
  });

  it('rejects empty and blank prompts', () => {
    expect(firstLine(withPanels('- id: p1', '  prompt: ""'))).toBe('story.yaml:13:21: chapters[0].strips[0].panels[0].prompt: is empty');
    expect(firstLine(withPanels('- id: p1', '  prompt: "   "'))).toBe('story.yaml:13:21: chapters[0].strips[0].panels[0].prompt: is empty');
    expect(firstLine(withPanels('- id: p1', '  prompt:'))).toMatch(/^story\.yaml:13:\d+: chapters\[0\]\.strips\[0\]\.panels\[0\]\.prompt: is empty \(expected a string\)$/);
    expect(firstLine('book: a\nprompts:\n  - ok\n  - ""\n')).toBe('story.yaml:4:5: prompts[1]: is empty');
  });

  it('rejects a strip without panels', () => {
    const text = 'book: a\nchapters:\n  - id: ch1\n    strips:\n      - id: s1\n        panels: []\n';
    expect(firstLine(text)).toBe('story.yaml:6:17: chapters[0].strips[0].panels: must list at least 1 item');
  });

  it.each([
    ['The Lighthouse', 7],
    ['../escape', 7],
    ['-leading-dash', 7],
    ['a/b', 7],
  ])('rejects the book slug %j', (slug, col) => {
    expect(firstLine(`book: "${slug}"\nprompts: [a]\n`)).toBe(
      `story.yaml:1:${col}: book: must be a slug: lowercase letters, digits and "-", not starting with "-", at most 64 characters (it names folders)`,
    );
  });

  it.each(['..', 'a/b', 'p.1', 'p~1', '../../etc', ''])('rejects the panel id %j, which would escape or break the output path', (id) => {
    const text = withPanels(`- id: "${id}"`, '  prompt: "a"');
    expect(firstLine(text)).toBe(
      'story.yaml:12:17: chapters[0].strips[0].panels[0].id: must start with a letter or digit and use only letters, digits, "-" and "_", at most 64 characters (it becomes part of a file path)',
    );
  });

  it('asks for a bare number id to be quoted', () => {
    expect(firstLine(withPanels('- id: 1', '  prompt: a'))).toBe(
      'story.yaml:12:17: chapters[0].strips[0].panels[0].id: must be text such as p1; quote a bare number ("1") so YAML keeps it as written',
    );
  });

  it('asks for quotes when YAML reads a {name} reference as a mapping', () => {
    expect(firstLine('book: a\ncharacters: { mara: M }\nprompts:\n  - {mara}\n')).toBe(
      'story.yaml:4:5: prompts[0]: must be a string, but YAML read {mara} as a mapping: quote the text, e.g. "{mara} …"',
    );
    expect(firstLine(withPanels('- id: p1', '  prompt: {mara} climbs'))).toMatch(
      /^story\.yaml:13:\d+: YAML syntax error: .* \(text that starts with a \{name\} reference must be quoted, e\.g\. prompt: "\{mara\} climbs"\)$/,
    );
  });

  it('rejects path-like chapter and strip ids too', () => {
    expect(firstLine('book: a\nchapters:\n  - id: ".."\n    strips: [{ id: s1, panels: [{ id: p1, prompt: x }] }]\n')).toMatch(/^story\.yaml:3:9: chapters\[0\]\.id: must start with a letter or digit/);
    expect(firstLine('book: a\nchapters:\n  - id: ch1\n    strips: [{ id: "s/1", panels: [{ id: p1, prompt: x }] }]\n')).toMatch(/^story\.yaml:4:20: chapters\[0\]\.strips\[0\]\.id: must start with a letter or digit/);
  });

  it('checks pacing values and keys', () => {
    expect(firstLine('book: a\npacing: { concurrency: 0 }\nprompts: [x]\n')).toBe('story.yaml:2:24: pacing.concurrency: must be at least 1');
    expect(firstLine('book: a\npacing: { concurrency: 1.5 }\nprompts: [x]\n')).toBe('story.yaml:2:24: pacing.concurrency: must be a whole number, not 1.5');
    expect(firstLine('book: a\npacing:\n  minGapSeconds: -1\nprompts: [x]\n')).toBe('story.yaml:3:18: pacing.minGapSeconds: must be at least 0');
    expect(firstLine('book: a\npacing:\n  minGap: 8\nprompts: [x]\n')).toBe(
      'story.yaml:3:3: pacing.minGap: unknown key (pacing takes concurrency, minGapSeconds, jitterSeconds, cooldownEvery, cooldownSeconds)',
    );
  });

  it('reads profiles and a quota, and checks them', () => {
    const book = parsePromptText('book: a\nprofiles: [anna, ben]\nquota: { images: 50, hours: 3 }\nprompts: [x]\n', 'story.yaml');
    expect(book.profiles).toEqual(['anna', 'ben']);
    expect(book.quota).toEqual({ images: 50, hours: 3 });
    expect(firstLine('book: a\nprofiles: ["../x"]\nprompts: [x]\n')).toMatch(/^story\.yaml:2:12: profiles\[0\]: must be a profile name/);
    expect(firstLine('book: a\nprofiles: [a, a]\nprompts: [x]\n')).toMatch(/^story\.yaml:2:\d+: profiles: names a profile twice/);
    expect(firstLine('book: a\nprofiles: []\nprompts: [x]\n')).toMatch(/^story\.yaml:2:\d+: profiles: must list at least 1 item/);
    expect(firstLine('book: a\nquota: { images: 0, hours: 3 }\nprompts: [x]\n')).toBe('story.yaml:2:18: quota.images: must be at least 1');
    expect(firstLine('book: a\nquota: { images: 50, hour: 3 }\nprompts: [x]\n')).toMatch(/^story\.yaml:2:\d+: quota\.hour: unknown key \(quota takes images, hours\)/);
  });

  it('checks locale codes and character names', () => {
    expect(firstLine('book: a\nlocales: [en, "../x"]\nprompts: [x]\n')).toBe('story.yaml:2:15: locales[1]: must be a locale code such as en, ja or pt-BR');
    expect(firstLine('book: a\ncharacters:\n  "old mara": "x"\nprompts: [x]\n')).toBe(
      'story.yaml:3:3: characters.old mara: must be a character name that starts with a letter or digit, then letters, digits, "-" and "_", at most 64 characters (used as {name})',
    );
  });

  it('checks variants', () => {
    expect(firstLine(withPanels('- id: p1', '  prompt: a', '  variants: 0'))).toBe('story.yaml:14:23: chapters[0].strips[0].panels[0].variants: must be at least 1');
    expect(firstLine(withPanels('- id: p1', '  prompt: a', '  variants: "two"'))).toBe(
      'story.yaml:14:23: chapters[0].strips[0].panels[0].variants: must be a whole number from 1 to 100 or a list of variant names',
    );
    expect(firstLine(withPanels('- id: p1', '  prompt: a', '  variants: [day, night, day]'))).toBe(
      'story.yaml:14:36: chapters[0].strips[0].panels[0].variants[2]: duplicate variant name "day" (already used on line 14)',
    );
  });

  it('rejects text that is neither a string nor a locale map', () => {
    expect(firstLine(withPanels('- id: p1', '  prompt: a', '  text: [hi]'))).toBe(
      'story.yaml:14:19: chapters[0].strips[0].panels[0].text: must be a string or a map of locale to text, e.g. { en: "Not tonight.", ja: "今夜はだめ。" }',
    );
  });
});

describe('aspect', () => {
  const ALLOWED = 'must be one of auto, 1:1, 3:4, 9:16, 4:3, 16:9';

  it('points at a panel aspect that is not one of the allowed values, and lists them', () => {
    expect(firstLine(withPanels('- id: p1', '  prompt: a', '  aspect: 2:3'))).toBe(`story.yaml:14:21: chapters[0].strips[0].panels[0].aspect: ${ALLOWED}, not "2:3"`);
    expect(firstLine(withPanels('- id: p1', '  prompt: a', '  aspect: portrait'))).toBe(
      `story.yaml:14:21: chapters[0].strips[0].panels[0].aspect: ${ALLOWED}, not "portrait"`,
    );
  });

  it('points at a bad chapter aspect and a bad book aspect, in the chapters and the flat form', () => {
    const chapter = 'book: a\nchapters:\n  - id: ch1\n    aspect: 5:4\n    strips: [{ id: s1, panels: [{ id: p1, prompt: x }] }]\n';
    expect(firstLine(chapter)).toBe(`story.yaml:4:13: chapters[0].aspect: ${ALLOWED}, not "5:4"`);
    expect(firstLine('book: a\naspect: wide\nchapters:\n  - { id: ch1, strips: [{ id: s1, panels: [{ id: p1, prompt: x }] }] }\n')).toBe(
      `story.yaml:2:9: aspect: ${ALLOWED}, not "wide"`,
    );
    expect(firstLine('book: a\naspect: "21:9"\nprompts: [x]\n')).toBe(`story.yaml:2:9: aspect: ${ALLOWED}, not "21:9"`);
  });

  it('suggests the allowed spelling of a near miss', () => {
    expect(firstLine(withPanels('- id: p1', '  prompt: a', '  aspect: 9x16'))).toBe(
      `story.yaml:14:21: chapters[0].strips[0].panels[0].aspect: ${ALLOWED}, not "9x16" (write 9:16)`,
    );
    expect(firstLine('book: a\naspect: "16 / 9"\nprompts: [x]\n')).toBe(`story.yaml:2:9: aspect: ${ALLOWED}, not "16 / 9" (write 16:9)`);
    expect(firstLine('book: a\naspect: Auto\nprompts: [x]\n')).toBe(`story.yaml:2:9: aspect: ${ALLOWED}, not "Auto" (write auto)`);
  });

  it('explains a number and an empty value', () => {
    expect(firstLine('book: a\naspect: 1.5\nprompts: [x]\n')).toBe(`story.yaml:2:9: aspect: ${ALLOWED}, not the number 1.5 (write a ratio such as 16:9)`);
    // YAML 1.1 reads an unquoted 16:9 as the base-60 number 969.
    expect(firstLine('%YAML 1.1\n---\nbook: a\naspect: 16:9\nprompts: [x]\n')).toBe(
      `story.yaml:4:9: aspect: ${ALLOWED}, not the number 969 (write a ratio such as 16:9)`,
    );
    expect(firstLine(withPanels('- id: p1', '  prompt: a', '  aspect:'))).toMatch(
      /^story\.yaml:14:\d+: chapters\[0\]\.strips\[0\]\.panels\[0\]\.aspect: is empty \(expected one of auto, 1:1, 3:4, 9:16, 4:3, 16:9, or leave aspect out\)$/,
    );
  });

  it('is not a strip key', () => {
    const text = 'book: a\nchapters:\n  - id: ch1\n    strips:\n      - id: s1\n        aspect: 1:1\n        panels: [{ id: p1, prompt: x }]\n';
    expect(firstLine(text)).toBe('story.yaml:6:9: chapters[0].strips[0].aspect: unknown key (a strip takes id, title, panels)');
  });

  it('lists a bad aspect among the other problems in file order', () => {
    const text = withPanels('- id: p1', '  aspect: "3:2"', '  prompt: ""');
    expect(errorOf(text).message.split('\n')).toEqual([
      `story.yaml:13:21: chapters[0].strips[0].panels[0].aspect: ${ALLOWED}, not "3:2"`,
      'story.yaml:14:21: chapters[0].strips[0].panels[0].prompt: is empty',
    ]);
  });
});

describe('rules', () => {
  it('points at an unknown character reference and lists the known ones', () => {
    const text = withPanels('- id: p1', '  prompt: "{mara} climbs"', '- id: p2', '  prompt: "{mara} waves at {marra}"');
    expect(errorOf(text).message).toBe(
      'story.yaml:15:38: chapters[0].strips[0].panels[1].prompt: unknown character reference {marra} (known: mara, tom)',
    );
  });

  it('checks references in modifiers and in a flat list', () => {
    expect(firstLine(withPanels('- id: p1', '  prompt: a', '  modifiers: ["near {bob}"]'))).toBe(
      'story.yaml:14:31: chapters[0].strips[0].panels[0].modifiers[0]: unknown character reference {bob} (known: mara, tom)',
    );
    expect(firstLine('book: a\nprompts:\n  - "{ghost} appears"\n')).toBe(
      'story.yaml:3:6: prompts[0]: unknown character reference {ghost} (no characters are defined under characters:)',
    );
  });

  it('points at the second of two equal panel ids', () => {
    const text = withPanels('- id: p1', '  prompt: a', '- id: p2', '  prompt: b', '- id: p1', '  prompt: c');
    expect(firstLine(text)).toBe('story.yaml:16:17: chapters[0].strips[0].panels[2].id: duplicate panel id "p1" (already used on line 12)');
  });

  it('points at the second of two equal strip and chapter ids', () => {
    const strips = 'book: a\nchapters:\n  - id: ch1\n    strips:\n      - { id: s1, panels: [{ id: p1, prompt: a }] }\n      - { id: s1, panels: [{ id: p1, prompt: b }] }\n';
    expect(firstLine(strips)).toBe('story.yaml:6:15: chapters[0].strips[1].id: duplicate strip id "s1" (already used on line 5)');
    const chapters = 'book: a\nchapters:\n  - id: ch1\n    strips: [{ id: s1, panels: [{ id: p1, prompt: a }] }]\n  - id: ch1\n    strips: [{ id: s1, panels: [{ id: p1, prompt: b }] }]\n';
    expect(firstLine(chapters)).toBe('story.yaml:5:9: chapters[1].id: duplicate chapter id "ch1" (already used on line 3)');
  });

  it('allows the same panel id in different strips', () => {
    const text = 'book: a\nchapters:\n  - id: ch1\n    strips:\n      - { id: s1, panels: [{ id: p1, prompt: a }] }\n      - { id: s2, panels: [{ id: p1, prompt: b }] }\n';
    expect(parsePromptText(text, FILE).jobs.map((j) => j.id)).toEqual(['ch1/s1/p1', 'ch1/s2/p1']);
  });

  it('rejects a duplicate locale', () => {
    expect(firstLine('book: a\nlocales: [en, ja, en]\nprompts: [x]\n')).toBe('story.yaml:2:19: locales[2]: duplicate locale "en" (already used on line 2)');
  });

  it('rejects a text locale that is not listed in locales', () => {
    const text = withPanels('- id: p1', '  prompt: a', '  text: { en: "Hi", fr: "Salut" }');
    expect(firstLine(text)).toBe('story.yaml:14:31: chapters[0].strips[0].panels[0].text.fr: locale fr is not listed in locales (en, ja)');
  });

  it('rejects a text map when the file lists no locales', () => {
    const text = 'book: a\nchapters:\n  - id: ch1\n    strips:\n      - id: s1\n        panels:\n          - { id: p1, prompt: a, text: { en: Hi } }\n';
    expect(firstLine(text)).toBe(
      'story.yaml:7:40: chapters[0].strips[0].panels[0].text: gives text per locale, but the file lists no locales: add e.g. locales: [en, ja] at the top',
    );
  });

  it('rejects an empty text map', () => {
    expect(firstLine(withPanels('- id: p1', '  prompt: a', '  text: {}'))).toBe(
      'story.yaml:14:19: chapters[0].strips[0].panels[0].text: is an empty map: give text per locale, or leave text out',
    );
  });

  it('needs chapters or prompts, not both and not neither', () => {
    expect(firstLine('book: a\nstyle: ink\n')).toBe(
      'story.yaml:1:1: the file: needs either chapters: (chapters, strips and panels) or prompts: (a flat list of prompts)',
    );
    expect(firstLine('book: a\nprompts:\n  - x\nchapters:\n  - { id: ch1, strips: [{ id: s1, panels: [{ id: p1, prompt: a }] }] }\n')).toBe(
      'story.yaml:4:1: chapters: cannot be used together with prompts: (line 2); a file has either chapters or a flat prompts list',
    );
  });
});

describe('several problems', () => {
  it('reports the first in file order and lists the others after it', () => {
    const text = withPanels('- id: p1', '  prompt: "{nobody}"', '- id: "a/b"', '  prompt: ""', '  colour: red');
    const error = errorOf(text);
    expect(error.line).toBe(13);
    expect(error.column).toBe(22);
    expect(error.message.split('\n')).toEqual([
      'story.yaml:13:22: chapters[0].strips[0].panels[0].prompt: unknown character reference {nobody} (known: mara, tom)',
      'story.yaml:14:17: chapters[0].strips[0].panels[1].id: must start with a letter or digit and use only letters, digits, "-" and "_", at most 64 characters (it becomes part of a file path)',
      'story.yaml:15:21: chapters[0].strips[0].panels[1].prompt: is empty',
      'story.yaml:16:13: chapters[0].strips[0].panels[1].colour: unknown key (a panel takes id, prompt, modifiers, text, variants, aspect)',
    ]);
  });

  it('reports a misspelt key before the required key it stands for', () => {
    const text = withPanels('- id: p1', '  modifiers: [wide]', '  promt: a');
    expect(errorOf(text).message.split('\n')).toEqual([
      'story.yaml:14:13: chapters[0].strips[0].panels[0].promt: unknown key (a panel takes id, prompt, modifiers, text, variants, aspect)',
      'story.yaml:12:13: chapters[0].strips[0].panels[0].prompt: is required',
    ]);
  });

  it('caps the list of further problems', () => {
    const text = `book: a\nprompts:\n${Array.from({ length: 15 }, () => '  - ""').join('\n')}\n`;
    const lines = errorOf(text).message.split('\n');
    expect(lines).toHaveLength(12);
    expect(lines[0]).toBe('story.yaml:3:5: prompts[0]: is empty');
    expect(lines[11]).toBe('… and 4 more');
  });
});

describe('ids that are safe as command-line arguments and file names on every platform (issue 14)', () => {
  const ID_RULE = 'must start with a letter or digit and use only letters, digits, "-" and "_", at most 64 characters (it becomes part of a file path)';
  const DEVICE = 'is a name Windows reserves for a device (CON, PRN, AUX, NUL, COM1-9, LPT1-9) and cannot name a file: choose another';

  it.each(['-p1', '_p1', '--resume'])('refuses the id %j, which reject and the contact sheet would read as an option', (id) => {
    expect(firstLine(withPanels(`- id: "${id}"`, '  prompt: a'))).toBe(`story.yaml:12:17: chapters[0].strips[0].panels[0].id: ${ID_RULE}`);
  });

  it('takes ids of up to 64 characters and refuses 65', () => {
    const ok = parsePromptText(withPanels(`- id: ${'a'.repeat(64)}`, '  prompt: a'), FILE);
    expect(ok.jobs[0].panel).toHaveLength(64);
    expect(firstLine(withPanels(`- id: ${'a'.repeat(65)}`, '  prompt: a'))).toBe(`story.yaml:12:17: chapters[0].strips[0].panels[0].id: ${ID_RULE}`);
    expect(firstLine(`book: ${'b'.repeat(65)}\nprompts: [a]\n`)).toMatch(/^story\.yaml:1:7: book: must be a slug: .*at most 64 characters/);
  });

  it.each(['CON', 'nul', 'aux', 'Prn', 'COM1', 'lpt9'])('refuses the Windows device name %j as a panel id', (id) => {
    expect(firstLine(withPanels(`- id: ${id}`, '  prompt: a'))).toBe(`story.yaml:12:17: chapters[0].strips[0].panels[0].id: ${DEVICE}`);
  });

  it('refuses device names as book, chapter, strip and variant names too, and allows names that only start like one', () => {
    expect(firstLine('book: con\nprompts: [a]\n')).toBe(`story.yaml:1:7: book: ${DEVICE}`);
    expect(firstLine('book: a\nchapters:\n  - id: AUX\n    strips: [{ id: s1, panels: [{ id: p1, prompt: x }] }]\n')).toBe(`story.yaml:3:9: chapters[0].id: ${DEVICE}`);
    expect(firstLine('book: a\nchapters:\n  - id: c1\n    strips: [{ id: lpt1, panels: [{ id: p1, prompt: x }] }]\n')).toBe(`story.yaml:4:20: chapters[0].strips[0].id: ${DEVICE}`);
    expect(firstLine(withPanels('- id: p1', '  prompt: a', '  variants: [day, nul]'))).toBe(`story.yaml:14:29: chapters[0].strips[0].panels[0].variants[1]: ${DEVICE}`);
    const book = parsePromptText(withPanels('- id: console', '  prompt: a', '- id: com10', '  prompt: b', '- id: nully', '  prompt: c'), FILE);
    expect(book.jobs.map((j) => j.panel)).toEqual(['console', 'com10', 'nully']);
  });

  it('refuses ids that differ only in case among siblings, naming both lines', () => {
    expect(firstLine(withPanels('- id: p1', '  prompt: a', '- id: P1', '  prompt: b'))).toBe(
      'story.yaml:14:17: chapters[0].strips[0].panels[1].id: duplicate panel id "P1" ("p1" on line 12 differs only in case, and macOS and Windows would write one file for both)',
    );
    expect(firstLine('book: a\nchapters:\n  - id: ch1\n    strips: [{ id: s1, panels: [{ id: p1, prompt: x }] }]\n  - id: CH1\n    strips: [{ id: s1, panels: [{ id: p1, prompt: x }] }]\n')).toBe(
      'story.yaml:5:9: chapters[1].id: duplicate chapter id "CH1" ("ch1" on line 3 differs only in case, and macOS and Windows would write one file for both)',
    );
    expect(firstLine(withPanels('- id: p1', '  prompt: a', '  variants: [Day, day]'))).toMatch(/^story\.yaml:14:29: chapters\[0\]\.strips\[0\]\.panels\[0\]\.variants\[1\]: duplicate variant name "day" \("Day" on line 14/);
    expect(firstLine('book: a\nlocales: [en, EN]\nprompts: [a]\n')).toMatch(/^story\.yaml:2:15: locales\[1\]: duplicate locale "EN" \("en" on line 2/);
  });

  it('refuses a job id longer than the protocol carries, at the panel', () => {
    const long = (c: string) => c.repeat(64);
    const text = `book: a\nlocales: [zh-Hant-TW]\nchapters:\n  - id: ${long('c')}\n    strips:\n      - id: ${long('s')}\n        panels:\n          - id: ${long('p')}\n            prompt: x\n            text: { zh-Hant-TW: hi }\n            variants: [${long('v')}]\n`;
    expect(firstLine(text)).toMatch(/^story\.yaml:8:17: chapters\[0\]\.strips\[0\]\.panels\[0\]\.id: the job id c{64}\/s{64}\/p{64}\.zh-Hant-TW~v{64} is 270 characters, more than the 256 a job id may have/);
  });
});

describe('character names that are also names of Object members (issue 14)', () => {
  it('refuses __proto__ cleanly at its key, with file, line and column', () => {
    const error = errorOf('book: a\ncharacters:\n  __proto__: a tall man\nprompts:\n  - "{__proto__} walks"\n');
    expect(error.message.split('\n')[0]).toBe('story.yaml:3:3: characters.__proto__: must be a character name that starts with a letter or digit (used as {name})');
  });

  it('takes constructor and toString as plain names', () => {
    const book = parsePromptText('book: a\ncharacters:\n  constructor: a builder\n  toString: a tailor\nprompts:\n  - "{constructor} meets {toString}"\n', FILE);
    expect(book.jobs[0].finalPrompt).toBe('a builder meets a tailor.');
  });

  it('calls a reference to an Object member that is not a character unknown', () => {
    expect(firstLine('book: a\ncharacters: { mara: M }\nprompts:\n  - "{constructor} and {hasOwnProperty}"\n')).toBe(
      'story.yaml:4:6: prompts[0]: unknown character reference {constructor} (known: mara)',
    );
  });
});
