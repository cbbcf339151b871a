import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PromptFileError } from '../protocol/errors.js';
import { MAX_PROMPT_CHARS } from '../protocol/messages.js';
import { MAX_BOOK_PROMPT_CHARS } from './expand.js';
import { composePrompt, DEFAULT_PACING, parsePromptText, type PromptBook } from './index.js';

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
    expect(book.jobs.some((j) => 'aspect' in j || j.finalPrompt.includes('Aspect ratio'))).toBe(false);
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

const SHAPED = `book: shaped
style: ink
aspect: "4:3"
locales: [en, ja]
chapters:
  - id: ch1
    aspect: "9:16"
    strips:
      - id: s1
        panels:
          - id: p1
            prompt: "A tall tower"
          - id: p2
            prompt: "The sea"
            aspect: 16:9
            text: { en: "Look.", ja: "見て。" }
          - id: p3
            prompt: "A face"
            aspect: auto
  - id: ch2
    strips:
      - id: s1
        panels:
          - id: p1
            prompt: "A gull"
          - id: p2
            prompt: "A cup"
            aspect: 1:1
`;

describe('aspect', () => {
  it('takes the panel aspect, else the chapter one, else the book one', () => {
    const book = load(SHAPED);
    expect(book.jobs.map((j) => [j.id, j.aspect])).toEqual([
      ['ch1/s1/p1', '9:16'],
      ['ch1/s1/p2.en', '16:9'],
      ['ch1/s1/p2.ja', '16:9'],
      ['ch1/s1/p3', 'auto'],
      ['ch2/s1/p1', '4:3'],
      ['ch2/s1/p2', '1:1'],
    ]);
  });

  it('leaves the job without an aspect when no level sets one', () => {
    const book = load('book: a\nchapters:\n  - id: ch1\n    strips: [{ id: s1, panels: [{ id: p1, prompt: x }, { id: p2, prompt: y, aspect: "3:4" }] }]\n');
    expect(book.jobs[0]).not.toHaveProperty('aspect');
    expect(book.jobs[0].finalPrompt).toBe('x.');
    expect(book.jobs[1].aspect).toBe('3:4');
  });

  it('applies a book aspect to a flat prompts list', () => {
    const book = load('book: quick\naspect: 3:4\nprompts: [a cat, a dog]\n');
    expect(book.jobs.map((j) => [j.aspect, j.finalPrompt])).toEqual([
      ['3:4', 'a cat. Aspect ratio 3:4 (portrait).'],
      ['3:4', 'a dog. Aspect ratio 3:4 (portrait).'],
    ]);
  });

  it('states the aspect after the speech bubble and before the style, and says nothing for auto', () => {
    const jobs = byId(load(SHAPED));
    expect(jobs['ch1/s1/p1'].finalPrompt).toBe('A tall tower. Aspect ratio 9:16 (tall portrait). Style: ink.');
    expect(jobs['ch1/s1/p2.ja'].finalPrompt).toBe('The sea. Speech bubble text (ja): "見て。". Aspect ratio 16:9 (wide landscape). Style: ink.');
    expect(jobs['ch1/s1/p3'].finalPrompt).toBe('A face. Style: ink.');
    expect(jobs['ch2/s1/p1'].finalPrompt).toBe('A gull. Aspect ratio 4:3 (landscape). Style: ink.');
    expect(jobs['ch2/s1/p2'].finalPrompt).toBe('A cup. Aspect ratio 1:1 (square). Style: ink.');
  });

  it('words every ratio with its literal ratio string', () => {
    const sentences = (['auto', '1:1', '3:4', '9:16', '4:3', '16:9'] as const).map((aspect) => composePrompt('a', [], undefined, '', aspect));
    expect(sentences).toEqual([
      'a.',
      'a. Aspect ratio 1:1 (square).',
      'a. Aspect ratio 3:4 (portrait).',
      'a. Aspect ratio 9:16 (tall portrait).',
      'a. Aspect ratio 4:3 (landscape).',
      'a. Aspect ratio 16:9 (wide landscape).',
    ]);
    expect(composePrompt('a', ['b'], { locale: 'en', text: 'Hi' }, 'ink', undefined)).toBe('a, b. Speech bubble text (en): "Hi". Style: ink.');
  });

  it('hashes the aspect with the final prompt, auto included', () => {
    const job = byId(load(SHAPED))['ch1/s1/p3'];
    const expected = createHash('sha256')
      .update(JSON.stringify({ finalPrompt: job.finalPrompt, provider: 'chatgpt', locale: undefined, variant: undefined, aspect: 'auto' }))
      .digest('hex');
    expect(job.promptHash).toBe(expected);
  });

  it('marks a panel stale when its aspect changes, even from auto or to auto, and only that panel', () => {
    const changedIds = (edited: string) => {
      const before = byId(load(SHAPED));
      const after = byId(load(edited));
      expect(Object.keys(after)).toEqual(Object.keys(before));
      return Object.keys(after).filter((id) => after[id].promptHash !== before[id].promptHash);
    };
    // auto → 9:16 (the prompt text changes too).
    expect(changedIds(SHAPED.replace('aspect: auto', 'aspect: "9:16"'))).toEqual(['ch1/s1/p3']);
    // auto removed: the panel now inherits the chapter's 9:16.
    expect(changedIds(SHAPED.replace('            aspect: auto\n', ''))).toEqual(['ch1/s1/p3']);
    // The book aspect reaches only the panels that inherit it.
    expect(changedIds(SHAPED.replace('aspect: "4:3"', 'aspect: "3:4"'))).toEqual(['ch2/s1/p1']);
    // The chapter aspect reaches only its panels that do not set their own.
    expect(changedIds(SHAPED.replace('aspect: "9:16"', 'aspect: "1:1"'))).toEqual(['ch1/s1/p1']);
  });

  it('keeps the hashes of panels without an aspect as they were before aspects existed, and tells auto from none', () => {
    const job = load('book: a\nprompts: [x]\n').jobs[0];
    expect(job.promptHash).toBe(createHash('sha256').update(JSON.stringify({ finalPrompt: 'x.', provider: 'chatgpt' })).digest('hex'));
    // Same prompt text, but auto sets the page's aspect control and no aspect leaves it alone.
    const auto = load('book: a\naspect: auto\nprompts: [x]\n').jobs[0];
    expect(auto.finalPrompt).toBe(job.finalPrompt);
    expect(auto.promptHash).not.toBe(job.promptHash);
  });
});

describe('the final prompt is capped at load (issue 14)', () => {
  const errorOf = (text: string): PromptFileError => {
    try {
      parsePromptText(text, 'story.yaml');
    } catch (error) {
      if (error instanceof PromptFileError) return error;
      throw error;
    }
    throw new Error('expected a PromptFileError');
  };

  it('takes a final prompt of exactly the protocol limit and refuses one character more, naming the panel, line and length', () => {
    // `x…x.` is the whole final prompt: the prompt and the full stop composePrompt adds.
    const at = (n: number) => `book: a\nchapters:\n  - id: c1\n    strips:\n      - id: s1\n        panels:\n          - id: p1\n            prompt: ${'x'.repeat(n)}\n`;
    expect(parsePromptText(at(MAX_PROMPT_CHARS - 1), 'story.yaml').jobs[0].finalPrompt).toHaveLength(MAX_PROMPT_CHARS);
    expect(errorOf(at(MAX_PROMPT_CHARS)).message).toBe(
      'story.yaml:8:21: chapters[0].strips[0].panels[0].prompt: the final prompt would be 32,001 characters, and the site takes at most 32000: shorten the prompt, its modifiers, its {name} characters or the style',
    );
  });

  it('counts the style and speech bubble of each locale into the final prompt', () => {
    const text = `book: a\nstyle: "${'s'.repeat(MAX_PROMPT_CHARS - 30)}"\nlocales: [en]\nchapters:\n  - id: c1\n    strips:\n      - id: s1\n        panels:\n          - id: p1\n            prompt: a\n          - id: p2\n            prompt: b\n            text: { en: "a bubble long enough to pass" }\n`;
    expect(errorOf(text).message).toMatch(/^story\.yaml:12:21: chapters\[0\]\.strips\[0\]\.panels\[1\]\.prompt: the final prompt would be 32,0\d\d characters/);
  });

  it('stops expanding a file that names a long character thousands of times: a 108 KB file fails fast, in little memory', () => {
    // 50,000 characters × 19,000 references would be a 950 MB prompt if it were built.
    const text = `book: a\ncharacters:\n  a: "${'x'.repeat(50_000)}"\nprompts:\n  - "${'{a}'.repeat(19_000)}"\n`;
    expect(text.length).toBeGreaterThan(100_000);
    const before = process.memoryUsage().heapUsed;
    const started = performance.now();
    const error = errorOf(text);
    const ms = performance.now() - started;
    expect(error.message).toBe(
      'story.yaml:5:5: prompts[0]: the final prompt would be about 950,000,000 characters, and the site takes at most 32000: shorten the prompt, its modifiers, its {name} characters or the style',
    );
    expect(ms).toBeLessThan(5000);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(50_000_000);
  });

  it('shares one budget between a prompt and its modifiers, so many short modifiers naming a long character stop early too', () => {
    const text = `book: a\ncharacters:\n  a: "${'y'.repeat(20_000)}"\nchapters:\n  - id: c1\n    strips:\n      - id: s1\n        panels:\n          - id: p1\n            prompt: "{a}"\n            modifiers: [${Array(5000).fill('"{a}"').join(', ')}]\n`;
    expect(errorOf(text).message).toMatch(/^story\.yaml:11:\d+: chapters\[0\]\.strips\[0\]\.panels\[0\]\.modifiers\[0\]: the final prompt would be about 40,000 characters/);
  });

  it('expands references one level only: a character naming another stays as written', () => {
    const book = parsePromptText('book: a\ncharacters:\n  a: "{b}{b}"\n  b: bee\nprompts:\n  - "{a}"\n', 'story.yaml');
    expect(book.jobs[0].finalPrompt).toBe('{b}{b}.');
  });

  it('refuses a book whose final prompts add up to more than the book-wide cap, at the panel that passes it', () => {
    const perJob = 30_000;
    const panels = Math.floor(MAX_BOOK_PROMPT_CHARS / (perJob + 1)) + 1;
    const text = `book: a\ncharacters:\n  a: "${'z'.repeat(perJob)}"\nprompts:\n${'  - "{a}"\n'.repeat(panels)}`;
    expect(errorOf(text).message).toMatch(new RegExp(`^story\\.yaml:${4 + panels}:5: prompts\\[${panels - 1}\\]: the book's final prompts add up to more than 32,000,000 characters here`));
  });
});
