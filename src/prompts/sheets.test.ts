import { describe, expect, it } from 'vitest';
import { UsageError } from '../protocol/errors.js';
import { parsePromptText } from './load.js';
import { isSheetId, sheetBook, sheetJobs, withSheets } from './sheets.js';

const FILE = `book: harbour
style: ink and watercolour, soft edges
characters:
  mara: a tall fisherwoman with a red scarf and grey braids
  tom:
    description: a small boy in a yellow raincoat
prompts:
  - "{mara} mends a net"
  - "{tom} waves from the pier"
`;

const book = () => parsePromptText(FILE, 'harbour.yaml');

describe('character sheet jobs', () => {
  it('makes one job per character, with its id, output path and place in the book', () => {
    const jobs = sheetJobs(book());
    expect(jobs.map((j) => [j.id, j.outputPath, j.chapter, j.strip, j.panel, j.order])).toEqual([
      ['characters/mara', 'characters/mara.png', 'characters', 'sheet', 'mara', 0],
      ['characters/tom', 'characters/tom.png', 'characters', 'sheet', 'tom', 1],
    ]);
  });

  it('asks for front, side and back views of the description, in the book style', () => {
    const [mara] = sheetJobs(book());
    expect(mara.finalPrompt).toContain('a tall fisherwoman with a red scarf and grey braids');
    expect(mara.finalPrompt).toContain('Style: ink and watercolour, soft edges.');
    expect(mara.finalPrompt).toMatch(/front view, side view \(profile\) and back view/);
    expect(mara.finalPrompt).toContain('neutral standing pose');
    expect(mara.finalPrompt).toContain('plain light grey background');
    expect(mara.finalPrompt).not.toMatch(/\n/);
  });

  it('keeps its hash while the file is the same, and changes it with the description or the style', () => {
    const hash = sheetJobs(book())[0].promptHash;
    expect(sheetJobs(book())[0].promptHash).toBe(hash);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    const redescribed = parsePromptText(FILE.replace('red scarf', 'blue scarf'), 'harbour.yaml');
    expect(sheetJobs(redescribed)[0].promptHash).not.toBe(hash);
    const restyled = parsePromptText(FILE.replace('soft edges', 'hard edges'), 'harbour.yaml');
    expect(sheetJobs(restyled)[0].promptHash).not.toBe(hash);
    // Tom's sheet does not depend on Mara's description.
    expect(sheetJobs(redescribed)[1].promptHash).toBe(sheetJobs(book())[1].promptHash);
  });

  it('--only keeps the named characters, and an unknown name is a usage error naming it', () => {
    expect(sheetBook(book(), ['tom']).jobs.map((j) => j.id)).toEqual(['characters/tom']);
    expect(() => sheetJobs(book(), ['tom', 'nemo'])).toThrow(UsageError);
    expect(() => sheetJobs(book(), ['nemo'])).toThrow(/--only: "nemo" is not a character of harbour.yaml \(its characters: mara, tom\)/);
  });

  it('refuses two names that would be one file where case does not count', () => {
    const twins = parsePromptText(FILE.replace('  tom:\n', '  Mara:\n').replace('{tom}', '{Mara}'), 'harbour.yaml');
    expect(() => sheetJobs(twins)).toThrow(/mara and Mara would share one sheet file/);
  });

  it('a book without characters has no sheets: withSheets leaves it as it is, and the characters command says there is nothing to make', () => {
    const plain = parsePromptText('book: plain\nprompts:\n  - "a boat"\n', 'plain.yaml');
    expect(sheetJobs(plain)).toEqual([]);
    expect(withSheets(plain)).toBe(plain);
    expect(() => sheetBook(plain)).toThrow(/plain.yaml defines no characters, so there is no sheet to make/);
  });

  it('withSheets puts the sheets first and keeps the panels in order after them', () => {
    const both = withSheets(book());
    expect(both.jobs.map((j) => [j.id, j.order])).toEqual([
      ['characters/mara', 0],
      ['characters/tom', 1],
      ['ch1/s1/p1', 2],
      ['ch1/s1/p2', 3],
    ]);
  });

  it('tells sheet ids from panel ids, a chapter named "characters" included', () => {
    expect(isSheetId('characters/mara')).toBe(true);
    expect(isSheetId('characters/s1/p1')).toBe(false);
    expect(isSheetId('ch1/s1/p1')).toBe(false);
  });
});
