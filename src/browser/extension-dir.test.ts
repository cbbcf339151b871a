import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtExtensionDir, installExtension } from './extension-dir.js';

const config = { port: 1, path: '/x', token: 't' };

describe('installing the extension into a profile', () => {
  it('writes the build and this run\'s config, readable by the owner only', async () => {
    const profile = await mkdtemp(path.join(tmpdir(), 'semantest-ext-'));
    const dir = await installExtension(profile, config);
    const version = JSON.parse(await readFile(path.join(builtExtensionDir(), 'manifest.json'), 'utf8')).version;
    expect(path.basename(dir)).toBe(`.extension-${version}`);
    expect(JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'))).toEqual(config);
    expect(statSync(path.join(dir, 'config.json')).mode & 0o077).toBe(0);
  });

  it('drops the cached worker of an older build once, and keeps it while the build is the same', async () => {
    const profile = await mkdtemp(path.join(tmpdir(), 'semantest-ext-'));
    const cache = path.join(profile, 'Default', 'Service Worker', 'ScriptCache');
    await mkdir(cache, { recursive: true });
    await mkdir(path.join(profile, '.extension-0.0.1.1'));
    await installExtension(profile, config);
    expect(existsSync(cache)).toBe(false);
    expect((await readdir(profile)).filter((e) => e.startsWith('.extension'))).toHaveLength(1);
    await mkdir(cache, { recursive: true });
    await writeFile(path.join(cache, 'index'), 'kept');
    await installExtension(profile, config);
    expect(existsSync(path.join(cache, 'index'))).toBe(true);
  });
});
