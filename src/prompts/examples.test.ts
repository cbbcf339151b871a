import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPromptFile } from './index.js';

const prompts = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../prompts');

describe('the example prompt files', () => {
  it('demo.yaml gives 12 jobs, three panels in both English and Japanese, at a mock-site pace', async () => {
    // Its characters use their sheets (refs: sheet), which a run makes first; the jobs are the same without them.
    const book = await loadPromptFile(path.join(prompts, 'demo.yaml'), { withoutSheets: true });
    expect(book.characters?.map((c) => [c.name, c.sheet])).toEqual([['mara', true], ['tom', true]]);
    expect(book.book).toBe('the-lighthouse-demo');
    expect(book.jobs).toHaveLength(12);
    expect(book.jobs.filter((j) => j.locale === 'en')).toHaveLength(3);
    expect(book.jobs.filter((j) => j.locale === 'ja')).toHaveLength(3);
    expect(book.pacing).toEqual({ concurrency: 2, minGapSeconds: 0.5, jitterSeconds: 0.5, cooldownEvery: 0, cooldownSeconds: 0 });
    // The mock site draws from the prompt, so distinct prompts keep every demo image distinct.
    expect(new Set(book.jobs.map((j) => j.finalPrompt)).size).toBe(12);
    expect(book.jobs.every((j) => !/\{\w+\}/.test(j.finalPrompt) && j.finalPrompt.includes('Style: graphic novel style'))).toBe(true);
    // A few shapes: two panels set their own, chapter 2 is square except the panel that overrides it.
    expect(book.jobs.filter((j) => j.aspect).map((j) => [j.id, j.aspect])).toEqual([
      ['ch1/s1/p1', '16:9'],
      ['ch1/s1/p3', '9:16'],
      ['ch2/s1/p1', '1:1'],
      ['ch2/s1/p2.en', '1:1'],
      ['ch2/s1/p2.ja', '1:1'],
      ['ch2/s1/p3', '4:3'],
    ]);
    expect(book.jobs.every((j) => (j.aspect ? j.finalPrompt.includes(`Aspect ratio ${j.aspect} (`) : !j.finalPrompt.includes('Aspect ratio')))).toBe(true);
  });

  it('chapter1.yaml gives 42 jobs from 40 panels in 5 strips, at a careful human pace', async () => {
    const book = await loadPromptFile(path.join(prompts, 'chapter1.yaml'));
    expect(book.jobs).toHaveLength(42);
    expect(new Set(book.jobs.map((j) => `${j.chapter}/${j.strip}/${j.panel}`)).size).toBe(40);
    expect(new Set(book.jobs.map((j) => j.strip))).toEqual(new Set(['s1', 's2', 's3', 's4', 's5']));
    expect(book.jobs.slice(0, 3).map((j) => j.id)).toEqual(['ch1/s1/p1~1', 'ch1/s1/p1~2', 'ch1/s1/p1~3']);
    expect(book.pacing).toEqual({ concurrency: 1, minGapSeconds: 8, jitterSeconds: 2, cooldownEvery: 25, cooldownSeconds: 60 });
    expect(book.jobs.every((j) => !/\{\w+\}/.test(j.finalPrompt))).toBe(true);
  });
});
