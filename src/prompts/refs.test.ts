// Characters' reference images in the prompt file (issue 16): read and checked at load with the
// position of the problem, attached to the panels that name the character, part of their hash.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PromptFileError } from '../protocol/errors.js';
import { loadPromptFile, type LoadOptions, type PromptBook } from './index.js';

const PNG = (tag: string) => Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), Buffer.from(tag)]);
const JPEG = (tag: string) => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from(tag)]);
const WEBP = (tag: string) => Buffer.concat([Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 ', 'latin1'), Buffer.from(tag)]);
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'semantest-refs-'));
  file = path.join(dir, 'book.yaml');
  await mkdir(path.join(dir, 'refs'));
  await writeFile(path.join(dir, 'refs/mara.png'), PNG('mara front'));
  await writeFile(path.join(dir, 'refs/mara-side.jpg'), JPEG('mara side'));
  await writeFile(path.join(dir, 'refs/tom.webp'), WEBP('tom'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A book with these lines under `characters:` and these panels (each `prompt` line, more lines allowed). */
function book(characters: string[], panels: string[][]): string {
  return [
    'book: refs-book',
    'style: ink',
    'characters:',
    ...characters.map((l) => `  ${l}`),
    'chapters:',
    '  - id: ch1',
    '    strips:',
    '      - id: s1',
    '        panels:',
    ...panels.flatMap((lines, i) => [`          - id: p${i + 1}`, ...lines.map((l) => `            ${l}`)]),
    '',
  ].join('\n');
}

const CHARACTERS = [
  'mara:',
  '  description: Mara, a keeper',
  '  refs: [refs/mara.png, refs/mara-side.jpg]',
  'tom:',
  '  description: Tom, a fisherman',
  '  refs: [refs/tom.webp]',
  'nell: Nell, a child',
];

async function load(text: string, options?: LoadOptions): Promise<PromptBook> {
  await writeFile(file, text);
  return loadPromptFile(file, options);
}

async function errorOf(text: string, options?: LoadOptions): Promise<PromptFileError> {
  const error = await load(text, options).then(() => undefined, (e: unknown) => e);
  if (error instanceof PromptFileError) return error;
  throw new Error(`expected a PromptFileError, got ${String(error)}`);
}

/** `line:column` of the first `needle` in `text`, as the error reports it. */
function at(text: string, needle: string): string {
  const lines = text.split('\n');
  const line = lines.findIndex((l) => l.includes(needle));
  if (line < 0) throw new Error(`${needle} is not in the book`);
  return `${line + 1}:${lines[line].indexOf(needle) + 1}`;
}
const where = (e: PromptFileError) => `${e.line}:${e.column}`;
const refNames = (b: PromptBook, id: string) => (b.jobs.find((j) => j.id === id)!.refs ?? []).map((r) => r.name);

describe('character references', () => {
  it('gives each panel the references of the characters it names, in first-named order, with their bytes described', async () => {
    const b = await load(
      book(CHARACTERS, [
        ['prompt: a quiet street'],
        ['prompt: "{mara} climbs the stairs"'],
        ['prompt: "{tom} rows"', 'modifiers: ["{mara} waves", "{tom} shouts"]'],
        ['prompt: "{nell} sleeps"', 'text: "{tom} is late"'],
      ]),
    );
    expect(refNames(b, 'ch1/s1/p1')).toEqual([]);
    expect(b.jobs[0].refs).toBeUndefined();
    expect(refNames(b, 'ch1/s1/p2')).toEqual(['mara.png', 'mara-side.jpg']);
    expect(refNames(b, 'ch1/s1/p3')).toEqual(['tom.webp', 'mara.png', 'mara-side.jpg']);
    // The bubble text names tom too; nell has no references.
    expect(refNames(b, 'ch1/s1/p4')).toEqual(['tom.webp']);
    const [front, side] = b.jobs[1].refs!;
    expect(front).toEqual({ character: 'mara', file: path.join(dir, 'refs/mara.png'), name: 'mara.png', sha256: sha(PNG('mara front')), bytes: PNG('mara front').length, type: 'image/png' });
    expect(side.type).toBe('image/jpeg');
    expect(b.jobs[2].refs![0]).toMatchObject({ character: 'tom', type: 'image/webp' });
    // {name} still expands to the description.
    expect(b.jobs[1].finalPrompt).toBe('Mara, a keeper climbs the stairs. Style: ink.');
    expect(b.characters?.map((c) => [c.name, c.refs.length, c.sheet])).toEqual([['mara', 2, false], ['tom', 1, false], ['nell', 0, false]]);
  });

  it('sends the same image once when two characters share it (by content, whatever its name), keeping the first named', async () => {
    await writeFile(path.join(dir, 'refs/copy-of-mara.png'), PNG('mara front'));
    const text = book(['mara:', '  description: Mara', '  refs: [refs/mara.png]', 'twin:', '  description: Twin', '  refs: [refs/copy-of-mara.png, refs/tom.webp]'], [['prompt: "{twin} and {mara}"']]);
    const b = await load(text);
    expect(b.jobs[0].refs!.map((r) => [r.character, r.name])).toEqual([['twin', 'copy-of-mara.png'], ['twin', 'tom.webp']]);
  });

  it('keeps the hash of panels without references byte for byte (values from before references existed)', async () => {
    const plain = book(['mara: a tall woman', 'ilya: a boy'], [['prompt: "{mara} waves"'], ['prompt: a street at night', 'aspect: "16:9"']]);
    const before = { 'ch1/s1/p1': 'f2eaff0f7822c103d0f7be57b19ccee61dd3384aacf9a0c6734bb024e8db7762', 'ch1/s1/p2': 'b09f4e959944b09a25417218ba873870f7c622364a6dedb3cdaebf2068b6f689' };
    const b = await load(plain);
    expect(Object.fromEntries(b.jobs.map((j) => [j.id, j.promptHash]))).toEqual(before);
    // Giving mara a reference changes her panel's hash only.
    const withRef = await load(plain.replace('mara: a tall woman', 'mara: { description: a tall woman, refs: [refs/mara.png] }'));
    expect(withRef.jobs[0].finalPrompt).toBe(b.jobs[0].finalPrompt);
    expect(withRef.jobs[0].promptHash).not.toBe(before['ch1/s1/p1']);
    expect(withRef.jobs[1].promptHash).toBe(before['ch1/s1/p2']);
  });

  it('a changed reference changes exactly the hashes of the panels that send it', async () => {
    const text = book(CHARACTERS, [['prompt: a quiet street'], ['prompt: "{mara} climbs"'], ['prompt: "{tom} rows"'], ['prompt: "{tom} and {mara}"'], ['prompt: "{nell} sleeps"']]);
    const hashes = async () => (await load(text)).jobs.map((j) => j.promptHash);
    const first = await hashes();
    expect(await hashes()).toEqual(first);
    await writeFile(path.join(dir, 'refs/tom.webp'), WEBP('tom, redrawn'));
    const second = await hashes();
    expect(second.map((h, i) => h !== first[i])).toEqual([false, false, true, true, false]);
  });

  it('reads a reference outside the prompt file\'s folder when it exists, relative or absolute', async () => {
    const outside = path.join(dir, 'outside.png');
    await writeFile(outside, PNG('elsewhere'));
    const inner = path.join(dir, 'inner');
    await mkdir(inner);
    file = path.join(inner, 'book.yaml');
    const b = await load(book([`ada: { description: Ada, refs: [../outside.png, "${outside}"] }`], [['prompt: "{ada}"']]));
    // The same bytes twice go once.
    expect(b.jobs[0].refs!.map((r) => r.file)).toEqual([outside]);
  });

  describe('refuses, at the reference, with file, line and column', () => {
    const one = (ref: string) => book([`mara: { description: Mara, refs: [refs/tom.webp, ${ref}] }`], [['prompt: "{mara}"']]);
    const cases: Array<[string, string, () => Promise<void>, RegExp]> = [
      ['a missing file', 'refs/nobody.png', async () => {}, /reference refs\/nobody\.png \(.*\) no such file \(ENOENT\)/],
      ['a folder', 'refs', async () => {}, /reference refs .* is a folder, not an image file/],
      ['a file that is not an image, whatever its name', 'refs/fake.png', () => writeFile(path.join(dir, 'refs/fake.png'), 'GIF89a not really'), /is not a PNG, JPEG or WebP image \(judged by its bytes/],
      ['an empty file', 'refs/empty.png', () => writeFile(path.join(dir, 'refs/empty.png'), ''), /is empty/],
      ['a file over 20 MB', 'refs/huge.png', async () => {
        await writeFile(path.join(dir, 'refs/huge.png'), PNG('x'));
        await truncate(path.join(dir, 'refs/huge.png'), 20 * 1024 * 1024 + 1);
      }, /is 20\.0 MB; the page takes images of at most 20 MB/],
      ['a named pipe (without waiting for a writer)', 'refs/pipe.png', async () => {
        execFileSync('mkfifo', [path.join(dir, 'refs/pipe.png')]);
      }, /is not a regular file \(a device, pipe or socket\)/],
      ['a device', '/dev/zero', async () => {}, /is not a regular file/],
    ];
    for (const [what, ref, make, message] of cases) {
      it(what, async () => {
        await make();
        const text = one(ref);
        const e = await errorOf(text);
        expect(e.file).toBe(file);
        expect(where(e)).toBe(at(text, ref === 'refs' ? 'refs]' : ref));
        expect(e.detail).toMatch(/^characters\.mara\.refs\[1\]: reference /);
        expect(e.detail).toMatch(message);
      });
    }
  });

  it('refuses more than 10 references for one character, at its list', async () => {
    const eleven = Array.from({ length: 11 }, () => 'refs/tom.webp').join(', ');
    const text = book([`mara: { description: Mara, refs: [${eleven}] }`], [['prompt: "{mara}"']]);
    const e = await errorOf(text);
    expect(where(e)).toBe(at(text, '[refs/tom.webp'));
    expect(e.detail).toMatch(/^characters\.mara\.refs: lists too many reference images: at most 10 per character/);
  });

  it('refuses a panel whose characters have more than 10 different references together, naming the panel', async () => {
    for (let i = 0; i < 12; i++) await writeFile(path.join(dir, `refs/r${i}.png`), PNG(`r${i}`));
    const list = (from: number) => Array.from({ length: 6 }, (_, i) => `refs/r${from + i}.png`).join(', ');
    const text = book([`ann: { description: Ann, refs: [${list(0)}] }`, `bob: { description: Bob, refs: [${list(6)}] }`], [['prompt: "{ann} alone"'], ['prompt: "{ann} meets {bob}"']]);
    const e = await errorOf(text);
    expect(where(e)).toBe(at(text, '"{ann} meets'));
    expect(e.detail).toMatch(/^chapters\[0\]\.strips\[0\]\.panels\[1\]\.prompt: the characters this panel names have 12 reference images together; the page takes at most 10/);
  });

  it('refuses unknown keys and malformed refs where they are', async () => {
    let text = book(['mara:', '  description: Mara', '  ref: [refs/mara.png]'], [['prompt: "{mara}"']]);
    let e = await errorOf(text);
    expect(where(e)).toBe(at(text, 'ref:'));
    expect(e.detail).toBe('characters.mara.ref: unknown key (a character takes description, refs)');

    text = book(['mara: { description: Mara, refs: shet }'], [['prompt: "{mara}"']]);
    e = await errorOf(text);
    expect(where(e)).toBe(at(text, 'shet'));
    expect(e.detail).toMatch(/^characters\.mara\.refs: must be sheet .* or a list of image paths/);

    text = book(['mara: { refs: [refs/mara.png] }'], [['prompt: "{mara}"']]);
    e = await errorOf(text);
    expect(where(e)).toBe(at(text, '{ refs'));
    expect(e.detail).toBe('characters.mara.description: is required');

    text = book(['mara: 5'], [['prompt: "{mara}"']]);
    e = await errorOf(text);
    expect(where(e)).toBe(at(text, '5'));
    expect(e.detail).toMatch(/^characters\.mara: must be a description, or \{ description/);
  });
});

describe('refs: sheet', () => {
  const text = () => book(['mara: { description: Mara, refs: sheet }', 'tom: { description: Tom, refs: [refs/tom.webp] }'], [['prompt: "{tom} rows"'], ['prompt: "{mara} and {tom}"']]);
  const sheets = () => path.join(dir, 'output', 'refs-book', 'characters');

  it('sends the character\'s sheet from the sheets folder (given, or made from the book\'s slug)', async () => {
    await mkdir(sheets(), { recursive: true });
    await writeFile(path.join(sheets(), 'mara.png'), PNG('mara sheet'));
    const b = await load(text(), { sheetsDir: sheets() });
    expect(b.jobs[1].refs!.map((r) => [r.character, r.file])).toEqual([['mara', path.join(sheets(), 'mara.png')], ['tom', path.join(dir, 'refs/tom.webp')]]);
    expect(b.characters![0]).toMatchObject({ name: 'mara', sheet: true, refs: [] });
    const viaSlug = await load(text(), { sheetsDir: (slug) => path.join(dir, 'output', slug, 'characters') });
    expect(viaSlug.jobs.map((j) => j.promptHash)).toEqual(b.jobs.map((j) => j.promptHash));
    // A redrawn sheet makes its panels stale.
    await writeFile(path.join(sheets(), 'mara.png'), PNG('mara sheet, redrawn'));
    const redrawn = await load(text(), { sheetsDir: sheets() });
    expect(redrawn.jobs[0].promptHash).toBe(b.jobs[0].promptHash);
    expect(redrawn.jobs[1].promptHash).not.toBe(b.jobs[1].promptHash);
  });

  it('a missing sheet names the character and the command that makes it', async () => {
    const t = text();
    const e = await errorOf(t, { sheetsDir: sheets() });
    expect(where(e)).toBe(at(t, 'sheet }'));
    expect(e.detail).toBe(`characters.mara.refs: mara uses refs: sheet, but there is no sheet at ${path.join(sheets(), 'mara.png')}: run \`semantest-run characters ${file}\` first`);
  });

  it('without a sheets folder, is an error only when a job needs the sheet; withoutSheets leaves sheets out', async () => {
    const unused = book(['mara: { description: Mara, refs: sheet }'], [['prompt: a street']]);
    expect((await load(unused)).jobs[0].refs).toBeUndefined();
    const e = await errorOf(text());
    expect(e.detail).toMatch(/^characters\.mara\.refs: mara uses refs: sheet, and this command does not know where character sheets are kept/);
    const b = await load(text(), { withoutSheets: true });
    expect(refNames(b, 'ch1/s1/p2')).toEqual(['tom.webp']);
  });
});
