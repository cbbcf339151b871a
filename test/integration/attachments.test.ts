// The real extension attaches a panel's references in a page with the composer contract of DESIGN §4
// "attachments" (test/support/attach-page.ts), through the hub, in real Chromium: what the page
// received (names, sha256s), that the send waited for every upload, and each upload failure by name.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright';
import { Hub } from '../../src/hub/hub.js';
import { findChromium } from '../../src/browser/discover.js';
import { installExtension, readExtensionId } from '../../src/browser/extension-dir.js';
import { launchBrowser } from '../../src/browser/launch.js';
import { loadProvider } from '../../src/providers/index.js';
import { AttachmentError, NoImageError, UploadError } from '../../src/protocol/errors.js';
import type { Attachment } from '../../src/protocol/messages.js';
import type { ProviderDescriptor } from '../../src/protocol/provider.js';
import type { Job, Reference } from '../../src/prompts/types.js';
import { RunEvents } from '../../src/events.js';
import { openJobStore } from '../../src/store/index.js';
import { ImageClaims } from '../../src/run/image-claims.js';
import { JobLifecycle } from '../../src/run/job-lifecycle.js';
import { runAttempt } from '../../src/run/attempt.js';
import { startAttachPage, type AttachPage } from '../support/attach-page.js';

interface AttachLog {
  received: Array<{ name: string; type: string; size: number; sha256: string }>;
  sends: Array<{ prompt: string; files: string[]; shown: string[]; busy: number }>;
  decoy: number;
}

const file = (name: string, bytes: Buffer): Attachment & { sha256: string } => ({
  name,
  type: 'image/png',
  base64: bytes.toString('base64'),
  sha256: createHash('sha256').update(bytes).digest('hex'),
});

describe('attaching references through the real extension', () => {
  let hub: Hub;
  let context: BrowserContext;
  let profileDir: string;
  let site: AttachPage;
  let provider: ProviderDescriptor;

  beforeAll(async () => {
    site = await startAttachPage();
    profileDir = await mkdtemp(path.join(tmpdir(), 'semantest-attach-'));
    const base = loadProvider('chatgpt', site.url);
    // Short bounds so each failure shows within a second or two (the shipped ones are 10 s and 60 s).
    provider = { ...base, timings: { ...base.timings, tileTimeoutMs: 1500, uploadTimeoutMs: 3000, sendSteadyMs: 300, settleMs: 800 } };
    hub = await Hub.start({ extensionId: await readExtensionId(), provider });
    const extensionDir = await installExtension(profileDir, hub.config());
    context = await launchBrowser({ profileDir, extensionDir, executablePath: findChromium(), headless: true });
    await hub.waitForExtension(15_000);
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await hub?.close();
    await site?.close();
    await rm(profileDir, { recursive: true, force: true });
  });

  async function open(query: string): Promise<{ tabId: number; page: Page }> {
    const url = `${site.url}?${query}`;
    // Playwright may learn of the extension's new tab after the extension answers: listen first.
    const opened = context.waitForEvent('page', { timeout: 15_000 });
    const { tabId } = await hub.request({ type: 'open-tab', url }, 15_000);
    const page = await opened;
    await page.waitForURL(url);
    return { tabId, page };
  }

  const generate = (tabId: number, prompt: string, attachments: Attachment[]) =>
    hub.request({ type: 'generate', tabId, jobId: 'ch1/s1/p1', prompt, timeoutMs: 15_000, sendGapMs: 0, excludeFileIds: [], imageIntent: 'tool-or-prefix', attachments }, 30_000);

  const logOf = (page: Page) => page.evaluate(() => (window as unknown as { __attachLog: AttachLog }).__attachLog);

  for (const [composer, markup] of [['sep', '2026'], ['mid', '2024']] as const) {
    it(`${composer}-2026 composer, ${markup} turns: sends only once every upload is done, with exactly its files, and never takes a reference for the image (first send, renamed re-add, revisit)`, async () => {
      const { tabId, page } = await open(`composer=${composer}&markup=${markup}&uploadMs=1200`);
      // A reference named like a generated image and larger than it: only its turn tells them apart.
      const refs = [file('Generated image.png', randomBytes(40_000)), file('mara.png', randomBytes(30_000))];
      const found = await generate(tabId, 'Mara waves at the harbour', refs.map(({ sha256: _, ...a }) => a));
      expect(found.fileId).toBe('file_gen2');
      let log = await logOf(page);
      expect(log.received.map((r) => [r.name, r.size, r.sha256])).toEqual(refs.map((r) => [r.name, Buffer.from(r.base64, 'base64').length, r.sha256]));
      expect(log.sends).toEqual([{ prompt: expect.stringContaining('Mara waves at the harbour'), files: ['Generated image.png', 'mara.png'], shown: ['Generated image.png', 'mara.png'], busy: 0 }]);
      expect(log.decoy).toBe(0);

      // The same name again in this page shows renamed (mara(1).png, mara(20260920-152701).png).
      const again = await generate(tabId, 'Mara sails home', [refs[1]].map(({ sha256: _, ...a }) => a));
      expect(again.fileId).toBe('file_gen4');
      log = await logOf(page);
      const renamed = composer === 'mid' ? 'mara(1).png' : 'mara(20260920-152701).png';
      expect(log.sends.at(-1)).toEqual({ prompt: expect.stringContaining('Mara sails home'), files: ['mara.png'], shown: [renamed], busy: 0 });

      // A revisit of the conversation reads the answer, never the user turn's references.
      const revisit = await hub.request({ type: 'find-image', tabId, jobId: 'ch1/s1/p1', prompt: 'Mara waves at the harbour', excludeFileIds: [], timeoutMs: 5_000 }, 20_000);
      expect(revisit?.fileId).toBe('file_gen2');
      await page.close();
    }, 60_000);
  }

  it('an answer that only shows the user\'s own reference again is no image', async () => {
    const { tabId, page } = await open('answer=echo&uploadMs=100');
    const error = await generate(tabId, 'Show Mara', [file('mara.png', randomBytes(5_000))].map(({ sha256: _, ...a }) => a)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoImageError);
    expect((error as Error).message).toContain('Here is the picture you sent');
    await page.close();
  }, 30_000);

  for (const [fault, words] of [
    ['fail', /the upload failed for mara\.png: the page says "Failed upload to files\.oaiusercontent\.com"/],
    ['never', /the upload never finished: tom\.png still uploading 3 s after attaching/],
    ['drop', /the page dropped tom\.png: no tile appeared for it within 2 s of attaching/],
  ] as const) {
    it(`an upload that ${fault === 'fail' ? 'fails (the banner)' : fault === 'never' ? 'never finishes' : 'the page drops'} fails as an upload naming the file, and nothing is sent`, async () => {
      const { tabId, page } = await open(`fault=${fault}&uploadMs=200`);
      const files = fault === 'fail' ? [file('mara.png', randomBytes(2_000))] : [file('mara.png', randomBytes(2_000)), file('tom.png', randomBytes(2_000))];
      const error = await generate(tabId, 'Mara and Tom', files.map(({ sha256: _, ...a }) => a)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UploadError);
      expect((error as Error).message).toMatch(words);
      expect((await logOf(page)).sends).toEqual([]);
      await page.close();
    }, 30_000);
  }

  it('carries a 12 MB reference from the runner to the page byte for byte (past the hub\'s 1 MiB bound on what the extension sends)', async () => {
    const { tabId, page } = await open('uploadMs=100');
    const big = file('sheet.png', randomBytes(12 * 1024 * 1024));
    const started = Date.now();
    await generate(tabId, 'Mara, the big sheet', [big].map(({ sha256: _, ...a }) => a));
    const ms = Date.now() - started;
    const log = await logOf(page);
    expect(log.received).toEqual([{ name: 'sheet.png', type: 'image/png', size: 12 * 1024 * 1024, sha256: big.sha256 }]);
    console.log(`12 MiB reference: generate round trip ${ms} ms`);
    await page.close();
  }, 60_000);

  describe('one attempt of a job with references (run/attempt.ts)', () => {
    // The prompt loader's `refs:` is another change; these jobs carry refs the way it will fill them.
    async function jobWith(root: string, refs: Reference[]): Promise<Job> {
      const source = path.join(root, 'book.yaml');
      await writeFile(source, 'book: refs\n');
      return { id: 'ch1/s1/p1', order: 0, chapter: 'ch1', strip: 's1', panel: 'p1', prompt: 'Mara and Tom', finalPrompt: 'Mara and Tom at the harbour', promptHash: 'h1', outputPath: 'ch1/s1/p1.png', refs, source: { file: source, line: 3 } };
    }
    async function ref(root: string, character: string, name: string, bytes: Buffer): Promise<Reference> {
      await mkdir(path.join(root, 'refs'), { recursive: true });
      const file = path.join(root, 'refs', name);
      await writeFile(file, bytes);
      return { character, file, name, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length, type: 'image/png' };
    }
    async function attempt(root: string, job: Job) {
      const store = await openJobStore(path.join(root, 'checkpoints'));
      const lifecycle = new JobLifecycle(job, store, new RunEvents());
      await lifecycle.start({ profile: 'default' });
      const { tabId, page } = await open('uploadMs=600');
      const deps = { context, hub, provider, bookDir: path.join(root, 'out', 'refs'), book: { book: 'refs', style: '', provider: 'chatgpt' }, profile: 'default', generationTimeoutMs: 15_000, sendGapMs: 0, claims: new ImageClaims(), hooks: {} };
      const memory = { verifyFailures: new Map<string, number>(), rejectedFileIds: new Set<string>(), imageIntent: 'tool-or-prefix' as const };
      try {
        return { result: await runAttempt(deps, { page, tabId }, lifecycle, memory, Date.now()), page, store };
      } catch (error) {
        return { error, page, store };
      }
    }

    it('sends the references read from disk, saves the answer (not a reference) and lists them in the sidecar', async () => {
      const root = await mkdtemp(path.join(tmpdir(), 'semantest-attempt-'));
      try {
        const refs = [await ref(root, 'Mara', 'mara.png', randomBytes(20_000)), await ref(root, 'Tom', 'tom.png', randomBytes(10_000))];
        const { result, error, page, store } = await attempt(root, await jobWith(root, refs));
        expect(error).toBeUndefined();
        const saved = await readFile(result!.file);
        expect(refs.map((r) => r.sha256)).not.toContain(createHash('sha256').update(saved).digest('hex'));
        const log = await logOf(page);
        expect(log.received.map((r) => [r.name, r.sha256])).toEqual(refs.map((r) => [r.name, r.sha256]));
        expect(log.sends).toEqual([{ prompt: expect.stringContaining('Mara and Tom at the harbour'), files: ['mara.png', 'tom.png'], shown: ['mara.png', 'tom.png'], busy: 0 }]);
        const sidecar = JSON.parse(await readFile(result!.file.replace(/\.png$/, '.json'), 'utf8'));
        expect(sidecar.references).toEqual([{ character: 'Mara', file: 'refs/mara.png', sha256: refs[0].sha256 }, { character: 'Tom', file: 'refs/tom.png', sha256: refs[1].sha256 }]);
        expect(sidecar.fileId).toBe('file_gen2');
        await page.close();
        await store.close();
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    }, 60_000);

    it('a reference changed since load fails the attempt as `attachment`, naming it, and the page is given nothing', async () => {
      const root = await mkdtemp(path.join(tmpdir(), 'semantest-attempt-'));
      try {
        const mara = await ref(root, 'Mara', 'mara.png', randomBytes(2_000));
        await writeFile(mara.file, randomBytes(2_000));
        const { error, page, store } = await attempt(root, await jobWith(root, [mara]));
        expect(error).toBeInstanceOf(AttachmentError);
        expect((error as Error).message).toBe(`reference ${mara.file} changed since the prompt file was loaded (its sha256 differs): run again to load it`);
        expect(await logOf(page)).toMatchObject({ received: [], sends: [] });
        await page.close();
        await store.close();
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    }, 30_000);
  });
});
