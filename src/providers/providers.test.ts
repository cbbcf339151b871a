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
      expect(() => loadProvider('chatgpt', undefined, file)).toThrow(/text\.policy\.source: Invalid regular expression/);
      await writeFile(file, '{ "name": ');
      expect(() => loadProvider('chatgpt', undefined, file)).toThrow(/broken\.json: not valid JSON/);
      expect(() => loadProvider('chatgpt', undefined, path.join(dir, 'missing.json'))).toThrow(UsageError);
    });
  });

  it('refuses --provider-file patterns that can take exponential time, stateful flags and a non-http base URL', async () => {
    await withTempDir(async (dir) => {
      await mkdir(dir, { recursive: true });
      const file = path.join(dir, 'hostile.json');
      const load = async (change: (data: any) => void) => {
        const data = JSON.parse(JSON.stringify(loadProvider('chatgpt')));
        change(data);
        await writeFile(file, JSON.stringify(data));
        return () => loadProvider('chatgpt', undefined, file);
      };
      const where = `--provider-file ${file}: invalid provider descriptor: `;
      expect(await load((d) => (d.text.quota = { source: 'hit (a+)+ limit', flags: 'i' }))).toThrow(`${where}text.quota.source: nested quantifier "(a+)+" can take exponential time`);
      expect(await load((d) => (d.conversationPath = { source: '^/c/(a+)+$', flags: '' }))).toThrow(`${where}conversationPath.source: nested quantifier "(a+)+"`);
      expect(await load((d) => (d.text.policy = { source: '(a|aa)+x', flags: 'i' }))).toThrow(`${where}text.policy.source: repeated alternatives "(a|aa)+"`);
      expect(await load((d) => (d.text.error = { source: '(.*a){3,}', flags: 'i' }))).toThrow(`${where}text.error.source: nested quantifier "(.*a){3,}"`);
      expect(await load((d) => (d.text.done = { source: '(Image)\\1', flags: 'i' }))).toThrow(`${where}text.done.source: backreference "\\1"`);
      expect(await load((d) => (d.text.done.flags = 'gi'))).toThrow(`${where}text.done.flags: flag "g" is not allowed`);
      expect(await load((d) => (d.imageSrc.flags = 'y'))).toThrow(`${where}imageSrc.flags: flag "y" is not allowed`);
      expect(await load((d) => (d.baseUrl = 'file:///etc/'))).toThrow(`${where}baseUrl: must be an http: or https: URL`);
      expect(await load((d) => (d.baseUrl = 'http://127.0.0.1:8080/'))).not.toThrow();
    });
  });

  it('runs every built-in pattern in linear time on 400 KB of hostile text', () => {
    const p = loadProvider('chatgpt');
    const patterns = [p.imageSrc, p.conversationPath, p.imageContainerId, ...Object.values(p.text)];
    const inputs = ['\n'.repeat(400_000), ' \n'.repeat(200_000), 'hit the plan limit for image '.repeat(14_000), 'Log in '.repeat(57_000)];
    for (const pattern of patterns) {
      const re = new RegExp(pattern.source, pattern.flags);
      for (const text of inputs) {
        // The quota pattern took minutes here before; linear ones take a few ms. The best of three
        // runs, so a collection or a busy CI machine pausing one of them cannot fail a linear one.
        let best = Infinity;
        for (let run = 0; run < 3 && best >= 250; run++) {
          const t0 = performance.now();
          re.test(text);
          best = Math.min(best, performance.now() - t0);
        }
        expect(best, `${pattern.source} on ${JSON.stringify(text.slice(0, 20))}…`).toBeLessThan(250);
      }
    }
  });

  it('calls a refusal worded "violates our content policies" a policy refusal', () => {
    const p = loadProvider('chatgpt');
    expect(new RegExp(p.text.policy.source, p.text.policy.flags).test('Sorry, this request violates our content policies.')).toBe(true);
    const login = new RegExp(p.text.login.source, p.text.login.flags);
    expect(login.test('Welcome back\n  Log in \nSign up for free')).toBe(true);
    expect(login.test('Log in to see more of this answer')).toBe(false);
  });
});
