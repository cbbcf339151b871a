// `npm test`: build, typecheck, then every test runner (vitest, then Playwright Test even if vitest
// failed, so one run shows everything), and one closing line summing them: "N passed, N failed".
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

// Not under test-results/: Playwright empties that folder when it starts.
const reports = { vitest: '.test-reports/vitest.json', playwright: '.test-reports/playwright.json' };
for (const file of Object.values(reports)) rmSync(file, { force: true });

function step(command, args, env = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  return result.status === 0;
}

let passed = 0;
let failed = 0;
const built = step('node', ['scripts/build.mjs']) && step('npx', ['tsc', '--noEmit', '-p', '.']);
if (!built) failed += 1;
if (built) {
  step('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${reports.vitest}`]);
  step('npx', ['playwright', 'test', '--reporter=list,json'], { PLAYWRIGHT_JSON_OUTPUT_NAME: reports.playwright });
  if (existsSync(reports.vitest)) {
    const v = JSON.parse(readFileSync(reports.vitest, 'utf8'));
    passed += v.numPassedTests;
    failed += v.numFailedTests + (v.numRuntimeErrors ?? 0) + (v.success || v.numFailedTests ? 0 : 1);
  } else failed += 1;
  if (existsSync(reports.playwright)) {
    const p = JSON.parse(readFileSync(reports.playwright, 'utf8')).stats;
    passed += p.expected + p.flaky;
    failed += p.unexpected + (p.expected + p.unexpected + p.flaky === 0 ? 1 : 0);
  } else failed += 1;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
