// The built extension is copied per profile with this run's hub address and token in config.json:
// the installed package may be read-only, and the manifest "key" keeps the extension ID stable
// wherever the copy lies. config.json is never web-accessible, so no page can read the token.
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { HubConfig } from '../hub/hub.js';
import { FatalError } from '../protocol/errors.js';
import { packageRoot } from '../paths.js';
import { clearScratchDir } from '../store/scratch.js';

export function builtExtensionDir(): string {
  return path.join(packageRoot, 'dist', 'extension');
}

/** Chrome derives an unpacked extension's ID from its manifest key: sha256, first 32 hex digits as a–p. */
export function extensionIdFromKey(base64Key: string): string {
  const hex = createHash('sha256').update(Buffer.from(base64Key, 'base64')).digest('hex').slice(0, 32);
  return [...hex].map((digit) => String.fromCharCode(97 + parseInt(digit, 16))).join('');
}

export async function readExtensionId(dir = builtExtensionDir()): Promise<string> {
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as { key: string };
  return extensionIdFromKey(manifest.key);
}

/** Copies the built extension into `<profile>/.extension-<version>/` and writes this run's config.json. */
export async function installExtension(profileDir: string, config: HubConfig): Promise<string> {
  const source = builtExtensionDir();
  if (!existsSync(path.join(source, 'background.js'))) {
    throw new FatalError(`the extension is not built (${source} is missing): run \`npm run build\``);
  }
  // One folder per build (the version carries a bundle hash), so a changed build is noticed.
  const { version } = JSON.parse(await readFile(path.join(source, 'manifest.json'), 'utf8')) as { version: string };
  const target = path.join(profileDir, `.extension-${version.replace(/[^0-9.]/g, '')}`);
  const previous = (await readdir(profileDir).catch(() => [] as string[])).filter((entry) => entry.startsWith('.extension'));
  if (previous.length > 0 && !previous.includes(path.basename(target))) {
    // Measured: even a new folder and version keep the old worker script running from the
    // profile's service-worker cache. Drop that cache once per new build; the site's own worker,
    // if it has one, re-registers by itself, and cookies (the login) live elsewhere.
    noteIf(await clearScratchDir(path.join(profileDir, 'Default', 'Service Worker')));
  }
  // Never the end of a run (ARCHITECTURE §2): what cannot be removed is moved aside or left with a note.
  for (const entry of previous) noteIf(await clearScratchDir(path.join(profileDir, entry)));
  await mkdir(target, { recursive: true });
  await cp(source, target, { recursive: true });
  await writeFile(path.join(target, 'config.json'), JSON.stringify(config), { mode: 0o600 });
  return target;
}

function noteIf(note: string | undefined): void {
  if (note) process.stderr.write(`note: ${note}\n`);
}
