// Rules a schema cannot express: cross references, uniqueness, the chapters/prompts choice.
// They run on the raw YAML data even when the schema also failed, so the problem reported first is
// the first in the file, whichever kind it is; every access is guarded for that reason.

export type Path = (string | number)[];

export interface Problem {
  path: Path;
  /** Point at the map key itself (unknown or misspelt keys) rather than its value. */
  target: 'key' | 'value';
  /** Text inside the value to point at, e.g. the `{name}` reference. */
  needle?: string;
  /** Ends a sentence that starts with the field path. */
  detail: string;
}

/** `chapters[0].strips[1].panels[2].prompt`, or `the file` for the document itself. */
export function formatPath(path: Path): string {
  if (path.length === 0) return 'the file';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Matches a `{name}` character reference; other braces are left as written. */
export const REFERENCE = /\{([A-Za-z0-9_-]+)\}/g;

type Raw = Record<string, unknown>;
const isRecord = (v: unknown): v is Raw => v !== null && typeof v === 'object' && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export function checkPromptFile(raw: unknown, lineOf: (path: Path) => number): Problem[] {
  if (!isRecord(raw)) return [];
  const problems: Problem[] = [];
  const keys = Object.keys(raw);
  const hasChapters = keys.includes('chapters');
  const hasPrompts = keys.includes('prompts');
  if (hasChapters && hasPrompts) {
    const [first, second] = keys.indexOf('chapters') < keys.indexOf('prompts') ? ['chapters', 'prompts'] : ['prompts', 'chapters'];
    problems.push({ path: [second], target: 'key', detail: `cannot be used together with ${first}: (line ${lineOf([first])}); a file has either chapters or a flat prompts list` });
  } else if (!hasChapters && !hasPrompts) {
    problems.push({ path: [], target: 'value', detail: 'needs either chapters: (chapters, strips and panels) or prompts: (a flat list of prompts)' });
  }

  const names = isRecord(raw.characters) ? Object.keys(raw.characters) : [];
  // The schema's record drops a `__proto__` key without a word (it is the prototype's setter on
  // a plain object), so the name rule is applied here to say so at the key.
  if (names.includes('__proto__')) {
    problems.push({ path: ['characters', '__proto__'], target: 'key', detail: 'must be a character name that starts with a letter or digit (used as {name})' });
  }
  const known = names.length ? `known: ${names.join(', ')}` : 'no characters are defined under characters:';
  const checkReferences = (value: unknown, path: Path) => {
    if (typeof value !== 'string') return;
    for (const [ref, name] of value.matchAll(REFERENCE)) {
      if (!names.includes(name)) problems.push({ path, target: 'value', needle: ref, detail: `unknown character reference ${ref} (${known})` });
    }
  };
  // Case-insensitive: macOS and Windows folders ignore case, so `p1` and `P1` would be one file.
  const checkUnique = (items: unknown[], path: Path, what: string, idOf: (item: unknown) => unknown) => {
    const seen = new Map<string, { i: number; id: string }>();
    items.forEach((item, i) => {
      const id = idOf(item);
      if (typeof id !== 'string') return;
      const first = seen.get(id.toLowerCase());
      const at = isRecord(item) ? [...path, i, 'id'] : [...path, i];
      if (first === undefined) {
        seen.set(id.toLowerCase(), { i, id });
        return;
      }
      const line = lineOf(isRecord(item) ? [...path, first.i, 'id'] : [...path, first.i]);
      const same = first.id === id ? `already used on line ${line}` : `"${first.id}" on line ${line} differs only in case, and macOS and Windows would write one file for both`;
      problems.push({ path: at, target: 'value', detail: `duplicate ${what} "${id}" (${same})` });
    });
  };
  const byId = (item: unknown) => (isRecord(item) ? item.id : undefined);
  const itself = (item: unknown) => item;

  const locales = Array.isArray(raw.locales) ? raw.locales.filter((l): l is string => typeof l === 'string') : undefined;
  checkUnique(list(raw.locales), ['locales'], 'locale', itself);

  list(raw.prompts).forEach((prompt, i) => checkReferences(prompt, ['prompts', i]));

  const chapters = list(raw.chapters);
  checkUnique(chapters, ['chapters'], 'chapter id', byId);
  chapters.forEach((chapter, c) => {
    if (!isRecord(chapter)) return;
    const strips = list(chapter.strips);
    checkUnique(strips, ['chapters', c, 'strips'], 'strip id', byId);
    strips.forEach((strip, s) => {
      if (!isRecord(strip)) return;
      const panels = list(strip.panels);
      const panelsPath: Path = ['chapters', c, 'strips', s, 'panels'];
      checkUnique(panels, panelsPath, 'panel id', byId);
      panels.forEach((panel, p) => {
        if (!isRecord(panel)) return;
        const at: Path = [...panelsPath, p];
        checkReferences(panel.prompt, [...at, 'prompt']);
        list(panel.modifiers).forEach((modifier, m) => checkReferences(modifier, [...at, 'modifiers', m]));
        checkUnique(list(panel.variants), [...at, 'variants'], 'variant name', itself);
        if (!isRecord(panel.text)) return;
        if (Object.keys(panel.text).length === 0) {
          problems.push({ path: [...at, 'text'], target: 'value', detail: 'is an empty map: give text per locale, or leave text out' });
          return;
        }
        if (!locales) {
          problems.push({ path: [...at, 'text'], target: 'value', detail: 'gives text per locale, but the file lists no locales: add e.g. locales: [en, ja] at the top' });
          return;
        }
        for (const locale of Object.keys(panel.text)) {
          if (!locales.includes(locale)) problems.push({ path: [...at, 'text', locale], target: 'key', detail: `locale ${locale} is not listed in locales (${locales.join(', ')})` });
        }
      });
    });
  });
  return problems;
}
