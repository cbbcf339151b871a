// Runs a TypeScript script (bench/*.ts) by bundling it with esbuild into dist/, next to node_modules.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <file.ts> [args…]');
  process.exit(2);
}
const outfile = path.join('dist', 'scripts', `${path.basename(entry, '.ts')}.mjs`);
await build({ entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning' });
// The benches measure the runner as bin/semantest-run.cjs starts it: tuned before any ES module loads.
const result = spawnSync(process.execPath, ['--require', path.resolve('dist', 'tune.cjs'), outfile, ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
