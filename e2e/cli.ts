// Runs semantest-run exactly as a user would: a child process from the built bin, in its own folder.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const bin = path.join(root, 'bin', 'semantest-run.cjs');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  cwd: string,
  opts: { onStdout?: (chunk: string) => void; env?: NodeJS.ProcessEnv; wrapper?: string[] } = {},
): Promise<CliResult> & { child: ReturnType<typeof spawn> } {
  // `wrapper` runs the CLI under another program, e.g. xvfb-run for a headful browser.
  const [command, ...prefix] = [...(opts.wrapper ?? []), process.execPath];
  const child = spawn(command, [...prefix, bin, ...args], { cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    opts.onStdout?.(chunk.toString());
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return Object.assign(done, { child });
}

/**
 * `xvfb-run` for a headful CLI in `cwd`. Its X auth file lives in `cwd` (`-f`): without it xvfb-run
 * makes its own temp folder and, when removing that fails on exit, exits 5 in place of the CLI's code
 * (seen once in CI on the login-timeout spec).
 */
export function xvfbRun(cwd: string): string[] {
  return ['xvfb-run', '-a', '-f', path.join(cwd, '.Xauthority'), '-s', '-screen 0 1280x900x24'];
}

export function workDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'semantest-e2e-'));
}

export async function listFiles(dir: string, ext: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(ext) && !path.join(e.parentPath, e.name).includes(`${path.sep}.evidence${path.sep}`))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

export async function sha256Of(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

export async function journalEvents(file: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(file, 'utf8');
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

/** Pids of the Chromium browser processes (not their renderers) running on `profileDir`. */
export function browsersOn(profileDir: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes(`--user-data-dir=${profileDir}`) && !line.includes('--type='))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

/** The mock site in its own process (`semantest-run mock`), so a spec can kill runners and read its stats. */
export async function startMockProcess(args: string[]): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [bin, 'mock', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const match = /mock site at (\S+)/.exec(chunk.toString());
      if (match) resolve(match[1]);
    });
    child.once('exit', () => reject(new Error('the mock site exited before it was ready')));
  });
  return { url, stop: () => child.kill('SIGINT') };
}

/** The JSON-lines events of a `--json` run. */
export function eventsOf(stdout: string): Array<Record<string, unknown> & { type: string }> {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
}

/** The mock site's own counts (`GET /__mock/stats`): prompts it received, faults it played, per account. */
export async function mockStats(site: string): Promise<{ prompts: number; faults: Record<string, number>; accounts?: Array<{ prompts: number; images: number }> }> {
  return (await (await fetch(new URL('/__mock/stats', site))).json()) as never;
}

/** A prompt file `<name>.yaml` in `cwd` with `panels` lighthouse panels; its path. */
export async function lighthouseBook(cwd: string, name: string, panels: number): Promise<string> {
  const file = path.join(cwd, `${name}.yaml`);
  await writeFile(file, `book: ${name}\nstyle: "flat colours"\nprompts:\n${Array.from({ length: panels }, (_, i) => `  - "${name} panel ${i + 1}: a lighthouse on a cliff"`).join('\n')}\n`);
  return file;
}
