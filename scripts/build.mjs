// Builds what a run needs: the CLI bundle (dist/cli.js) and the MV3 extension (dist/extension/).
// Runs on `npm install` through `prepare`, so a fresh clone is ready after `npm ci`.
import { build } from 'esbuild';
import { cp, mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.join(root, 'dist');
const extOut = path.join(dist, 'extension');

await rm(extOut, { recursive: true, force: true });
await mkdir(extOut, { recursive: true });

if (existsSync(path.join(root, 'src/cli/main.ts'))) {
  await build({
    entryPoints: [path.join(root, 'src/cli/main.ts')],
    outfile: path.join(dist, 'cli.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  });
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
    logLevel: 'warning',
  });
}
if (existsSync(path.join(root, 'extension/manifest.json'))) {
  await cp(path.join(root, 'extension/manifest.json'), path.join(extOut, 'manifest.json'));
}
