import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright';
import { Hub } from '../../src/hub/hub.js';
import { findChromium } from '../../src/browser/discover.js';
import { installExtension, readExtensionId } from '../../src/browser/extension-dir.js';
import { launchBrowser } from '../../src/browser/launch.js';
import { loadProvider } from '../../src/providers/index.js';

describe('the real extension in real Chromium', () => {
  let hub: Hub;
  let context: BrowserContext;
  let profileDir: string;

  beforeAll(async () => {
    profileDir = await mkdtemp(path.join(tmpdir(), 'semantest-profile-'));
    hub = await Hub.start({ extensionId: await readExtensionId(), provider: loadProvider('chatgpt', 'http://127.0.0.1:9/') });
    const extensionDir = await installExtension(profileDir, hub.config());
    context = await launchBrowser({ profileDir, extensionDir, executablePath: findChromium(), headless: true });
  });

  afterAll(async () => {
    await context?.close();
    await hub?.close();
    await rm(profileDir, { recursive: true, force: true });
  });

  it('connects to the hub with its token and the expected extension id', async () => {
    await hub.waitForExtension(15_000);
    expect(hub.connected).toBe(true);
    const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker'));
    expect(worker.url()).toBe(`chrome-extension://${await readExtensionId()}/background.js`);
  });
});
