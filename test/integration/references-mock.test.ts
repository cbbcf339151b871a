// References on the built-in mock's 2026 page (both composers), through the real extension and one
// real attempt per panel: the mock's log shows each prompt went with exactly its references, fully
// uploaded, none saved as a panel; each upload fault is an UploadError naming the file, no prompt spent.
// The jobs carry `refs` as the prompt loader fills them (test/support/attempt-harness.ts).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright';
import { Hub } from '../../src/hub/hub.js';
import { findChromium } from '../../src/browser/discover.js';
import { installExtension, readExtensionId } from '../../src/browser/extension-dir.js';
import { launchBrowser } from '../../src/browser/launch.js';
import { loadProvider } from '../../src/providers/index.js';
import { UploadError } from '../../src/protocol/errors.js';
import type { ProviderDescriptor } from '../../src/protocol/provider.js';
import { startMockSite, type MockSite } from '../../src/mock/server.js';
import { attemptOnce, jobWith, writeReference, type Harness } from '../support/attempt-harness.js';

describe('references on the mock', () => {
  let context: BrowserContext;
  let profileDir: string;
  let root: string;
  const sites: MockSite[] = [];
  const hubs: Hub[] = [];

  beforeAll(async () => {
    profileDir = await mkdtemp(path.join(tmpdir(), 'semantest-refs-mock-'));
  });
  afterEach(async () => {
    await context?.close();
    for (const hub of hubs.splice(0)) await hub.close();
    for (const site of sites.splice(0)) await site.close();
    await rm(root, { recursive: true, force: true });
  });
  afterAll(() => rm(profileDir, { recursive: true, force: true }));

  /** A mock, a hub whose descriptor has short upload bounds (2 s for a tile, 4 s for an upload), and Chromium. */
  async function harness(options: Parameters<typeof startMockSite>[0]): Promise<Harness & { site: MockSite; tabOf: (page: Page) => number }> {
    root = await mkdtemp(path.join(tmpdir(), 'semantest-refs-book-'));
    const site = await startMockSite({ latencyMs: 300, ...options });
    sites.push(site);
    const base = loadProvider('chatgpt', site.url);
    const provider: ProviderDescriptor = { ...base, timings: { ...base.timings, tileTimeoutMs: 2_000, uploadTimeoutMs: 4_000 } };
    const hub = await Hub.start({ extensionId: await readExtensionId(), provider });
    hubs.push(hub);
    context = await launchBrowser({ profileDir: await mkdtemp(path.join(profileDir, 'p-')), extensionDir: await installExtension(profileDir, hub.config()), executablePath: findChromium(), headless: true });
    await hub.waitForExtension(15_000);
    const tabs = new Map<Page, number>();
    const open = async (): Promise<{ tabId: number; page: Page }> => {
      const opened = context.waitForEvent('page', { timeout: 15_000 });
      const { tabId } = await hub.request({ type: 'open-tab', url: site.url }, 15_000);
      const page = await opened;
      tabs.set(page, tabId);
      return { tabId, page };
    };
    return { context, hub, provider, open, site, tabOf: (page: Page) => tabs.get(page)! };
  }

  for (const [composer, dom] of [['sep-2026', '2026'], ['mid-2026', '2026'], ['sep-2026', '2026-blob']] as const) {
    it(`${composer} on the ${dom} page: panels with zero, one and two characters go with exactly their references, uploaded before the send, none saved as a panel, none read on a revisit`, async () => {
      const h = await harness({ composer, dom, uploadMs: 800 });
      const mara = await writeReference(root, 'Mara', 'mara.png', randomBytes(30_000));
      const tomFront = await writeReference(root, 'Tom', 'tom-front.png', randomBytes(20_000));
      const tomSide = await writeReference(root, 'Tom', 'tom-side.png', randomBytes(10_000));
      const panels = [jobWith(root, 1, 'the harbour at dawn, empty', []), jobWith(root, 2, 'Mara mends the nets', [mara]), jobWith(root, 3, 'Mara and Tom on the pier', [mara, tomFront, tomSide])];
      const saved: string[] = [];
      let last: { page: Page; fileId: string } | undefined;
      for (const job of panels) {
        const { result, error, page } = await attemptOnce(h, root, job);
        expect(error).toBeUndefined();
        saved.push(createHash('sha256').update(await readFile(result!.file)).digest('hex'));
        last = { page, fileId: JSON.parse(await readFile(result!.file.replace(/\.png$/, '.json'), 'utf8')).fileId };
      }
      // A revisit after a reload reads the same answer, never a reference shown in the user turn.
      await last!.page.reload();
      const tabId = h.tabOf(last!.page);
      const again = await h.hub.request({ type: 'find-image', tabId, jobId: 'ch1/s1/p3', prompt: 'Mara and Tom on the pier', excludeFileIds: [], timeoutMs: 10_000 }, 30_000);
      expect(again?.fileId).toBe(last!.fileId);
      const log = h.site.prompts();
      expect(log.map((p) => [p.prompt, p.attachments.map((a) => a.sha256), p.uploadsDone])).toEqual([
        [expect.stringContaining('the harbour at dawn'), [], true],
        [expect.stringContaining('Mara mends the nets'), [mara.sha256], true],
        [expect.stringContaining('Mara and Tom on the pier'), [mara.sha256, tomFront.sha256, tomSide.sha256], true],
      ]);
      expect(h.site.stats().sendsWhileDisabled).toBe(0);
      for (const ref of [mara, tomFront, tomSide]) expect(saved).not.toContain(ref.sha256);
      const sidecar = JSON.parse(await readFile(path.join(root, 'out', 'refs', 'ch1', 's1', 'p3.json'), 'utf8'));
      expect(sidecar.references.map((r: { file: string }) => r.file)).toEqual(['refs/mara.png', 'refs/tom-front.png', 'refs/tom-side.png']);
    }, 90_000);
  }

  for (const [fault, words] of [
    ['upload-fail@2', /^the upload failed for tom\.png: the page says "Failed upload to files\.oaiusercontent\.com"$/],
    ['upload-stuck@2', /^the upload never finished: tom\.png still uploading 4 s after attaching$/],
    ['upload-drop@2', /^the page dropped tom\.png: no tile appeared for it within 2 s of attaching$/],
  ] as const) {
    it(`${fault}: an UploadError naming the file, and no prompt reaches the site`, async () => {
      const h = await harness({ faults: fault, uploadMs: 300 });
      const refs = [await writeReference(root, 'Mara', 'mara.png', randomBytes(3_000)), await writeReference(root, 'Tom', 'tom.png', randomBytes(3_000))];
      const { error } = await attemptOnce(h, root, jobWith(root, 1, 'Mara and Tom on the pier', refs));
      expect(error).toBeInstanceOf(UploadError);
      expect((error as Error).message).toMatch(words);
      expect(h.site.prompts()).toEqual([]);
      expect(h.site.stats().prompts).toBe(0);
    }, 60_000);
  }
});
