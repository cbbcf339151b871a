import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../protocol/errors.js';
import { withTempDir } from '../../test/support/store.js';
import { loadProvider } from './index.js';

describe('provider descriptors', () => {
  it('loads the built-in ChatGPT descriptor with both page columns\' anchors', () => {
    const p = loadProvider('chatgpt');
    expect(p.baseUrl).toBe('https://chatgpt.com/');
    expect(p.selectors.turn).toContain('section[data-testid^="conversation-turn-"]');
    expect(p.selectors.stop).toContain('button[aria-label="Stop answering"]');
    expect(p.selectors.plusButton).toContain('[data-testid="composer-plus-btn"]');
    expect(new RegExp(p.text.policy.source, p.text.policy.flags).test('the image we created may violate our guardrails concerning similarity')).toBe(true);
    expect(new RegExp(p.text.error.source, p.text.error.flags).test('Image generation failed')).toBe(true);
    for (const text of ['Too many requests. Please slow down.', 'We are experiencing heavy server load', 'Unusual activity has been detected from your device']) {
      expect(new RegExp(p.text.cooldown.source, p.text.cooldown.flags).test(text)).toBe(true);
    }
  });

  it('points the descriptor at --base-url, the only setting a site with the same contract needs', () => {
    expect(loadProvider('chatgpt', 'http://127.0.0.1:8080').baseUrl).toBe('http://127.0.0.1:8080/');
    expect(() => loadProvider('chatgpt', 'ftp://x/')).toThrow('--base-url: "ftp://x/" must be http or https');
  });

  it('loads an updated descriptor from --provider-file without a rebuild', async () => {
    await withTempDir(async (dir) => {
      await mkdir(dir, { recursive: true });
      const file = path.join(dir, 'updated.json');
      const data = JSON.parse(JSON.stringify(loadProvider('chatgpt')));
      data.selectors.composer = ['div.NewEditor[contenteditable="true"]', ...data.selectors.composer];
      await writeFile(file, JSON.stringify(data));
      expect(loadProvider('chatgpt', undefined, file).selectors.composer[0]).toBe('div.NewEditor[contenteditable="true"]');
    });
  });

  it('names the file and the field of a broken --provider-file', async () => {
    await withTempDir(async (dir) => {
      await mkdir(dir, { recursive: true });
      const file = path.join(dir, 'broken.json');
      const data = JSON.parse(JSON.stringify(loadProvider('chatgpt')));
      data.selectors.composer = [];
      await writeFile(file, JSON.stringify(data));
      expect(() => loadProvider('chatgpt', undefined, file)).toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: invalid provider descriptor: selectors.composer`));
      data.selectors.composer = ['x'];
      data.text.policy = { source: '(unclosed', flags: 'i' };
      await writeFile(file, JSON.stringify(data));
      expect(() => loadProvider('chatgpt', undefined, file)).toThrow(/text\.policy: Invalid regular expression/);
      await writeFile(file, '{ "name": ');
      expect(() => loadProvider('chatgpt', undefined, file)).toThrow(/broken\.json: not valid JSON/);
      expect(() => loadProvider('chatgpt', undefined, path.join(dir, 'missing.json'))).toThrow(UsageError);
    });
  });
});
