// Reads a prompt file and turns every problem into a PromptFileError that points at the line and
// column to fix. Schema and rule problems are sorted by position so the first one reported is the
// first one in the file; the others follow on their own lines.
import { readFile } from 'node:fs/promises';
import { isMap, isNode, isScalar, LineCounter, parseDocument, type Document, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { PromptFileError } from '../protocol/errors.js';
import { checkPromptFile, formatPath, type Path, type Problem } from './check.js';
import { expandPromptFile, sheetsIn, type ExpandOptions } from './expand.js';
import { issueSentence, PromptFileSchema } from './schema.js';
import type { PromptBook } from './types.js';

/** Problems listed after the first; more than this only adds noise. */
const MAX_LISTED = 10;

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory, not a file',
};

/** How to load: `sheetsDir` is where `refs: sheet` finds character sheets (see ExpandOptions). */
export type LoadOptions = ExpandOptions;

/** Reads, parses, validates and expands a prompt file, reading its characters' reference images. */
export async function loadPromptFile(file: string, options: LoadOptions = {}): Promise<PromptBook> {
  return parsePromptText(await readPromptText(file), file, options);
}

/** The prompt file's text; a file that cannot be read is a PromptFileError saying why. */
export async function readPromptText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const why = (code && READ_ERRORS[code]) ?? message;
    throw new PromptFileError(file, 1, 1, `cannot read the prompt file: ${why}${code ? ` (${code})` : ''}`);
  }
}

/**
 * A book as a command that reads a run's output loads it: `refs: sheet` finds each sheet where a run
 * with this `--out` wrote it, `<out>/<book>/characters` (`out` defaults to the run's, `output`). A
 * sheet not made yet is named in `sheetsToMake`, not an error: a run makes it first.
 */
export function loadBookFor(file: string, out?: string): Promise<PromptBook> {
  return loadPromptFile(file, { sheetsDir: sheetsIn(out ?? 'output'), allowMissingSheets: true });
}

/** loadBookFor from text already in memory. */
export function parseBookFor(text: string, file: string, out?: string): PromptBook {
  return parsePromptText(text, file, { sheetsDir: sheetsIn(out ?? 'output'), allowMissingSheets: true });
}

/** Same as loadPromptFile, from text already in memory; `file` is used in messages and job sources. */
export function parsePromptText(text: string, file: string, options: LoadOptions = {}): PromptBook {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, keepSourceTokens: true, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => lineCounter.linePos(offset);
  if (doc.errors.length) {
    const error = doc.errors[0];
    const { line, col } = at(error.pos[0]);
    const source = text.split(/\r?\n/)[line - 1] ?? '';
    throw new PromptFileError(file, line, col, `YAML syntax error: ${describeYamlError(error, source)}`);
  }
  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (error) {
    throw new PromptFileError(file, 1, 1, `YAML error: ${(error as Error).message}`);
  }
  if (raw === null || raw === undefined) {
    throw new PromptFileError(file, 1, 1, 'the file is empty: it needs book: and either chapters: or prompts:');
  }

  // A key's line, not its value's: a block value starts on the line below its key.
  const lineOf = (path: Path) => {
    const target = typeof path[path.length - 1] === 'string' ? 'key' : 'value';
    return at(locate(doc, text, { path, target, detail: '' }).offset).line;
  };
  const parsed = PromptFileSchema.safeParse(raw, { error: issueSentence });
  const problems = [...(parsed.success ? [] : parsed.error.issues.flatMap((issue) => toProblems(issue))), ...checkPromptFile(raw, lineOf)];
  if (problems.length || !parsed.success) {
    const placed = problems
      .map((problem) => ({ problem, ...locate(doc, text, problem) }))
      .sort((a, b) => a.sortOffset - b.sortOffset);
    const lines = placed.map(({ problem, offset }, i) => {
      const { line, col } = at(offset);
      const detail = `${formatPath(problem.path)}: ${problem.detail}`;
      return i === 0 ? { line, col, detail } : { line, col, detail: `${file}:${line}:${col}: ${detail}` };
    });
    const [first, ...rest] = lines;
    const listed = rest.slice(0, MAX_LISTED).map((l) => l.detail);
    if (rest.length > MAX_LISTED) listed.push(`… and ${rest.length - MAX_LISTED} more`);
    throw new PromptFileError(file, first.line, first.col, [first.detail, ...listed].join('\n'));
  }
  const placeOf = (path: Path) => at(locate(doc, text, { path, target: 'value', detail: '' }).offset);
  return expandPromptFile(parsed.data, file, lineOf, placeOf, options);
}

function toProblems(issue: z.core.$ZodIssue, prefix: Path = []): Problem[] {
  const path = [...prefix, ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))];
  // A character is a description or a mapping (and its refs `sheet` or a list): the form whose
  // problems are inside the value is the one the user meant, so those are reported, not "invalid".
  if (issue.code === 'invalid_union' && path[0] === 'characters') {
    const wrongForm = (i: z.core.$ZodIssue) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value');
    const meant = issue.errors.filter((branch) => !branch.some(wrongForm));
    if (meant.length === 1) return meant[0].flatMap((i) => toProblems(i, path));
  }
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ path: [...path, key], target: 'key', detail: issue.message }));
  return [{ path, target: issue.code === 'invalid_key' ? 'key' : 'value', detail: issue.message }];
}

/**
 * Where a problem is in the source. A missing key points at the start of the mapping that lacks it
 * but sorts at that mapping's end, so a misspelt key inside it is reported before "is required".
 */
function locate(doc: Document, text: string, problem: Problem): { offset: number; sortOffset: number } {
  const { path, target, needle } = problem;
  if (target === 'key' && path.length > 0) {
    const parent = doc.getIn(path.slice(0, -1), true);
    const name = String(path[path.length - 1]);
    const pair = isMap(parent) ? parent.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === name) : undefined;
    if (pair && isNode(pair.key) && pair.key.range) return { offset: pair.key.range[0], sortOffset: pair.key.range[0] };
  }
  const node = path.length ? doc.getIn(path, true) : doc.contents;
  if (isNode(node) && node.range) {
    const [start, end] = node.range;
    const inside = needle ? text.slice(start, end).indexOf(needle) : -1;
    const offset = inside >= 0 ? start + inside : start;
    return { offset, sortOffset: offset };
  }
  for (let n = path.length - 1; n >= 0; n--) {
    const ancestor = n ? doc.getIn(path.slice(0, n), true) : doc.contents;
    if (isNode(ancestor) && ancestor.range) return { offset: ancestor.range[0], sortOffset: ancestor.range[1] };
  }
  return { offset: 0, sortOffset: 0 };
}

/** A value starting with `{` opens a YAML flow mapping, the commonest slip with `{name}` references. */
const UNQUOTED_REFERENCE = /(?:^|[:\-[,]\s*)\{[A-Za-z0-9_-]+\}/;

function describeYamlError(error: YAMLError, line: string): string {
  if (error.code === 'MULTIPLE_DOCS') return 'the file holds several YAML documents (separated by ---); a prompt file is one document';
  if (error.code === 'DUPLICATE_KEY') return 'this key appears twice in the same mapping';
  const hint = UNQUOTED_REFERENCE.test(line) ? ' (text that starts with a {name} reference must be quoted, e.g. prompt: "{mara} climbs")' : '';
  return `${error.message}${hint}`;
}
