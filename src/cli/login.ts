// `semantest-run login`: a window on the provider with the profile, so the user logs in once by hand.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { findChromium } from '../browser/discover.js';
import { launchBrowser } from '../browser/launch.js';
import { builtExtensionDir } from '../browser/extension-dir.js';
import { loadProvider } from '../providers/index.js';
import { acquireLock } from '../store/index.js';

export async function runLogin(opts: { profile: string; profilesDir: string; browser?: string; baseUrl?: string }): Promise<number> {
  const provider = loadProvider('chatgpt', opts.baseUrl);
  const profileDir = path.resolve(opts.profilesDir, opts.profile);
  await mkdir(profileDir, { recursive: true });
  const lock = await acquireLock(path.join(profileDir, '.semantest.lock'), `profile "${opts.profile}"`);
  try {
    const context = await launchBrowser({ profileDir, extensionDir: builtExtensionDir(), executablePath: findChromium(opts.browser), headless: false });
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(provider.baseUrl);
    process.stdout.write(`Log in to ${provider.baseUrl} in the window, then close the window. The session stays in ${profileDir}.\n`);
    await new Promise<void>((resolve) => context.once('close', () => resolve()));
    return 0;
  } finally {
    await lock.release();
  }
}
