import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PACING, parsePromptText, type PromptBook } from './index.js';

const STORY = `book: the-lighthouse
style: "graphic novel style, high contrast"
characters:
  mara: "Mara, a keeper in her sixties, silver braid."
  tom: "Tom, a young fisherman"
locales: [en, ja]
pacing: { concurrency: 1, minGapSeconds: 8 }
chapters:
  - id: ch1
    title: The Storm
    strips:
      - id: s1
        panels:
          - id: p1
            prompt: "{mara} climbs the spiral stairs"
            modifiers: [low angle, "rain on glass"]
            text: { ja: "今夜はだめ。", en: "Not tonight." }
          - id: p2
            prompt: |
              {tom} rows
              through the storm.
          - id: p3
            prompt: "{mara} waves to {tom}"
            text: "Over here!"
      - id: s2
        panels:
          - id: p1
            prompt: "The lamp goes dark"
            text: { ja: "消えた" }
            variants: 2
          - id: p2
            prompt: "The beam returns"
            variants: [dawn, dusk]
`;

const load = (text = STORY): PromptBook => parsePromptText(text, 'story.yaml');
const byId = (book: PromptBook) => Object.fromEntries(book.jobs.map((j) => [j.id, j]));

describe('expansion', () => {
  it('gives every job an id, output path and order in book order', () => {
    const book = load();
    expect(book.jobs.map((j) => j.id)).toEqual([
      'ch1/s1/p1.en',
      'ch1/s1/p1.ja',
      'ch1/s1/p2',
      'ch1/s1/p3',
      'ch1/s2/p1.ja~1',
      'ch1/s2/p1.ja~2',
      'ch1/s2/p2~dawn',
      'ch1/s2/p2~dusk',
    ]);
    expect(book.jobs.map((j) => j.order)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(book.jobs.map((j) => j.outputPath)).toEqual(book.jobs.map((j) => `${j.id}.png`));
    expect(byId(book)['ch1/s2/p1.ja~2']).toMatchObject({ chapter: 'ch1', strip: 's2', panel: 'p1', locale: 'ja', variant: '2', outputPath: 'ch1/s2/p1.ja~2.png' });
    expect(byId(book)['ch1/s1/p2']).not.toHaveProperty('locale');
    expect(byId(book)['ch1/s1/p2']).not.toHaveProperty('variant');
  });

  it('builds the final prompt: references, modifiers, speech bubble in the job locale, style', () => {
    const jobs = byId(load());
    expect(jobs['ch1/s1/p1.en'].finalPrompt).toBe(
      'Mara, a keeper in her sixties, silver braid climbs the spiral stairs, low angle, rain on glass. Speech bubble text (en): "Not tonight.". Style: graphic novel style, high contrast.',
    );
    expect(jobs['ch1/s1/p1.ja'].finalPrompt).toBe(
      'Mara, a keeper in her sixties, silver braid climbs the spiral stairs, low angle, rain on glass. Speech bubble text (ja): "今夜はだめ。". Style: graphic novel style, high contrast.',
    );
  });

  it('keeps the prompt as written and puts the final prompt on one line', () => {
    const job = byId(load())['ch1/s1/p2'];
    expect(job.prompt).toBe('{tom} rows\nthrough the storm.\n');
    expect(job.finalPrompt).toBe('Tom, a young fisherman rows through the storm. Style: graphic novel style, high contrast.');
  });

  it('gives a plain string text one job with an unlabelled bubble, and expands every reference', () => {
    expect(byId(load())['ch1/s1/p3'].finalPrompt).toBe(
      'Mara, a keeper in her sixties, silver braid waves to Tom, a young fisherman. Speech bubble text: "Over here!". Style: graphic novel style, high contrast.',
    );
  });

  it('leaves out the style sentence when there is no style, and keeps braces that are not references', () => {
    const book = load('book: plain\nprompts:\n  - "a sign reading {OPEN 24h}"\n');
    expect(book.jobs[0].finalPrompt).toBe('a sign reading {OPEN 24h}.');
    expect(book).toMatchObject({ provider: 'chatgpt', style: '', pacing: DEFAULT_PACING });
  });

  it('fills pacing defaults for the keys the file leaves out', () => {
    expect(load().pacing).toEqual({ ...DEFAULT_PACING, concurrency: 1, minGapSeconds: 8 });
  });

  it('records the line of each panel as the job source', () => {
    const jobs = byId(load());
    expect(jobs['ch1/s1/p1.ja'].source).toEqual({ file: 'story.yaml', line: 14 });
    expect(jobs['ch1/s2/p2~dusk'].source).toEqual({ file: 'story.yaml', line: 31 });
  });
});

describe('a flat prompts list', () => {
  it('numbers the prompts p1…pN in chapter ch1, strip s1', () => {
    const book = load('book: quick\nstyle: ink\ncharacters: { cat: "a grey cat" }\nprompts:\n  - "{cat} on a roof"\n  - a moon\n  - "rain"\n');
    expect(book.jobs.map((j) => [j.id, j.chapter, j.strip, j.panel, j.source.line])).toEqual([
      ['ch1/s1/p1', 'ch1', 's1', 'p1', 5],
      ['ch1/s1/p2', 'ch1', 's1', 'p2', 6],
      ['ch1/s1/p3', 'ch1', 's1', 'p3', 7],
    ]);
    expect(book.jobs[0].finalPrompt).toBe('a grey cat on a roof. Style: ink.');
  });
});

describe('ids and hashes', () => {
  it('hashes the final prompt with provider, locale and variant', () => {
    const job = byId(load())['ch1/s2/p1.ja~2'];
    const expected = createHash('sha256')
      .update(JSON.stringify({ finalPrompt: job.finalPrompt, provider: 'chatgpt', locale: 'ja', variant: '2' }))
      .digest('hex');
    expect(job.promptHash).toBe(expected);
  });

  it('gives the same ids and hashes for the same file every time', () => {
    const a = load().jobs.map((j) => [j.id, j.promptHash]);
    const b = load().jobs.map((j) => [j.id, j.promptHash]);
    expect(a).toEqual(b);
    expect(new Set(a.map(([, hash]) => hash)).size).toBe(a.length);
  });

  it('changes only the edited panel’s hashes when one panel changes', () => {
    const before = byId(load());
    const after = byId(load(STORY.replace('The lamp goes dark', 'The lamp sputters out')));
    expect(Object.keys(after)).toEqual(Object.keys(before));
    const changed = Object.keys(after).filter((id) => after[id].promptHash !== before[id].promptHash);
    expect(changed).toEqual(['ch1/s2/p1.ja~1', 'ch1/s2/p1.ja~2']);
  });

  it('keeps ids and hashes when panels are only re-indented or commented', () => {
    const edited = STORY.replace('          - id: p2\n            prompt: "The beam returns"', '          # the ending\n          - id: p2\n            prompt:   "The beam returns"');
    expect(load(edited).jobs.map((j) => [j.id, j.promptHash])).toEqual(load().jobs.map((j) => [j.id, j.promptHash]));
  });

  it('changes every hash when the style or provider changes', () => {
    const before = load().jobs;
    const restyled = load(STORY.replace('high contrast', 'soft pastels')).jobs;
    const otherProvider = load(`provider: other\n${STORY}`).jobs;
    before.forEach((job, i) => {
      expect(restyled[i].promptHash).not.toBe(job.promptHash);
      expect(otherProvider[i].promptHash).not.toBe(job.promptHash);
    });
  });
});
