// What a user shares (the output folder, the checkpoints) holds no secret: a run with faults that
// leave evidence, then every file under <out> and checkpoints/ (inside zips too) is searched for the
// site's session cookie, the hub token and the dashboard token, learnt from the run itself. With
// --trace the trace does hold the cookie, as the README warns: that test also shows the search finds
// it when it is there.
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { expect, test } from '@playwright/test';
import { chromium } from 'playwright';
import { findChromium } from '../src/browser/discover.js';
import { runCli, workDir } from './cli.js';

const FAST = ['--mock', '--headless', '--mock-latency-ms', '300', '--backoff', '0.2', '--min-gap', '0', '--jitter', '0', '--concurrency', '1'];
// `error` fails an attempt (transient), `blank` fails verification: each leaves a screenshot and the HTML.
const FAULTS = ['--mock-faults', 'error@1,blank@3'];

async function runWithEvidence(extra: string[] = []): Promise<{ cwd: string; secrets: Record<string, string> }> {
  const cwd = await workDir();
  const file = path.join(cwd, 'secrets.yaml');
  await writeFile(file, 'book: secrets\nstyle: "ink wash"\nprompts:\n  - "a lighthouse, scene 1"\n  - "a lighthouse, scene 2"\n  - "a lighthouse, scene 3"\n');
  const run = await runCli([file, ...FAST, ...FAULTS, ...extra, '--out', 'out'], cwd);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('3 verified, 0 failed');
  // The dashboard's token is in the address the run prints, and nowhere else.
  const dashboard = /dashboard: http:\/\/127\.0\.0\.1:\d+\/([A-Za-z0-9_-]{16,})\//.exec(run.stdout)?.[1];
  expect(dashboard).toBeDefined();
  return { cwd, secrets: { ...(await secretsOf(path.join(cwd, 'profiles', 'default'))), 'dashboard token': dashboard! } };
}

/** The session cookie the site gave the profile (HttpOnly, read from the profile) and this run's hub token. */
async function secretsOf(profileDir: string): Promise<Record<string, string>> {
  const context = await chromium.launchPersistentContext(profileDir, { executablePath: findChromium(), headless: true });
  const cookies = await context.cookies().finally(() => context.close());
  const session = cookies.find((c) => c.name === 'mock_session');
  expect(session?.httpOnly).toBe(true);
  const extension = (await readdir(profileDir)).find((name) => name.startsWith('.extension-'))!;
  const { token } = JSON.parse(await readFile(path.join(profileDir, extension, 'config.json'), 'utf8')) as { token: string };
  expect(session!.value.length).toBeGreaterThanOrEqual(16);
  expect(token.length).toBeGreaterThanOrEqual(16);
  return { 'session cookie': session!.value, 'hub token': token };
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** The entries of a zip file (stored or deflated), enough for Playwright's trace files. */
function unzip(zip: Buffer): Array<{ name: string; data: Buffer }> {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error('not a zip file');
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const out: Array<{ name: string; data: Buffer }> = [];
  for (let i = 0; i < count; i++) {
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const skip = nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    const local = zip.readUInt32LE(at + 42);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(start, start + size);
    out.push({ name, data: method === 0 ? raw : inflateRawSync(raw) });
    at += 46 + skip;
  }
  return out;
}

/** Every place (file, or file!entry for a zip) whose bytes contain one of the secrets. */
async function whereSecretsAre(roots: string[], secrets: Record<string, string>): Promise<string[]> {
  const found: string[] = [];
  let searched = 0;
  for (const root of roots) {
    for (const file of await filesUnder(root)) {
      const bytes = await readFile(file);
      const parts = [{ where: file, data: bytes }, ...(file.endsWith('.zip') ? unzip(bytes).map((e) => ({ where: `${file}!${e.name}`, data: e.data })) : [])];
      for (const { where, data } of parts) {
        searched += 1;
        for (const [what, value] of Object.entries(secrets)) if (data.includes(value)) found.push(`${what} in ${where}`);
      }
    }
  }
  expect(searched).toBeGreaterThan(10);
  return found;
}

test('the output folder and the checkpoints hold no session cookie, hub token or dashboard token; evidence is 0600', async () => {
  const { cwd, secrets } = await runWithEvidence();
  const evidence = path.join(cwd, 'out', 'secrets', '.evidence');
  const files = await filesUnder(evidence);
  // The failures left their page evidence, and no trace without --trace.
  const html = files.filter((f) => f.endsWith('.html'));
  expect(html.map((f) => path.basename(f)).sort()).toEqual(['transient.html', 'verify.html']);
  expect(files.filter((f) => f.endsWith('.zip'))).toEqual([]);
  for (const file of html) {
    const text = await readFile(file, 'utf8');
    expect(text).toContain('a lighthouse, scene'); // still the page a person can read: the prompt shown
    expect(text).not.toMatch(/<script|sig=|\bon[a-z]+="/i);
  }
  for (const file of files) expect(((await stat(file)).mode & 0o777).toString(8), file).toBe('600');
  for (const dir of new Set(files.map((f) => path.dirname(f)))) expect(((await stat(dir)).mode & 0o777).toString(8), dir).toBe('700');
  expect(await whereSecretsAre([path.join(cwd, 'out'), path.join(cwd, 'checkpoints')], secrets)).toEqual([]);
});

test('with --trace each failed attempt keeps a trace, and the trace holds the session cookie (the README says so)', async () => {
  const { cwd, secrets } = await runWithEvidence(['--trace']);
  const found = await whereSecretsAre([path.join(cwd, 'out'), path.join(cwd, 'checkpoints')], secrets);
  expect(found.length).toBeGreaterThan(0);
  // Only the traces: the screenshots and the HTML stay clean with --trace too.
  for (const where of found) expect(where).toMatch(/^session cookie in .*\/attempt-\d+\.trace\.zip!/);
  // Playwright's scratch copy of the trace lives in the profile, closed to other users like its cookie store.
  expect(((await stat(path.join(cwd, 'profiles', 'default', '.traces'))).mode & 0o777).toString(8)).toBe('700');
});
