// Reads journal.jsonl back: every line checked, seqs consecutive, a torn last line set aside.
import { readFile } from 'node:fs/promises';
import { CheckpointError } from '../protocol/errors.js';
import { describeIssue, JournalLineSchema, type ParsedLine } from './schema.js';
import type { JournalLine } from './types.js';

export interface JournalContents {
  /** The events, in order (a segment header is not one). */
  lines: JournalLine[];
  /** The seq just before the first event held here: 0 when the file holds the whole history. */
  base: number;
  /** The last seq held here (`base` when there are no events). */
  last: number;
  /** Bytes up to the end of the last good line; anything after it is a torn write. */
  validBytes: number;
  /** The file's size as read. */
  size: number;
}

export async function readJournal(file: string): Promise<JournalContents> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { lines: [], base: 0, last: 0, validBytes: 0, size: 0 };
    throw error;
  }
  // Each append is one write ending in '\n': bytes after the last '\n' are a write the crash cut short.
  const end = bytes.lastIndexOf(0x0a) + 1;
  const raw = bytes.toString('utf8', 0, end).split('\n');
  raw.pop();
  let validBytes = end;
  const parsed: ParsedLine[] = [];
  for (let i = 0; i < raw.length; i++) {
    const result = parseLine(raw[i]);
    if (typeof result !== 'string') {
      parsed.push(result);
    } else if (i === raw.length - 1 && end === bytes.length) {
      // A complete but unreadable last line is torn too (power loss can leave garbage that ends in '\n').
      validBytes = bytes.lastIndexOf(0x0a, end - 2) + 1;
    } else {
      throw damaged(file, i + 1, result);
    }
  }
  return { ...checkSequence(file, parsed), validBytes, size: bytes.length };
}

function parseLine(text: string): ParsedLine | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `not valid JSON: ${(error as Error).message}`;
  }
  const result = JournalLineSchema.safeParse(value);
  if (result.success) return result.data;
  return `unexpected content at ${describeIssue(result.error)}`;
}

function checkSequence(file: string, parsed: ParsedLine[]): Pick<JournalContents, 'lines' | 'base' | 'last'> {
  const lines: JournalLine[] = [];
  const first = parsed[0];
  const base = first === undefined ? 0 : first.t === 'segment' ? first.seq : first.seq - 1;
  let last = base;
  for (let i = 0; i < parsed.length; i++) {
    const line = parsed[i];
    if (line.t === 'segment') {
      if (i > 0) throw damaged(file, i + 1, 'a segment header after the first line');
      continue;
    }
    if (line.seq !== last + 1) throw damaged(file, i + 1, `seq ${line.seq} where ${last + 1} was expected, so events are missing`);
    last = line.seq;
    lines.push(line);
  }
  return { lines, base, last };
}

function damaged(file: string, line: number, reason: string): CheckpointError {
  return new CheckpointError(
    `${file} line ${line} is damaged (${reason}); only a torn last line can be dropped safely, so nothing was changed — restore it from a backup and run again with --resume, or move the folder away to start the book fresh (every prompt is sent again)`,
  );
}
