// A new user's first minutes (issue 14): `--help` shows what a first run needs before the rest and
// the mock's knobs last; a site that cannot be reached is named with Chromium's network error and
// what to try; a prompt too long for the site is refused by --dry-run, before anything is opened.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { browsersOn, runCli, workDir } from './cli.js';

/** A port on 127.0.0.1 that nothing listens on: taken from the OS, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('--help: the file, --resume, --out and --profile first, the mock last, with examples', async () => {
  const result = await runCli(['--help'], await workDir());
  expect(result.code).toBe(0);
  const [groups, examples] = result.stdout.split('\nExamples:\n');
  const options = groups.split('\n').filter((line) => /^ {2}--[a-z]/.test(line)).map((line) => line.trim().split(/\s/)[0]);
  expect(options.slice(0, 3)).toEqual(['--resume', '--out', '--profile']);
  const firstMock = options.findIndex((o) => o.startsWith('--mock'));
  expect(options.slice(firstMock).every((o) => o.startsWith('--mock'))).toBe(true);
  expect(options.slice(firstMock)).toContain('--mock-faults');
  for (const pacing of ['--concurrency', '--min-gap', '--cooldown']) expect(options.indexOf(pacing)).toBeLessThan(options.indexOf('--retries'));
  expect(options).toContain('--trace');
  expect(result.stdout).toContain('Built-in mock site (demos and tests):');
  // yargs wraps an example's command at 80 columns: its last option moves to the next line.
  expect(examples).toMatch(/semantest-run prompts\/demo\.yaml --mock +the demo: the built-in mock site, no\n +--headless /);
  expect(examples).toMatch(/semantest-run prompts\/chapter1\.yaml +a real run in a window/);
  expect(examples).toMatch(/semantest-run prompts\/chapter1\.yaml +continue after a crash or Ctrl-C\n +--resume\n/);
});

test('a base URL nothing answers: the URL, the network error and what to try, exit 2, nothing left running', async () => {
  const cwd = await workDir();
  await writeFile(path.join(cwd, 'book.yaml'), 'book: first\nprompts:\n  - a lighthouse at dusk\n');
  const url = `http://127.0.0.1:${await closedPort()}/`;
  const result = await runCli(['book.yaml', '--headless', '--no-dashboard', '--base-url', url], cwd);
  // The navigation's own error, not the extension's "did not load within 20 s" after the wait.
  expect(result.stderr).toBe(
    `semantest-run: cannot reach ${url} (net::ERR_CONNECTION_REFUSED): check the network or --base-url; try "semantest-run doctor" or the built-in mock with --mock\n`,
  );
  expect(result.code).toBe(2);
  expect(browsersOn(path.join(cwd, 'profiles', 'default'))).toEqual([]);
  expect(existsSync(path.join(cwd, 'profiles', 'default', '.semantest.lock'))).toBe(false);
  expect(existsSync(path.join(cwd, 'output', 'first', 'ch1', 's1', 'p1.png'))).toBe(false);
});

test('--dry-run refuses a prompt longer than the site takes, naming the panel, its line and the length', async () => {
  const cwd = await workDir();
  await writeFile(path.join(cwd, 'book.yaml'), `book: long\ncharacters:\n  mara: "${'m'.repeat(20_000)}"\nprompts:\n  - short\n  - "{mara} and {mara}"\n`);
  const result = await runCli(['book.yaml', '--dry-run'], cwd);
  expect(result.stderr).toBe(
    'semantest-run: book.yaml:6:5: prompts[1]: the final prompt would be about 40,005 characters, and the site takes at most 32000: shorten the prompt, its modifiers, its {name} characters or the style\n',
  );
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
});

test('an option given twice is a usage error naming it, before anything runs; the options that are lists take each', async () => {
  const cwd = await workDir();
  await writeFile(path.join(cwd, 'book.yaml'), 'book: twice\ncharacters:\n  mara: "a keeper"\nprompts:\n  - "{mara} at the lamp"\n');
  const twice = await runCli(['book.yaml', '--headless', '--out', 'a', '--out', 'b'], cwd);
  expect(twice.stderr).toBe('semantest-run: --out was given 2 times ("a", "b"): give it once\nRun semantest-run --help for the options.\n');
  expect(twice.code).toBe(2);
  expect(existsSync(path.join(cwd, 'a'))).toBe(false);
  expect(existsSync(path.join(cwd, 'profiles'))).toBe(false);
  const profiles = await runCli(['book.yaml', '--dry-run', '--profile', 'anna', '--profile', 'ben'], cwd);
  expect(profiles.code, profiles.stderr).toBe(0);
  const sheets = await runCli(['characters', 'book.yaml', '--dry-run', '--only', 'mara', '--only', 'mara'], cwd);
  expect(sheets.code, sheets.stderr).toBe(0);
  expect(sheets.stdout).toContain('characters/mara');
});

test('a bad run option is said before the character sheets are made, naming the option; nothing is opened', async () => {
  const cwd = await workDir();
  await writeFile(path.join(cwd, 'book.yaml'), 'book: bad\ncharacters:\n  mara: { description: "a keeper", refs: sheet }\nprompts:\n  - "{mara} at the lamp"\n');
  const help = 'Run semantest-run --help for the options.\n';
  const cases: Array<[string[], string]> = [
    [['--out', ''], `--out expects a path, got ""\n${help}`],
    [['--dashboard-port', '99999'], `--dashboard-port expects a port from 0 to 65535 (0: any free one), got 99999\n${help}`],
    // Past Node's longest timer a wait would end at once: a day is the most any wait may ask.
    [['--generation-timeout', '1e12'], '--generation-timeout expects at most 86400 seconds (a day), got 1000000000000\n'],
    [['--retries', '2.5'], '--retries expects a whole number ≥ 0, got 2.5\n'],
  ];
  for (const [option, sentence] of cases) {
    const result = await runCli(['book.yaml', '--mock', '--headless', ...option], cwd);
    expect(result.stderr).toBe(`semantest-run: ${sentence}`);
    expect(result.stdout).toBe('');
    expect(result.code).toBe(2);
  }
  expect(existsSync(path.join(cwd, 'profiles'))).toBe(false);
  expect(existsSync(path.join(cwd, 'checkpoints'))).toBe(false);
  // doctor and login take a profile name too: never a folder beside profiles/.
  for (const command of ['doctor', 'login']) {
    const result = await runCli([command, '--profile', '../elsewhere'], cwd);
    expect(result.stderr).toBe('semantest-run: --profile: "../elsewhere" is not a profile name (letters, digits, ".", "_" and "-", at most 64; it names a folder under profiles/)\n');
    expect(result.code).toBe(2);
  }
  expect(existsSync(path.join(cwd, 'elsewhere'))).toBe(false);
});
