// `report --open`: the opener is run without a shell and gets the page as one argument, so a folder
// name full of shell syntax opens that folder's page and runs nothing. A stand-in `xdg-open` on PATH
// records the argv it received.
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { opener, openInBrowser } from './report.js';

const NASTY = `book & calc; $(touch pwned) 'q' "dq" %20 \`id\``;
let dir: string;
let savedPath: string | undefined;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'open-'));
  savedPath = process.env.PATH;
});

afterEach(async () => {
  process.env.PATH = savedPath;
  await rm(dir, { recursive: true, force: true });
});

describe('report --open', () => {
  it('hands xdg-open the page as one argument and runs nothing from the folder name', async () => {
    const bin = path.join(dir, 'bin');
    await mkdir(bin);
    const record = path.join(dir, 'argv');
    // Written to a temp name and renamed, so the test sees the whole argv or nothing.
    await writeFile(path.join(bin, 'xdg-open'), `#!/bin/sh\nprintf '%s\\0' "$@" > '${record}.tmp' && mv '${record}.tmp' '${record}'\n`);
    await chmod(path.join(bin, 'xdg-open'), 0o755);
    process.env.PATH = `${bin}${path.delimiter}${savedPath}`;
    const sheet = path.join(dir, NASTY, 'contact-sheet.html');
    await mkdir(path.dirname(sheet));
    await writeFile(sheet, '<!doctype html>');
    const notes: string[] = [];

    await openInBrowser(sheet, (s) => notes.push(s), 'linux');
    await expect.poll(() => readFile(record, 'utf8').catch(() => undefined)).toBeDefined();

    const argv = (await readFile(record, 'utf8')).split('\0').slice(0, -1);
    expect(argv).toEqual([pathToFileURL(sheet).href]);
    expect(notes).toEqual([]);
    expect((await readdir(dir)).sort()).toEqual(['argv', 'bin', NASTY].sort());
  });

  it('names the opener of each platform with the page as its only argument, and never cmd.exe', () => {
    expect(opener('win32', 'C:\\Users\\a\\out\\a&b ^c\\contact-sheet.html')).toEqual({ command: 'explorer.exe', args: ['C:\\Users\\a\\out\\a&b ^c\\contact-sheet.html'] });
    expect(opener('darwin', '/u/out/a&b/contact-sheet.html')).toEqual({ command: 'open', args: ['file:///u/out/a&b/contact-sheet.html'] });
    expect(opener('linux', '/u/out/a;b/contact-sheet.html')).toEqual({ command: 'xdg-open', args: ['file:///u/out/a;b/contact-sheet.html'] });
  });

  it('says where the page is when the opener is missing', async () => {
    process.env.PATH = dir;
    const notes: string[] = [];
    await openInBrowser(path.join(dir, 'contact-sheet.html'), (s) => notes.push(s), 'linux');
    expect(notes).toEqual([`could not open it (xdg-open: spawn xdg-open ENOENT); open ${pathToFileURL(path.join(dir, 'contact-sheet.html')).href} in a browser`]);
  });
});
