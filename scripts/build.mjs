// Builds what a run needs: the CLI bundle (dist/cli.js) and the MV3 extension (dist/extension/).
// Runs on `npm install` through `prepare`, so a fresh clone is ready after `npm ci`.
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.join(root, 'dist');
const extOut = path.join(dist, 'extension');

await rm(extOut, { recursive: true, force: true });
await mkdir(extOut, { recursive: true });

if (existsSync(path.join(root, 'src/cli/main.ts'))) {
  const node = { bundle: true, platform: 'node', target: 'node20', packages: 'external', logLevel: 'warning' };
  await build({ ...node, entryPoints: [path.join(root, 'src/cli/main.ts')], outfile: path.join(dist, 'cli.js'), format: 'esm', sourcemap: true });
  // CommonJS, loaded by bin/semantest-run.cjs before any ES module (see src/cli/tune-process.ts).
  await build({ ...node, entryPoints: [path.join(root, 'src/cli/tune-entry.ts')], outfile: path.join(dist, 'tune.cjs'), format: 'cjs' });
}

for (const entry of ['background', 'content']) {
  const src = path.join(root, 'extension/src', `${entry}.ts`);
  if (!existsSync(src)) continue;
  await build({
    entryPoints: [src],
    outfile: path.join(extOut, `${entry}.js`),
    bundle: true,
    platform: 'browser',
    format: entry === 'background' ? 'esm' : 'iife',
    target: 'chrome120',
    minify: true,
    keepNames: true, // error classes keep their names across the hub
    logLevel: 'warning',
  });
}
if (existsSync(path.join(root, 'extension/manifest.json'))) {
  // Chromium keeps a profile's extension service worker cached while the manifest version stays the
  // same, so a rebuilt extension would silently run old code: stamp a build number from the bundle.
  const manifest = JSON.parse(await readFile(path.join(root, 'extension/manifest.json'), 'utf8'));
  const hash = createHash('sha256');
  for (const entry of ['background.js', 'content.js']) {
    if (existsSync(path.join(extOut, entry))) hash.update(await readFile(path.join(extOut, entry)));
  }
  manifest.version = `${manifest.version}.${hash.digest().readUInt16BE(0)}`;
  await writeFile(path.join(extOut, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}
