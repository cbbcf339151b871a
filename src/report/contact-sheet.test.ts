import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderPanelPng } from '../mock/render.js';
import { CheckpointError } from '../protocol/errors.js';
import { parseBookFor, parsePromptText } from '../prompts/index.js';
import { sidecarReferences } from '../run/references.js';
import { sidecarOf } from '../store/files.js';
import { openJobStore } from '../store/index.js';
import type { JobRecord } from '../store/types.js';
import { escapeHtml, layoutSheet, readBookExtras, rejectCommand, renderContactSheet, shellWord, takesOf, writeContactSheet } from './contact-sheet.js';
import { parseFingerprint } from './near-duplicates.js';
import { THUMBS_DIR, ThumbnailCache, thumbnailFor } from './thumbnails.js';

const BOOK = `
book: two-chapters
style: ink
locales: [en, ja]
chapters:
  - id: ch1
    title: The Storm
    strips:
      - id: s1
        title: Evening
        panels:
          - id: p1
            prompt: "a lighthouse at dusk"
            variants: 2
          - id: p2
            prompt: "a barometer"
            text: { en: "Falling.", ja: "下がっている。" }
      - id: s2
        panels:
          - id: p1
            prompt: "a radio"
            text: "Gale coming."
  - id: ch2
    strips:
      - id: s1
        panels:
          - id: p9
            prompt: "the sea"
          - id: p3
            prompt: "a boat"
            text: { ja: "船だ。" }
`;

function record(id: string, state: string, extra: Partial<JobRecord> & Record<string, unknown> = {}): JobRecord {
  return { id, state, promptHash: '', attempts: 1, updatedAt: '2026-01-01T00:00:00.000Z', ...extra } as JobRecord;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'semantest-report-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function png(file: string, color: { r: number; g: number; b: number }, width = 640, height = 853): Promise<Buffer> {
  const bytes = await sharp({ create: { width, height, channels: 3, background: color } })
    .composite([{ input: { create: { width: Math.floor(width / 4), height: Math.floor(height / 4), channels: 3, background: { r: 255 - color.r, g: 255 - color.g, b: 255 - color.b } } }, left: 10, top: 10 }])
    .png({ compressionLevel: 0 }) // stored, not deflated: the same size gives the same number of bytes
    .toBuffer();
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
  return bytes;
}

describe('layoutSheet', () => {
  it('lays the book out chapter → strip → panel in the prompt file order, locales and variants side by side', () => {
    const book = parsePromptText(BOOK, 'book.yaml');
    const sheet = layoutSheet(book, () => undefined, path.join(dir, 'out', book.book), readBookExtras(BOOK));
    expect([...takesOf(sheet)].map((t) => t.job.id)).toEqual(book.jobs.map((j) => j.id));
    expect(sheet.chapters.map((c) => [c.id, c.title])).toEqual([
      ['ch1', 'The Storm'],
      ['ch2', undefined],
    ]);
    expect(sheet.chapters[0].strips.map((s) => [s.id, s.title])).toEqual([
      ['s1', 'Evening'],
      ['s2', undefined],
    ]);
    // p9 before p3: reading order is the file's, not the ids'.
    expect(sheet.chapters[1].strips[0].panels.map((p) => p.key)).toEqual(['ch2/s1/p9', 'ch2/s1/p3']);
    const [p1, p2] = sheet.chapters[0].strips[0].panels;
    expect(p1.takes.map((t) => t.job.id)).toEqual(['ch1/s1/p1~1', 'ch1/s1/p1~2']);
    expect(p2.takes.map((t) => [t.job.id, t.bubble])).toEqual([
      ['ch1/s1/p2.en', 'Falling.'],
      ['ch1/s1/p2.ja', '下がっている。'],
    ]);
    expect(sheet.chapters[0].strips[1].panels[0].takes[0].bubble).toBe('Gale coming.');
    expect(p1.takes[0].bubble).toBeUndefined();
    expect(sheet.counts.pending).toBe(book.jobs.length);
  });

  it('keeps reading order however the jobs are listed', () => {
    const book = parsePromptText(BOOK, 'book.yaml');
    const shuffled = { ...book, jobs: [...book.jobs].reverse() };
    const sheet = layoutSheet(shuffled, () => undefined, dir);
    expect([...takesOf(sheet)].map((t) => t.job.id)).toEqual(book.jobs.map((j) => j.id));
  });

  it('marks each take with its state: verified, failed with kind and words, rejected with reason, running, pending', () => {
    const book = parsePromptText(BOOK, 'book.yaml');
    const bookDir = path.join(dir, 'out', book.book);
    const records: Record<string, JobRecord> = {
      'ch1/s1/p1~1': record('ch1/s1/p1~1', 'verified', { promptHash: book.jobs[0].promptHash, sha256: 'aa' }),
      'ch1/s1/p1~2': record('ch1/s1/p1~2', 'failed', { failure: { kind: 'policy', message: 'This request may violate our content policy.', final: true, evidence: ['.evidence/ch1/s1/p1~2/policy.png'] } }),
      'ch1/s1/p2.en': record('ch1/s1/p2.en', 'rejected', { rejection: { reason: 'too dark', at: '2026-01-02T00:00:00Z', keptAs: path.join(bookDir, '.rejected/ch1/s1/p2.en.1.png'), sha256: 'bb' } }),
      'ch1/s1/p2.ja': record('ch1/s1/p2.ja', 'submitted'),
      // A store without the rejection field: still shown as rejected, with no reason.
      'ch1/s2/p1': record('ch1/s2/p1', 'rejected'),
      // Verified, then the prompt changed.
      'ch2/s1/p9': record('ch2/s1/p9', 'verified', { promptHash: 'old' }),
      // Being redone after a rejection.
      'ch2/s1/p3.ja': record('ch2/s1/p3.ja', 'started', { rejection: { reason: 'wrong boat', at: 'x', keptAs: '/k.png', sha256: 'cc' } }),
    };
    const sheet = layoutSheet(book, (id) => records[id], bookDir, NO_TITLES, [...Object.keys(records), 'ch9/s1/gone']);
    const take = Object.fromEntries([...takesOf(sheet)].map((t) => [t.job.id, t]));
    expect(take['ch1/s1/p1~1']).toMatchObject({ status: 'verified', stale: false, image: { href: 'ch1/s1/p1~1.png', sha256: 'aa' } });
    expect(take['ch1/s1/p1~2']).toMatchObject({ status: 'failed', failure: { kind: 'policy', message: 'This request may violate our content policy.', final: true } });
    expect(take['ch1/s1/p1~2'].failure!.evidence).toEqual([{ name: 'policy.png', href: '.evidence/ch1/s1/p1~2/policy.png' }]);
    expect(take['ch1/s1/p2.en']).toMatchObject({ status: 'rejected', rejection: { reason: 'too dark' }, image: { href: '.rejected/ch1/s1/p2.en.1.png' } });
    expect(take['ch1/s1/p2.ja']).toMatchObject({ status: 'running', state: 'submitted' });
    expect(take['ch1/s2/p1']).toMatchObject({ status: 'rejected', rejection: { reason: '' } });
    expect(take['ch2/s1/p9']).toMatchObject({ status: 'verified', stale: true });
    expect(take['ch2/s1/p3.ja']).toMatchObject({ status: 'running', rejection: { reason: 'wrong boat' } });
    expect(take['ch2/s1/p3.ja'].image).toBeUndefined();
    expect(sheet.counts).toEqual({ verified: 2, missing: 0, failed: 1, rejected: 2, running: 2, pending: 0 });
    expect(sheet.orphans).toEqual(['ch9/s1/gone']);

    const html = renderContactSheet(sheet);
    expect(html).toContain('data-id="ch1/s1/p1~2" data-order="1" data-status="failed" data-kind="policy"');
    expect(html).toContain('failed · <b class="kind">policy</b>');
    expect(html).toContain('This request may violate our content policy.');
    expect(html).toContain('too dark');
    expect(html).toContain('redoing a rejected image: wrong boat');
    expect(html).toContain('prompt changed');
    // Only verified images can be ticked for rejection.
    expect([...html.matchAll(/class="pick" value="([^"]+)"/g)].map((m) => m[1])).toEqual(['ch1/s1/p1~1', 'ch2/s1/p9']);
  });
});

const NO_TITLES = { chapterTitles: new Map<string, string>(), stripTitles: new Map<string, string>(), texts: new Map<string, string>() };

describe('escaping', () => {
  it('escapes every text from the prompt file and the checkpoint', () => {
    const evil = `<script>alert("x")</script> & 'q' <img src=x onerror=alert(1)>`;
    const text = `
book: evil
chapters:
  - id: ch1
    title: ${JSON.stringify(`</h2>${evil}`)}
    strips:
      - id: s1
        title: ${JSON.stringify(evil)}
        panels:
          - id: p1
            prompt: ${JSON.stringify(`"><b>${evil}`)}
            text: ${JSON.stringify(`</q>${evil}`)}
`;
    const book = parsePromptText(text, 'we"ird <file>.yaml');
    const records: Record<string, JobRecord> = {
      'ch1/s1/p1': record('ch1/s1/p1', 'failed', { failure: { kind: `policy"><script>`, message: `</p>${evil}`, final: true } }),
    };
    const sheet = layoutSheet(book, (id) => records[id], dir, readBookExtras(text), ['<img src=x>']);
    // The near-duplicate section shows the prompt too.
    sheet.nearDuplicates.pairs = [{ a: 'ch1/s1/p1', b: 'ch1/s1/p1', distance: 0 }];
    const html = renderContactSheet(sheet);
    expect(html).toContain('<li class="dup-pair" data-a="ch1/s1/p1" data-b="ch1/s1/p1" data-distance="0">');
    // The page's own script is the only one, and no injected tag or attribute survives.
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('"><b>');
    expect(html).not.toContain('</q></q>');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;');
    expect(html).toContain('title="&quot;&gt;&lt;b&gt;&lt;script&gt;');
    expect(html).toContain('data-kind="policy&quot;&gt;&lt;script&gt;"');
    expect(html).toContain('data-file="we&quot;ird &lt;file&gt;.yaml"');
    expect(escapeHtml(`a&b<c>d"e'f`)).toBe('a&amp;b&lt;c&gt;d&quot;e&#39;f');
  });

  it('quotes ids, files and reasons for the shell in the reject command', () => {
    expect(shellWord('ch1/s1/p1.en')).toBe('ch1/s1/p1.en');
    expect(shellWord('ch1/s1/p1~2')).toBe('"ch1/s1/p1~2"');
    expect(shellWord('too dark')).toBe('"too dark"');
    expect(shellWord(`it's $HOME "x"`)).toBe(`'it'\\''s $HOME "x"'`);
    expect(rejectCommand('prompts/my book.yaml', ['ch1/s1/p1', 'ch1/s1/p2.ja'])).toBe('semantest-run reject "prompts/my book.yaml" ch1/s1/p1 ch1/s1/p2.ja --reason "…"');
    expect(rejectCommand('b.yaml', ['ch1/s1/p1'], ' hands wrong ')).toBe('semantest-run reject b.yaml ch1/s1/p1 --reason "hands wrong"');
  });
});

describe('thumbnails', () => {
  it('makes a thumbnail once, about 320 px wide, under .thumbs/ at the same relative path', async () => {
    const bookDir = path.join(dir, 'out', 'book');
    const source = path.join(bookDir, 'ch1/s1/p1.en.png');
    await png(source, { r: 200, g: 30, b: 30 });
    const cache = await ThumbnailCache.open(bookDir);
    const first = await cache.thumbnailFor(source);
    expect(first).toMatchObject({ src: '.thumbs/ch1/s1/p1.en.jpg', made: true, width: 320, height: 427, sourceWidth: 640, sourceHeight: 853 });
    expect(first.file).toBe(path.join(bookDir, THUMBS_DIR, 'ch1/s1/p1.en.jpg'));
    expect((await sharp(first.file).metadata()).format).toBe('jpeg');
    const before = (await stat(first.file)).mtimeMs;
    // Same cache, and concurrent asks for the same image: one resize.
    const again = await Promise.all([cache.thumbnailFor(source), cache.thumbnailFor(source)]);
    expect(again.map((t) => t.made)).toEqual([false, false]);
    await cache.save();
    // A new process (new cache) reads the index: still not made again.
    const reopened = await ThumbnailCache.open(bookDir);
    expect((await reopened.thumbnailFor(source)).made).toBe(false);
    expect(reopened.stats).toEqual({ made: 0, reused: 1, fingerprinted: 0 });
    expect((await stat(first.file)).mtimeMs).toBe(before);
    expect(await thumbnailFor(source, bookDir)).toBe('.thumbs/ch1/s1/p1.en.jpg');
    expect((await stat(first.file)).mtimeMs).toBe(before);
  });

  it('a touched source with the same bytes keeps its thumbnail; new bytes or another expected sha make it again', async () => {
    const bookDir = path.join(dir, 'book');
    const source = path.join(bookDir, 'ch1/s1/p1.png');
    await png(source, { r: 10, g: 120, b: 10 });
    let cache = await ThumbnailCache.open(bookDir);
    const first = await cache.thumbnailFor(source);
    await cache.save();
    const later = new Date(Date.now() + 5_000);
    await utimes(source, later, later);
    cache = await ThumbnailCache.open(bookDir);
    const touched = await cache.thumbnailFor(source);
    expect(touched.made).toBe(false);
    await cache.save();
    // The new mtime was remembered: no hashing next time either (same answer, nothing made).
    cache = await ThumbnailCache.open(bookDir);
    expect((await cache.thumbnailFor(source)).made).toBe(false);

    const replaced = await png(source, { r: 10, g: 10, b: 200 }, 400, 400);
    const newer = new Date(Date.now() + 10_000);
    await utimes(source, newer, newer);
    cache = await ThumbnailCache.open(bookDir);
    const remade = await cache.thumbnailFor(source);
    expect(remade).toMatchObject({ made: true, width: 320, height: 320 });
    expect(remade.sha256).not.toBe(first.sha256);
    await cache.save();

    // Replaced with the same size and mtime (a copy keeping times): the expected sha catches it.
    const { mtime } = await stat(source);
    const sameSize = Buffer.from(replaced);
    await writeFile(source, sameSize);
    await utimes(source, mtime, mtime);
    cache = await ThumbnailCache.open(bookDir);
    expect((await cache.thumbnailFor(source, { sha256: remade.sha256 })).made).toBe(false);
    expect((await cache.thumbnailFor(source, { sha256: 'f'.repeat(64) })).made).toBe(false); // bytes are the same: the hash says so
    await png(source, { r: 10, g: 200, b: 200 }, 400, 400);
    await utimes(source, mtime, mtime);
    cache = await ThumbnailCache.open(bookDir);
    expect((await cache.thumbnailFor(source)).made).toBe(false); // size and mtime alike, nothing to say otherwise
    expect((await cache.thumbnailFor(source, { sha256: 'e'.repeat(64) })).made).toBe(true);
  });

  it('a deleted thumbnail or a damaged index is made again; an unreadable image rejects', async () => {
    const bookDir = path.join(dir, 'book');
    const source = path.join(bookDir, 'ch1/s1/p1.png');
    await png(source, { r: 90, g: 90, b: 90 });
    const cache = await ThumbnailCache.open(bookDir);
    const first = await cache.thumbnailFor(source);
    await cache.save();
    await rm(first.file);
    expect((await (await ThumbnailCache.open(bookDir)).thumbnailFor(source)).made).toBe(true);
    await writeFile(path.join(bookDir, THUMBS_DIR, 'index.json'), '{not json');
    expect((await (await ThumbnailCache.open(bookDir)).thumbnailFor(source)).made).toBe(true);
    const broken = path.join(bookDir, 'ch1/s1/p2.png');
    await writeFile(broken, 'not a png');
    await expect((await ThumbnailCache.open(bookDir)).thumbnailFor(broken)).rejects.toThrow();
  });
});

describe('near-duplicate fingerprints in the thumbnail index', () => {
  it('fingerprints an image once and keeps it in index.json; an index without one, or with a damaged one, gets it from the bytes', async () => {
    const bookDir = path.join(dir, 'book');
    const source = path.join(bookDir, 'ch1/s1/p1.png');
    await mkdir(path.dirname(source), { recursive: true });
    await writeFile(source, await renderPanelPng('a lighthouse at dusk', 256));
    const indexFile = path.join(bookDir, THUMBS_DIR, 'index.json');

    // The dashboard's cache (no fingerprints) made the thumbnail first.
    const plain = await ThumbnailCache.open(bookDir);
    expect((await plain.thumbnailFor(source)).fingerprint).toBeUndefined();
    await plain.save();
    expect(JSON.parse(await readFile(indexFile, 'utf8')).entries['ch1/s1/p1.png'].fingerprint).toBeUndefined();

    let cache = await ThumbnailCache.open(bookDir, { fingerprints: true });
    const first = await cache.thumbnailFor(source);
    expect(first.made).toBe(false); // the thumbnail is kept; only the fingerprint was missing
    expect(parseFingerprint(first.fingerprint)).toBeDefined();
    expect(cache.stats).toEqual({ made: 0, reused: 1, fingerprinted: 1 });
    await cache.save();
    const index = JSON.parse(await readFile(indexFile, 'utf8'));
    expect(index.entries['ch1/s1/p1.png'].fingerprint).toBe(first.fingerprint);

    cache = await ThumbnailCache.open(bookDir, { fingerprints: true });
    expect((await cache.thumbnailFor(source)).fingerprint).toBe(first.fingerprint);
    expect(cache.stats).toEqual({ made: 0, reused: 1, fingerprinted: 0 });

    // A damaged fingerprint in the index is not believed: it is made again from the bytes.
    index.entries['ch1/s1/p1.png'].fingerprint = `dh3:${'f'.repeat(16)}${'0'.repeat(16)}x`;
    await writeFile(indexFile, JSON.stringify(index));
    cache = await ThumbnailCache.open(bookDir, { fingerprints: true });
    expect((await cache.thumbnailFor(source)).fingerprint).toBe(first.fingerprint);
    expect(cache.stats.fingerprinted).toBe(1);
  });
});

describe('writeContactSheet', () => {
  it('refuses a book that has never run, naming it', async () => {
    const file = path.join(dir, 'book.yaml');
    await writeFile(file, BOOK);
    const error = await writeContactSheet({ file, checkpointsDir: path.join(dir, 'checkpoints') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as CheckpointError).exitCode).toBe(2);
    expect((error as Error).message).toMatch(/no checkpoint for book "two-chapters" .*no run has happened/);
  });

  it('writes <out>/<book>/contact-sheet.html with relative thumbnails, finding <out> from the checkpoint', async () => {
    const file = path.join(dir, 'book.yaml');
    await writeFile(file, BOOK);
    const book = parsePromptText(BOOK, file);
    const out = path.join(dir, 'somewhere', 'out');
    const bookDir = path.join(out, book.book);
    const store = await openJobStore(path.join(dir, 'checkpoints', book.book));
    const [a, b, c] = book.jobs;
    for (const job of [a, b]) {
      const target = path.join(bookDir, job.outputPath);
      await png(target, { r: 40 * job.order, g: 60, b: 90 });
      await store.record({ t: 'job', id: job.id, state: 'started', attempt: 1, promptHash: job.promptHash });
      await store.record({ t: 'job', id: job.id, state: 'verified', path: target, sha256: 'x', fileId: `file_${job.order}` });
    }
    await rm(path.join(bookDir, b.outputPath)); // verified, then deleted by hand
    await store.record({ t: 'job', id: c.id, state: 'failed', failure: { kind: 'policy', message: 'refused', final: true } });
    await store.close();

    const result = await writeContactSheet({ file, checkpointsDir: path.join(dir, 'checkpoints'), generatedAt: new Date('2026-03-01T10:00:00Z') });
    expect(result.path).toBe(path.join(bookDir, 'contact-sheet.html'));
    expect(result.thumbnails).toEqual({ made: 1, reused: 0, fingerprinted: 1 });
    expect(result.sheet.counts).toMatchObject({ verified: 1, missing: 1, failed: 1 });
    const html = await readFile(result.path, 'utf8');
    expect(html).toContain(`<img src=".thumbs/ch1/s1/p1~1.jpg" width="320"`);
    expect(html).toContain(`href="ch1/s1/p1~1.png"`);
    expect(html).toContain('data-id="ch1/s1/p1~2" data-order="1" data-status="missing"');
    expect(html).not.toMatch(/(src|href)="(\/|file:|https?:)/);
    expect(html).toContain('2026-03-01 10:00:00 UTC');
    expect(html).toContain('<section class="near-duplicates" id="near-duplicates" data-pairs="0"><h2>Near-duplicates</h2><p class="meta">no near-duplicates (1 verified image compared).</p></section>');
    // A book without character references has no References block and no "with:" lines.
    expect(html).not.toContain('id="references"');
    expect(html).not.toContain('class="refs"');

    const again = await writeContactSheet({ file, out, checkpointsDir: path.join(dir, 'checkpoints') });
    expect(again.thumbnails).toEqual({ made: 0, reused: 1, fingerprinted: 0 });
  });

  it('shows pairs of verified images that are the same picture at the top, each with its reject box; locales of one panel are not a pair', async () => {
    const file = path.join(dir, 'book.yaml');
    await writeFile(file, BOOK);
    const book = parsePromptText(BOOK, file);
    const out = path.join(dir, 'out');
    const bookDir = path.join(out, book.book);
    const job = (id: string) => book.jobs.find((j) => j.id === id)!;
    const store = await openJobStore(path.join(dir, 'checkpoints', book.book));
    const pictures: Record<string, string> = {
      'ch1/s1/p1~1': 'a lighthouse at dusk',
      'ch1/s1/p1~2': 'a lighthouse at dawn, other take',
      // One picture for both locales of a panel: expected, not flagged.
      'ch1/s1/p2.en': 'a barometer falling',
      'ch1/s1/p2.ja': 'a barometer falling',
      'ch1/s2/p1': 'a radio on a table',
      // The model repeated p1~1 for another panel.
      'ch2/s1/p9': 'a lighthouse at dusk',
    };
    for (const [id, picture] of Object.entries(pictures)) {
      const target = path.join(bookDir, job(id).outputPath);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, await renderPanelPng(picture, 384));
      await store.record({ t: 'job', id, state: 'started', attempt: 1, promptHash: job(id).promptHash });
      await store.record({ t: 'job', id, state: 'verified', path: target, sha256: 'x', fileId: `file_${job(id).order}` });
    }
    await store.close();

    const result = await writeContactSheet({ file, out, checkpointsDir: path.join(dir, 'checkpoints') });
    expect(result.sheet.nearDuplicates.compared).toBe(6);
    expect(result.sheet.nearDuplicates.pairs).toEqual([{ a: 'ch1/s1/p1~1', b: 'ch2/s1/p9', distance: 0 }]);
    const html = await readFile(result.path, 'utf8');
    const section = /<section class="near-duplicates"[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';
    // Above the book, the pair side by side: thumbnails, ids, distance, a box per image.
    expect(html.indexOf(section)).toBeLessThan(html.indexOf('<section class="chapter"'));
    expect(section).toContain('data-pairs="1"');
    expect(section).toContain('1 pair of panels look alike (6 verified images compared; distance 9.5 or less of 64)');
    expect(section).toContain('<li class="dup-pair" data-a="ch1/s1/p1~1" data-b="ch2/s1/p9" data-distance="0">');
    expect([...section.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1])).toEqual(['.thumbs/ch1/s1/p1~1.jpg', '.thumbs/ch2/s1/p9.jpg']);
    expect([...section.matchAll(/class="pick" value="([^"]+)"/g)].map((m) => m[1])).toEqual(['ch1/s1/p1~1', 'ch2/s1/p9']);
    expect(section).toContain('distance 0</span>');
    // The same boxes as in the book below, so the page's reject command builder collects them.
    expect(rejectCommand(book.file, ['ch1/s1/p1~1', 'ch2/s1/p9'])).toBe(`semantest-run reject ${shellWord(file)} "ch1/s1/p1~1" ch2/s1/p9 --reason "…"`);

    // The next report reads the fingerprints from the index: no image decoded again.
    const again = await writeContactSheet({ file, out, checkpointsDir: path.join(dir, 'checkpoints') });
    expect(again.thumbnails).toEqual({ made: 0, reused: 6, fingerprinted: 0 });
    expect(again.sheet.nearDuplicates.pairs).toEqual(result.sheet.nearDuplicates.pairs);
  });

  it('shows each character\'s references at the top and, per take, which went with it: the sidecar\'s list, else the prompt file\'s, marked', async () => {
    // The prompt file and its refs/ in one folder, a reference elsewhere, the output in a third.
    const bookFolder = path.join(dir, 'book');
    const file = path.join(bookFolder, 'book.yaml');
    const odd = `a<b>&'c.png`; // a file name is user text
    const front = path.join(bookFolder, 'refs', 'mara-front.png');
    const side = path.join(dir, 'elsewhere', odd);
    await png(front, { r: 200, g: 40, b: 40 }, 200, 300);
    await png(side, { r: 40, g: 200, b: 40 }, 200, 300);
    const text = `
book: refs-book
style: ink
characters:
  mara:
    description: "Mara, a keeper"
    refs: [refs/mara-front.png, "../elsewhere/${odd}"]
  tom:
    description: "Tom, a fisherman"
    refs: sheet
  nell: "Nell, a child"
chapters:
  - id: ch1
    strips:
      - id: s1
        panels:
          - { id: p1, prompt: "{mara} and {tom} on the pier" }
          - { id: p2, prompt: "{mara} alone" }
          - { id: p3, prompt: "the empty sea, {nell} far away" }
          - { id: p4, prompt: "{tom} waves" }
          - { id: p5, prompt: "{tom} again" }
`;
    await writeFile(file, text);
    const out = path.join(dir, 'out');
    const bookDir = path.join(out, 'refs-book');
    const sheetFile = path.join(bookDir, 'characters', 'tom.png');
    await png(sheetFile, { r: 40, g: 40, b: 200 }, 320, 180);
    const book = parseBookFor(text, file, out);
    const job = (id: string) => book.jobs.find((j) => j.id === id)!;
    const store = await openJobStore(path.join(dir, 'checkpoints', book.book));
    const verify = async (id: string, color: number) => {
      const target = path.join(bookDir, job(id).outputPath);
      await png(target, { r: color, g: 120, b: 60 });
      await store.record({ t: 'job', id, state: 'started', attempt: 1, promptHash: job(id).promptHash });
      await store.record({ t: 'job', id, state: 'verified', path: target, sha256: 'x', fileId: `file_${id}` });
      return target;
    };
    // tom's sheet was made: the Characters row shows it.
    await store.record({ t: 'job', id: 'characters/tom', state: 'started', attempt: 1, promptHash: 'h' });
    await store.record({ t: 'job', id: 'characters/tom', state: 'verified', path: sheetFile, sha256: 'x', fileId: 'file_sheet' });
    // p1 was made when mara had only her front view: the sidecar says so, whatever the file says now.
    const p1 = await verify('ch1/s1/p1', 10);
    const sent = job('ch1/s1/p1').refs!.filter((r) => r.name !== odd);
    await writeFile(sidecarOf(p1), JSON.stringify({ jobId: 'ch1/s1/p1', references: sidecarReferences(sent, file), source: { file, line: 17 } }));
    // p3 names nell, who has no images: nothing went, nothing to say.
    await writeFile(sidecarOf(await verify('ch1/s1/p3', 30)), JSON.stringify({ jobId: 'ch1/s1/p3', source: { file, line: 19 } }));
    // p4's sidecar is gone: the prompt file's references, marked as not a record.
    await verify('ch1/s1/p4', 40);
    // p5's sidecar was edited by hand: its words go on the page as text.
    await writeFile(sidecarOf(await verify('ch1/s1/p5', 50)), JSON.stringify({ references: [{ character: '<img src=x onerror=alert(1)>', file: 'x&y.png', sha256: 'f' }] }));
    await store.close();

    const result = await writeContactSheet({ file, out, checkpointsDir: path.join(dir, 'checkpoints') });
    const html = await readFile(result.path, 'utf8');
    const section = /<section class="references"[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';
    expect(html.indexOf(section)).toBeLessThan(html.indexOf('<section class="near-duplicates"'));
    expect([...section.matchAll(/data-character="([^"]+)"/g)].map((m) => m[1])).toEqual(['mara', 'tom']); // nell has no references
    expect(section).toContain('<li class="character uses-sheet" data-character="tom"><b class="name">tom</b> uses its sheet (<a href="#chapter-characters">Characters</a> row)</li>');
    expect(html).toContain('<section class="chapter" id="chapter-characters"');
    // mara's two files: a thumbnail each, made in the book's .thumbs/, linking to the file itself.
    const mara = /<li class="character" data-character="mara">[\s\S]*?<\/li>/.exec(section)?.[0] ?? '';
    expect(mara).toContain('a&lt;b&gt;&amp;&#39;c.png</a>');
    expect(mara).not.toContain(odd);
    const thumbs = [...mara.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1]);
    expect(thumbs).toHaveLength(2);
    for (const src of thumbs) {
      expect(src).toMatch(/^\.thumbs\/_outside\/[0-9a-f]+\.jpg$/);
      expect((await sharp(path.join(bookDir, src)).metadata()).width).toBe(200);
    }
    const unescape = (s: string) => s.replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    const links = [...new Set([...mara.matchAll(/href="([^"]+)"/g)].map((m) => unescape(m[1])))];
    expect(links.map((href) => path.resolve(bookDir, ...href.split('/').map(decodeURIComponent)))).toEqual([front, side]);
    expect(links[0]).toBe('../../book/refs/mara-front.png');

    const refsLine = (id: string) => {
      const figure = new RegExp(`<figure class="take[^"]*" data-id="${id.replace(/\//g, '\\/')}"[\\s\\S]*?</figure>`).exec(html)?.[0] ?? '';
      expect(figure, id).not.toBe('');
      const line = /<p class="refs" data-from="(\w+)"[^>]*>([\s\S]*?)<\/p>/.exec(figure);
      return line ? `${line[1]}: ${line[2].replace(/<[^>]+>/g, '')}` : undefined;
    };
    expect(refsLine('ch1/s1/p1')).toBe('sent: with: mara (mara-front.png), tom (sheet)');
    expect(refsLine('ch1/s1/p2')).toBe('planned: will go with: mara (mara-front.png, a&lt;b&gt;&amp;&#39;c.png)');
    expect(refsLine('ch1/s1/p3')).toBeUndefined();
    expect(refsLine('ch1/s1/p4')).toBe('planned: with (per the prompt file): tom (sheet)');
    expect(refsLine('ch1/s1/p5')).toBe('sent: with: &lt;img src=x onerror=alert(1)&gt; (x&amp;y.png)');
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('x&y.png');
  });
});
