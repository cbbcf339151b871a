// Finds a Chromium that loads unpacked extensions (ARCHITECTURE §2). Branded Chrome 137+ ignores
// --load-extension, so only Chromium builds are looked for, in a fixed, documented order.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright';
import { BrowserNotFoundError } from '../protocol/errors.js';

function executable(file: string | undefined): file is string {
  if (!file) return false;
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && executable(candidate)) return candidate;
  }
  return undefined;
}

function playwrightChromium(): string | undefined {
  try {
    return chromium.executablePath();
  } catch {
    return undefined;
  }
}

/** Order: --browser, SEMANTEST_CHROMIUM, Playwright's Chromium, Debian's, chromium-browser on PATH. */
export function findChromium(explicit?: string): string {
  const requested = explicit ?? process.env.SEMANTEST_CHROMIUM;
  if (requested) {
    if (executable(requested)) return requested;
    const source = explicit ? '--browser' : 'SEMANTEST_CHROMIUM';
    throw new BrowserNotFoundError(`${source} names ${requested}, which is not an executable file`);
  }
  const candidates = [playwrightChromium(), '/usr/lib/chromium/chromium', '/usr/bin/chromium', onPath('chromium'), onPath('chromium-browser')];
  const found = candidates.find(executable);
  if (found) return found;
  throw new BrowserNotFoundError(`no Chromium found. ${installHint()} Or point --browser (or SEMANTEST_CHROMIUM) at a Chromium or Chrome for Testing binary; branded Google Chrome cannot load the extension.`);
}

function installHint(): string {
  switch (process.platform) {
    case 'linux':
      return 'Install it with `sudo apt-get install -y chromium` (Debian/Ubuntu) or `npx playwright install chromium`.';
    case 'darwin':
      return 'Install it with `npx playwright install chromium` or `brew install --cask chromium`.';
    default:
      return 'Install it with `npx playwright install chromium`.';
  }
}
