// Character sheets (`semantest-run characters`, ARCHITECTURE §8 "Character sheets"): one reference
// image per character, made by the same run as the panels. The sheets are jobs of the book itself
// (same slug, same checkpoint and output folder), with ids `characters/<name>`: two segments, where
// every panel id has three (chapter/strip/panel), so a sheet id can never be a panel's. A run of the
// panels and a run of the sheets each look only at their own records (src/run/plan.ts).
import { MAX_PROMPT_CHARS, type Aspect } from '../protocol/messages.js';
import { UsageError } from '../protocol/errors.js';
import { composePrompt, hashPrompt } from './expand.js';
import { DEVICE_NAME, ID } from './schema.js';
import type { Character, Job, PromptBook } from './types.js';

export const SHEET_CHAPTER = 'characters';
export const SHEET_STRIP = 'sheet';
/** Wide enough for three full-body views side by side. */
export const SHEET_ASPECT: Aspect = '16:9';

const SHEET_ID = /^characters\/[^/]+$/;

/** Whether a job id is a character sheet's (`characters/<name>`) rather than a panel's. */
export function isSheetId(id: string): boolean {
  return SHEET_ID.test(id);
}

/** What makes a sheet a reference: the same figure three times, nothing else in the picture. */
const SHEET_MODIFIERS = [
  'three full-body views side by side of the same character: front view, side view (profile) and back view',
  'neutral standing pose, arms relaxed at the sides, neutral expression',
  'plain light grey background, even lighting, no scenery, no props, no other characters',
  'no text, no labels, no captions',
];

/** The prompt sent for a character's sheet: its description and the book's style (composePrompt's format). */
export function sheetPrompt(character: Character, style: string): string {
  return composePrompt(`Character reference sheet of ${character.name}: ${character.description}`, SHEET_MODIFIERS, undefined, style, SHEET_ASPECT);
}

/**
 * The characters to make sheets for: every one with a description, or those `only` names (each must
 * exist, or nothing starts). Names were checked by the prompt file's schema; they are checked again
 * here because they become file names, and two that differ only in case would be one file on macOS
 * and Windows.
 */
export function sheetCharacters(book: PromptBook, only?: readonly string[]): Character[] {
  const all = (book.characters ?? []).filter((c) => c.description.trim() !== '');
  for (const c of all) {
    if (!ID.test(c.name) || DEVICE_NAME.test(c.name)) throw new UsageError(`${book.file}: the character name "${c.name}" cannot name a sheet file`);
  }
  const lower = new Map<string, string>();
  for (const c of all) {
    const twin = lower.get(c.name.toLowerCase());
    if (twin !== undefined) throw new UsageError(`${book.file}: the characters ${twin} and ${c.name} would share one sheet file on macOS and Windows, where case does not count: rename one`);
    lower.set(c.name.toLowerCase(), c.name);
  }
  if (only === undefined || only.length === 0) return all;
  const byName = new Map(all.map((c) => [c.name, c]));
  const unknown = only.filter((name) => !byName.has(name));
  if (unknown.length > 0) {
    const known = all.map((c) => c.name).join(', ') || 'none';
    throw new UsageError(`--only: ${unknown.map((n) => `"${n}"`).join(', ')} ${unknown.length === 1 ? 'is not a character' : 'are not characters'} of ${book.file} (its characters: ${known})`);
  }
  const wanted = new Set(only);
  return all.filter((c) => wanted.has(c.name));
}

/** One job per character: `characters/<name>`, saved as `characters/<name>.png` in the book's folder. */
export function sheetJobs(book: PromptBook, only?: readonly string[]): Job[] {
  return sheetCharacters(book, only).map((character, order) => {
    const finalPrompt = sheetPrompt(character, book.style);
    if (finalPrompt.length > MAX_PROMPT_CHARS) {
      throw new UsageError(`${book.file}: the sheet prompt for ${character.name} would be ${finalPrompt.length} characters, and the site takes at most ${MAX_PROMPT_CHARS}: shorten its description or the style`);
    }
    const id = `${SHEET_CHAPTER}/${character.name}`;
    return {
      id,
      order,
      chapter: SHEET_CHAPTER,
      strip: SHEET_STRIP,
      panel: character.name,
      aspect: SHEET_ASPECT,
      prompt: character.description,
      finalPrompt,
      promptHash: hashPrompt(finalPrompt, book.provider, undefined, undefined, SHEET_ASPECT),
      outputPath: `${id}.png`,
      source: { file: book.file, line: 1 },
    };
  });
}

/** The book as the `characters` command runs it: its sheets instead of its panels. */
export function sheetBook(book: PromptBook, only?: readonly string[]): PromptBook {
  const jobs = sheetJobs(book, only);
  // Nothing to make is a mistake worth saying, not an empty run that exits 0.
  if (jobs.length === 0) throw new UsageError(`${book.file} defines no characters, so there is no sheet to make: add them under characters: (name: description)`);
  return { ...book, jobs };
}

/** The book with its sheets first (for reject and the report, which show and act on both). */
export function withSheets(book: PromptBook): PromptBook {
  const sheets = sheetJobs(book);
  if (sheets.length === 0) return book;
  return { ...book, jobs: [...sheets, ...book.jobs.map((job) => ({ ...job, order: job.order + sheets.length }))] };
}
