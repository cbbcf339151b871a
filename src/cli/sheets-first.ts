// A run of a book whose characters use `refs: sheet` before their sheets exist (issue 16): the run
// makes the missing sheets first, exactly as `semantest-run characters <file> --only <those>` would
// (same jobs, files, sidecars, verification and checkpoint records), then runs the panels with the
// sheets attached. So a fresh clone's demo is one command, and a book never fails at load for a
// sheet it could have made itself. A sheet that exists but is unusable (not an image, too large)
// is still the loader's error: making it again would overwrite something a person put there.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { cleanText } from '../protocol/text.js';
import { jsonLine } from '../report/console.js';
import { referencePath } from '../run/references.js';
import { loadPromptFile, sheetsIn } from '../prompts/index.js';
import { sheetBook } from '../prompts/sheets.js';
import type { PromptBook } from '../prompts/types.js';

/** What the `characters` command runs: the book's sheets (those `names` lists, or all) as its jobs. */
export function sheetLoader(names: readonly string[]): (file: string) => Promise<PromptBook> {
  // Panels may use `refs: sheet`: the sheets are what this makes, so they are not read here.
  return (file) => loadPromptFile(file, { withoutSheets: true }).then((book) => sheetBook(book, names));
}

/** The options of a run this file reads or clears; the rest go through to `run` untouched. */
export interface SheetsFirstArgs {
  file: string;
  out: string;
  'dry-run'?: boolean;
  json?: boolean;
  only?: string;
  limit?: number;
  validate?: string;
  'validate-bar'?: string;
}

export type RunCommand<A> = (args: A, loadBook?: (file: string) => Promise<PromptBook>) => Promise<number>;

/**
 * The characters with `refs: sheet` whose sheet file is not there yet, in the file's order. Only a
 * missing file counts (ENOENT, or ENOTDIR when a folder on its path is a file); a character without
 * a description has no sheet to make, and is left to the loader's message.
 */
export async function missingSheets(file: string, out: string): Promise<{ book: PromptBook; names: string[]; dir: string }> {
  const book = await loadPromptFile(file, { withoutSheets: true });
  const dir = sheetsIn(out)(book.book);
  const names: string[] = [];
  for (const character of book.characters ?? []) {
    if (!character.sheet || character.description.trim() === '') continue;
    try {
      await stat(path.join(dir, `${character.name}.png`));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      names.push(character.name);
    }
  }
  return { book, names, dir };
}

/**
 * Runs the book as `run` does, making its missing sheets first. The sheets' run leaves out what
 * is about panels (--only, --limit, --validate): every sheet a panel needs must exist before any
 * panel can be loaded. If it does not end with every sheet verified, the panels are not started.
 */
export async function runWithSheetsFirst<A extends SheetsFirstArgs>(args: A, run: RunCommand<A>): Promise<number> {
  const file = String(args.file);
  const { book, names, dir } = await missingSheets(file, args.out);
  if (names.length === 0) return run(args);
  const say = (message: string) =>
    process.stdout.write(`${args.json ? jsonLine({ at: new Date().toISOString(), type: 'note', message }) : `semantest: ${cleanText(message, { singleLine: true })}`}\n`);
  const listed = names.join(', ');
  // The folder as the user would type it from here, unless it is elsewhere.
  const where = path.relative(process.cwd(), dir).startsWith('..') ? dir : path.relative(process.cwd(), dir);
  if (args['dry-run']) return dryRunSheetsFirst(file, book, names, dir);

  say(`${book.book}: making the character sheets first (${listed}): ${names.length === 1 ? 'it uses' : 'they use'} refs: sheet and ${names.length === 1 ? 'its sheet does' : 'their sheets do'} not exist yet in ${where}; same as \`semantest-run characters ${file} --only ${names.join(' ')}\`, then the panels`);
  // `run` listens for Ctrl-C for as long as the process lives; the sheets' listeners must not also
  // answer a Ctrl-C during the panels (one "stopping" line, not two).
  const listening = { SIGINT: new Set(process.listeners('SIGINT')), SIGTERM: new Set(process.listeners('SIGTERM')) };
  let code: number;
  try {
    code = await run({ ...args, only: undefined, limit: undefined, validate: undefined, 'validate-bar': undefined }, sheetLoader(names));
  } finally {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      for (const listener of process.listeners(signal)) if (!listening[signal].has(listener)) process.off(signal, listener);
    }
  }
  if (code !== 0) {
    if (code !== 130) process.stderr.write(`semantest-run: the character sheets (${listed}) were not all made, so no panel was started: see above, then run the same command again with --resume\n`);
    return code;
  }
  say(`${book.book}: the character sheets are made (${listed}); now the panels, each with its characters' sheets attached`);
  return run(args);
}

/** `--dry-run` before the sheets exist: the sheets a run would make first, then the panels. */
async function dryRunSheetsFirst(file: string, book: PromptBook, names: readonly string[], dir: string): Promise<number> {
  const sheets = await sheetLoader(names)(file);
  process.stdout.write(`# first the character sheets (${names.join(', ')}): not in ${cleanText(dir, { singleLine: true })} yet; the panels that name them attach them\n`);
  for (const job of [...sheets.jobs, ...book.jobs]) {
    process.stdout.write(`${job.id}\t${cleanText(job.finalPrompt, { singleLine: true })}\n`);
    // References other than the sheets are read already; a sheet is attached once it is made.
    for (const ref of job.refs ?? []) process.stdout.write(`\treference ${cleanText(ref.character, { singleLine: true })}: ${cleanText(referencePath(ref.file, file), { singleLine: true })}\n`);
  }
  process.stdout.write(`${sheets.jobs.length} character sheets, then ${book.jobs.length} jobs in ${book.book}\n`);
  return 0;
}
