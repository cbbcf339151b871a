import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { missingSheets, runWithSheetsFirst, type SheetsFirstArgs } from './sheets-first.js';

const BOOK = `book: harbour
characters:
  mara: { description: a tall fisherwoman, refs: sheet }
  tom: { description: a small boy, refs: sheet }
  ned: an old sailor
prompts:
  - "{mara} mends a net"
  - "{tom} and {ned} on the pier"
`;

async function setUp(): Promise<{ dir: string; file: string; sheets: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sheets-first-'));
  const file = path.join(dir, 'harbour.yaml');
  await writeFile(file, BOOK);
  return { dir, file, sheets: path.join(dir, 'out', 'harbour', 'characters') };
}

const png = () => sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 90, g: 90, b: 90 } } }).png().toBuffer();

describe('sheets first', () => {
  it('names the refs: sheet characters whose sheet file is missing, in file order, and no plain character', async () => {
    const { dir, file, sheets } = await setUp();
    expect((await missingSheets(file, path.join(dir, 'out'))).names).toEqual(['mara', 'tom']);
    await mkdir(sheets, { recursive: true });
    await writeFile(path.join(sheets, 'mara.png'), await png());
    const after = await missingSheets(file, path.join(dir, 'out'));
    expect(after.names).toEqual(['tom']);
    expect(after.dir).toBe(sheets);
  });

  it('runs the sheets (only the missing ones) before the panels, and no panel when the sheets fail', async () => {
    const { dir, file, sheets } = await setUp();
    await mkdir(sheets, { recursive: true });
    await writeFile(path.join(sheets, 'mara.png'), await png());
    const args: SheetsFirstArgs = { file, out: path.join(dir, 'out'), json: true, only: 'ch1/*', limit: 1 };
    const calls: Array<{ only?: string; limit?: number; jobs?: string[] }> = [];
    const run = async (a: SheetsFirstArgs, loadBook?: (file: string) => Promise<{ jobs: Array<{ id: string }> }>) => {
      calls.push({ only: a.only, limit: a.limit, jobs: loadBook ? (await loadBook(a.file)).jobs.map((j) => j.id) : undefined });
      return calls.length === 1 ? exitOfSheets : 0;
    };
    let exitOfSheets = 0;
    const write = process.stdout.write;
    process.stdout.write = () => true;
    try {
      expect(await runWithSheetsFirst(args, run)).toBe(0);
      expect(calls).toEqual([{ only: undefined, limit: undefined, jobs: ['characters/tom'] }, { only: 'ch1/*', limit: 1, jobs: undefined }]);
      calls.length = 0;
      exitOfSheets = 1;
      const stderr = process.stderr.write;
      process.stderr.write = () => true;
      try {
        expect(await runWithSheetsFirst(args, run)).toBe(1);
      } finally {
        process.stderr.write = stderr;
      }
      expect(calls).toHaveLength(1);
    } finally {
      process.stdout.write = write;
    }
  });
});
