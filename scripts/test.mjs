// `npm test`: build, typecheck, then every test runner (vitest, then Playwright Test even if vitest
// failed, so one run shows everything), and one closing line summing them: "N passed, N failed".
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

// Not under test-results/: Playwright empties that folder when it starts.
const reports = { vitest: '.test-reports/vitest.json', playwright: '.test-reports/playwright.json' };
for (const file of Object.values(reports)) rmSync(file, { force: true });

function step(command, args, env = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  return result.status === 0;
}

let passed = 0;
let failed = 0;
// The names of what failed, printed again just above the summary: a CI log is often read from its
// tail, and the runners' own reports of a failure scroll far above it.
const failures = [];
const firstLine = (text) => String(text ?? '').replace(/\x1b\[[0-9;]*m/g, '').split('\n').find((line) => line.trim()) ?? '';

function vitestFailures(report) {
  for (const file of report.testResults ?? []) {
    const where = path.relative(process.cwd(), file.name);
    for (const test of file.assertionResults ?? []) {
      if (test.status === 'failed') failures.push(`vitest ${where} › ${test.fullName}: ${firstLine(test.failureMessages?.[0])}`);
    }
    if (file.status === 'failed' && !(file.assertionResults ?? []).some((t) => t.status === 'failed')) failures.push(`vitest ${where}: ${firstLine(file.message)}`);
  }
}

function playwrightFailures(suite, titles = []) {
  for (const child of suite.suites ?? []) playwrightFailures(child, [...titles, child.title]);
  for (const spec of suite.specs ?? []) {
    for (const test of spec.tests ?? []) {
      if (test.status !== 'unexpected') continue;
      const error = test.results?.at(-1)?.error?.message;
      failures.push(`playwright e2e/${spec.file}:${spec.line} › ${[...titles.slice(1), spec.title].join(' › ')}: ${firstLine(error)}`);
    }
  }
}
const built = step('node', ['scripts/build.mjs']) && step('npx', ['tsc', '--noEmit', '-p', '.']);
if (!built) failed += 1;
if (built) {
  step('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${reports.vitest}`]);
  step('npx', ['playwright', 'test', '--reporter=list,json'], { PLAYWRIGHT_JSON_OUTPUT_NAME: reports.playwright });
  if (existsSync(reports.vitest)) {
    const v = JSON.parse(readFileSync(reports.vitest, 'utf8'));
    vitestFailures(v);
    passed += v.numPassedTests;
    failed += v.numFailedTests + (v.numRuntimeErrors ?? 0) + (v.success || v.numFailedTests ? 0 : 1);
  } else failed += 1;
  if (existsSync(reports.playwright)) {
    const report = JSON.parse(readFileSync(reports.playwright, 'utf8'));
    for (const suite of report.suites ?? []) playwrightFailures(suite, [suite.title]);
    const p = report.stats;
    passed += p.expected + p.flaky;
    failed += p.unexpected + (p.expected + p.unexpected + p.flaky === 0 ? 1 : 0);
  } else failed += 1;
}
if (failures.length) {
  console.log(`\nfailed (${failures.length}):`);
  for (const line of failures.slice(0, 30)) console.log(`  ${line.slice(0, 300)}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
