// Turns a validated prompt file into jobs. Pure: the same file always gives the same ids and
// hashes, and a job's hash depends only on its own panel (plus style, provider and the aspect it
// inherits), so editing one panel marks only that panel's jobs as changed on --resume.
import { createHash } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import { PromptFileError } from '../protocol/errors.js';
import { LIMITS, MAX_ATTACHMENTS, MAX_ATTACHMENTS_TOTAL_BYTES, MAX_PROMPT_CHARS, type Aspect } from '../protocol/messages.js';
import { describeAspect } from '../verify/aspect.js';
import { formatPath, REFERENCE, type Path } from './check.js';
import type { PanelSpec, PromptFile } from './schema.js';
import { readReference, ReferenceProblem, resolveReference } from './refs.js';
import { DEFAULT_PACING, type Character, type Job, type PromptBook, type Reference } from './types.js';

interface PanelAt {
  chapter: string;
  strip: string;
  panel: PanelSpec;
  path: Path;
  /** The chapter's aspect, if it sets one. */
  chapterAspect?: Aspect;
}

/** One line, no runs of spaces: a chat composer may treat a newline as "send". */
const squash = (s: string) => s.replace(/\s+/g, ' ').trim();
/** Drops trailing `.`/`,`/`;`/`:` so clauses can be joined without doubled punctuation. */
const clause = (s: string) => squash(s).replace(/[\s.,;:]+$/, '');
const sentence = (s: string) => (/[.!?…。！？]$/.test(s) ? s : `${s}.`);

export interface Bubble {
  locale?: string;
  text: string;
}

/**
 * The prompt sent to the site:
 * `<prompt>, <modifier>, <modifier>. Speech bubble text (<locale>): "<text>". Aspect ratio <ratio> (<shape>). Style: <style>.`
 * Character references are already expanded in `prompt` and `modifiers`; the bubble, aspect and
 * style sentences are left out when the panel has no text, no aspect (or `auto`), or the file no
 * style. The aspect sentence keeps the literal ratio (`9:16`), which sites read.
 */
export function composePrompt(prompt: string, modifiers: readonly string[], bubble: Bubble | undefined, style: string, aspect?: Aspect): string {
  const sentences = [[prompt, ...modifiers].map(clause).filter(Boolean).join(', ')];
  if (bubble) sentences.push(`Speech bubble text${bubble.locale ? ` (${bubble.locale})` : ''}: "${squash(bubble.text)}"`);
  if (aspect && aspect !== 'auto') sentences.push(`Aspect ratio ${describeAspect(aspect)}`);
  if (clause(style)) sentences.push(`Style: ${clause(style)}`);
  return sentences.map(sentence).join(' ');
}

/**
 * The aspect is hashed on its own as well as in the final prompt: `auto` adds nothing to the text
 * but is still a different request from no aspect (the page's aspect control is set), and it keeps
 * hashes of panels without an aspect what they were before aspects existed (JSON drops undefined).
 * The references' sha256s (in attach order) join the same way: a changed image makes its panels
 * stale, and a panel without references keeps the hash it had before references existed.
 */
export function hashPrompt(finalPrompt: string, provider: string, locale?: string, variant?: string, aspect?: Aspect, refs?: readonly string[]): string {
  const references = refs?.length ? refs : undefined;
  return createHash('sha256').update(JSON.stringify({ finalPrompt, provider, locale, variant, aspect, refs: references })).digest('hex');
}

function panelsOf(data: PromptFile): PanelAt[] {
  if (data.prompts) {
    return data.prompts.map((prompt, i) => ({ chapter: 'ch1', strip: 's1', panel: { id: `p${i + 1}`, prompt }, path: ['prompts', i] }));
  }
  return (data.chapters ?? []).flatMap((chapter, c) =>
    chapter.strips.flatMap((strip, s) =>
      strip.panels.map((panel, p) => ({
        chapter: chapter.id,
        strip: strip.id,
        panel,
        path: ['chapters', c, 'strips', s, 'panels', p],
        chapterAspect: chapter.aspect,
      })),
    ),
  );
}

/** A panel without text gives one job; a text map gives one per locale it has, in `locales` order. */
function bubblesOf(panel: PanelSpec, locales: readonly string[]): (Bubble | undefined)[] {
  const { text } = panel;
  if (text === undefined) return [undefined];
  if (typeof text === 'string') return [{ text }];
  return locales.filter((locale) => locale in text).map((locale) => ({ locale, text: text[locale] }));
}

function variantsOf(panel: PanelSpec): (string | undefined)[] {
  const { variants } = panel;
  if (variants === undefined) return [undefined];
  if (typeof variants === 'number') return Array.from({ length: variants }, (_, i) => String(i + 1));
  return variants;
}

/**
 * All final prompts of a book together (distinct texts, counted once per panel and locale): with
 * each prompt capped, only a file of thousands of panels that each expand a long character comes
 * near it, and a limit keeps the loader's memory in the tens of megabytes whatever the file.
 */
export const MAX_BOOK_PROMPT_CHARS = 32_000_000;

/**
 * Expands `{name}` references in `s`, giving up (undefined) as soon as the text, once squashed and
 * trimmed as composePrompt will, is longer than `budget`: a short file that names a long character
 * thousands of times would otherwise build a string of hundreds of megabytes before any check.
 * Squashing happens only when the raw text doubles past the budget, so the work stays linear.
 */
export function expandReferences(s: string, characters: ReadonlyMap<string, string>, budget: number): string | undefined {
  let out = '';
  let threshold = Math.max(budget, 0);
  const add = (piece: string) => {
    out += piece;
    if (out.length <= threshold) return false;
    out = out.replace(/\s+/g, ' ');
    if (clause(out).length > budget) return true;
    threshold = Math.max(budget, 2 * out.length);
    return false;
  };
  let last = 0;
  for (const match of s.matchAll(REFERENCE)) {
    if (add(s.slice(last, match.index)) || add(characters.get(match[1]) ?? match[0])) return undefined;
    last = match.index + match[0].length;
  }
  return add(s.slice(last)) ? undefined : out;
}

/** The expanded length without building the text, for the message when it is too long. */
function expandedLength(s: string, characters: ReadonlyMap<string, string>): number {
  let length = s.length;
  for (const match of s.matchAll(REFERENCE)) length += (characters.get(match[1]) ?? match[0]).length - match[0].length;
  return length;
}

/** Where a field is in the file, for errors raised after validation. */
export type PlaceOf = (path: Path) => { line: number; col: number };

export interface ExpandOptions {
  /**
   * Where `refs: sheet` finds sheets (`<out>/<book>/characters`, or a function of the book's slug).
   * Without it, a job that needs a sheet is an error.
   */
  sheetsDir?: string | ((book: string) => string);
  /** Leave sheets out of the jobs (for the command that makes them): they may not exist yet. */
  withoutSheets?: boolean;
  /**
   * A sheet not made yet (no file) is left out of its panels' jobs and named in the book's
   * `sheetsToMake`, instead of an error: for commands that read a book's state (status, plan,
   * report), since a run makes missing sheets first. A sheet that is there but unusable is still an error.
   */
  allowMissingSheets?: boolean;
}

/** The names a text refers to as `{name}`, in order, among the known ones. */
function namedIn(text: string | undefined, known: ReadonlyMap<string, unknown>): string[] {
  if (text === undefined) return [];
  return [...text.matchAll(REFERENCE)].map((m) => m[1]).filter((name) => known.has(name));
}

export function expandPromptFile(data: PromptFile, file: string, lineOf: (path: Path) => number, placeOf: PlaceOf, options: ExpandOptions = {}): PromptBook {
  const provider = data.provider ?? 'chatgpt';
  const style = data.style ?? '';
  const fail = (path: Path, detail: string): never => {
    const { line, col } = placeOf(path);
    throw new PromptFileError(file, line, col, `${formatPath(path)}: ${detail}`);
  };
  const defined = characterList(data, file, fail);
  // A Map, not the parsed object: `constructor` or `toString` must be plain names, never Object's.
  const characters = new Map(defined.map((c) => [c.name, clause(c.description)]));
  const sheetsToMake = new Set<string>();
  const refsOf = characterRefs(defined, data.book, file, fail, options, sheetsToMake);
  const tooLong = (path: Path, length: string) =>
    fail(path, `the final prompt would be ${length} characters, and the site takes at most ${MAX_PROMPT_CHARS}: shorten the prompt, its modifiers, its {name} characters or the style`);
  const outputs = new Map<string, Job>();
  let bookChars = 0;
  const jobs: Job[] = [];
  for (const { chapter, strip, panel, path, chapterAspect } of panelsOf(data)) {
    const promptPath = data.prompts ? path : [...path, 'prompt'];
    // One budget for the prompt and its modifiers: composePrompt joins them, so together they
    // must fit; what is left after each is what the next may use.
    let budget = MAX_PROMPT_CHARS;
    const expand = (text: string, at: Path) => {
      const expanded = expandReferences(text, characters, budget);
      if (expanded === undefined) return tooLong(at, `about ${(MAX_PROMPT_CHARS - budget + expandedLength(text, characters)).toLocaleString('en-US')}`);
      budget -= clause(expanded).length;
      return expanded;
    };
    const prompt = expand(panel.prompt, promptPath);
    const modifiers = (panel.modifiers ?? []).map((modifier, m) => expand(modifier, [...path, 'modifiers', m]));
    const source = { file, line: lineOf(path) };
    const named = [...namedIn(panel.prompt, characters), ...(panel.modifiers ?? []).flatMap((m) => namedIn(m, characters))];
    // The nearest level that says wins: panel, then chapter, then book.
    const aspect = panel.aspect ?? chapterAspect ?? data.aspect;
    for (const bubble of bubblesOf(panel, data.locales ?? [])) {
      const finalPrompt = composePrompt(prompt, modifiers, bubble, style, aspect);
      if (finalPrompt.length > MAX_PROMPT_CHARS) tooLong(promptPath, finalPrompt.length.toLocaleString('en-US'));
      bookChars += finalPrompt.length;
      if (bookChars > MAX_BOOK_PROMPT_CHARS) {
        fail(promptPath, `the book's final prompts add up to more than ${MAX_BOOK_PROMPT_CHARS.toLocaleString('en-US')} characters here: split the book into several files`);
      }
      const refs = panelRefs([...named, ...namedIn(bubble?.text, characters)], refsOf, promptPath, fail);
      for (const variant of variantsOf(panel)) {
        const locale = bubble?.locale;
        const id = `${chapter}/${strip}/${panel.id}${locale ? `.${locale}` : ''}${variant ? `~${variant}` : ''}`;
        if (id.length > LIMITS.jobId) fail([...path, 'id'], `the job id ${id} is ${id.length} characters, more than the ${LIMITS.jobId} a job id may have: shorten the chapter, strip, panel or variant ids`);
        // macOS and Windows folders ignore case: `p1` and `P1` would be one file there.
        const twin = outputs.get(`${id}.png`.toLowerCase());
        if (twin) fail([...path, 'id'], `the job ${id} would write the same file as ${twin.id} (line ${twin.source.line}) on macOS and Windows, where case does not count: rename one`);
        jobs.push({
          id,
          order: jobs.length,
          chapter,
          strip,
          panel: panel.id,
          ...(locale ? { locale } : {}),
          ...(variant ? { variant } : {}),
          ...(aspect ? { aspect } : {}),
          prompt: panel.prompt,
          finalPrompt,
          promptHash: hashPrompt(finalPrompt, provider, locale, variant, aspect, refs.map((r) => r.sha256)),
          outputPath: `${id}.png`,
          ...(refs.length ? { refs } : {}),
          source,
        });
        outputs.set(`${id}.png`.toLowerCase(), jobs[jobs.length - 1]);
      }
    }
  }
  return {
    book: data.book,
    provider,
    style,
    pacing: { ...DEFAULT_PACING, ...data.pacing },
    ...(data.profiles ? { profiles: [...data.profiles] } : {}),
    ...(data.quota ? { quota: { images: data.quota.images, hours: data.quota.hours } } : {}),
    ...(defined.length ? { characters: defined } : {}),
    ...(sheetsToMake.size ? { sheetsToMake: defined.filter((c) => sheetsToMake.has(c.name)).map((c) => c.name) } : {}),
    file,
    jobs,
  };
}

type Fail = (path: Path, detail: string) => never;

/** Each character with its listed references read and checked, each file once. */
function characterList(data: PromptFile, file: string, fail: Fail): Character[] {
  const read = new Map<string, Omit<Reference, 'character'>>();
  return Object.entries(data.characters ?? {}).map(([name, spec]) => {
    if (typeof spec === 'string') return { name, description: spec, sheet: false, refs: [] };
    const listed = Array.isArray(spec.refs) ? spec.refs : [];
    const refs = listed.map((written, i) => {
      const absolute = resolveReference(file, written);
      let ref = read.get(absolute);
      if (!ref) {
        try {
          ref = readReference(name, absolute);
        } catch (error) {
          if (!(error instanceof ReferenceProblem)) throw error;
          return fail(['characters', name, 'refs', i], `reference ${written} (${absolute}) ${error.message}`);
        }
        read.set(absolute, ref);
      }
      return { ...ref, character: name };
    });
    return { name, description: spec.description, sheet: spec.refs === 'sheet', refs };
  });
}

/** A character's references by name; a sheet is read the first time a job needs it. */
function characterRefs(defined: readonly Character[], book: string, file: string, fail: Fail, options: ExpandOptions, notMade: Set<string>): (name: string) => Reference[] {
  const byName = new Map(defined.map((c) => [c.name, c]));
  const sheets = new Map<string, Reference[]>();
  return (name) => {
    const character = byName.get(name)!;
    if (!character.sheet) return character.refs;
    if (options.withoutSheets) return [];
    const known = sheets.get(name);
    if (known) return known;
    const at: Path = ['characters', name, 'refs'];
    const dir = typeof options.sheetsDir === 'function' ? options.sheetsDir(book) : options.sheetsDir;
    if (dir === undefined) return fail(at, `${name} uses refs: sheet, and this command does not know where character sheets are kept`);
    const sheet = resolvePath(dir, `${name}.png`);
    let ref: Reference;
    try {
      ref = readReference(name, sheet);
    } catch (error) {
      if (!(error instanceof ReferenceProblem)) throw error;
      const missing = /\((ENOENT|ENOTDIR)\)$/.test(error.message);
      if (missing && options.allowMissingSheets) {
        notMade.add(name);
        sheets.set(name, []);
        return [];
      }
      return fail(at, missing
        ? `${name} uses refs: sheet, but there is no sheet at ${sheet}: run \`semantest-run characters ${file}\` first`
        : `${name}'s sheet ${sheet} ${error.message}`);
    }
    sheets.set(name, [ref]);
    return [ref];
  };
}

/** The references of the named characters, deduplicated by content, in first-named order. */
function panelRefs(names: readonly string[], refsOf: (name: string) => Reference[], at: Path, fail: Fail): Reference[] {
  const seen = new Set<string>();
  const out: Reference[] = [];
  for (const name of new Set(names)) {
    for (const ref of refsOf(name)) {
      if (seen.has(ref.sha256)) continue;
      seen.add(ref.sha256);
      out.push(ref);
    }
  }
  if (out.length > MAX_ATTACHMENTS) {
    fail(at, `the characters this panel names have ${out.length} reference images together; the page takes at most ${MAX_ATTACHMENTS} with one prompt: name fewer characters or give them fewer refs`);
  }
  const total = out.reduce((sum, r) => sum + r.bytes, 0);
  if (total > MAX_ATTACHMENTS_TOTAL_BYTES) {
    fail(at, `the characters this panel names have ${(total / 1024 / 1024).toFixed(1)} MB of reference images together; at most ${MAX_ATTACHMENTS_TOTAL_BYTES / 1024 / 1024} MB go with one prompt`);
  }
  return out;
}

/** Where `semantest-run characters` keeps a book's sheets: `<out>/<book>/characters`. */
export const sheetsIn = (out: string) => (book: string): string => resolvePath(out, book, 'characters');
