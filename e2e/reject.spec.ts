// Review and regenerate (issue 11): `reject` moves a verified image aside (never overwritten or
// deleted) and journals it; --resume generates just that panel again, and the new sidecar names the
// image it replaces. Globs, panels that are not verified, a pattern that matches nothing, and a
// book held by a running run.
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { journalEvents, listFiles, runCli, sha256Of, workDir } from './cli.js';

const MOCK = ['--mock', '--headless', '--min-gap', '0', '--jitter', '0', '--out', 'out'];
const FAST = [...MOCK, '--mock-latency-ms', '200'];

async function book(cwd: string, n: number): Promise<string> {
  const file = path.join(cwd, 'harbour.yaml');
  const prompts = Array.from({ length: n }, (_, i) => `  - "the harbour at dusk, view ${i + 1}"`);
  await writeFile(file, `book: harbour\nprompts:\n${prompts.join('\n')}\n`);
  return file;
}

/** Every file under the book folder (images, sidecars, evidence) with its sha256. */
async function hashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const ext of ['.png', '.json']) for (const file of await listFiles(dir, ext)) out[path.relative(dir, file)] = await sha256Of(file);
  return out;
}

test('a rejected panel is moved aside byte for byte, and --resume generates only it again, naming the old one', async () => {
  const cwd = await workDir();
  const file = await book(cwd, 3);
  const first = await runCli([file, ...FAST], cwd);
  expect(first.code).toBe(0);
  const bookDir = path.join(cwd, 'out', 'harbour');
  const p2 = path.join(bookDir, 'ch1', 's1', 'p2.png');
  const before = await hashes(bookDir);
  const p2Bytes = await readFile(p2);
  const p2Sidecar = await readFile(p2.replace(/\.png$/, '.json'));

  const rejected = await runCli(['reject', file, 'ch1/s1/p2', '--reason', 'the boat is missing', '--out', 'out'], cwd);
  expect(rejected.stderr).toBe('');
  expect(rejected.code).toBe(0);
  const keptAs = path.join(bookDir, '.rejected', 'ch1', 's1', 'p2.1.png');
  expect(rejected.stdout).toContain('ch1/s1/p2 rejected (the boat is missing): out/harbour/ch1/s1/p2.png kept as out/harbour/.rejected/ch1/s1/p2.1.png');
  expect(existsSync(p2)).toBe(false);
  expect(existsSync(p2.replace(/\.png$/, '.json'))).toBe(false);
  expect(await readFile(keptAs)).toEqual(p2Bytes);
  expect(await readFile(keptAs.replace(/\.png$/, '.json'))).toEqual(p2Sidecar);
  expect(existsSync(path.join(bookDir, '.rejected', '.evidence', 'ch1', 's1', 'p2.1.png'))).toBe(true);
  const line = (await journalEvents(path.join(cwd, 'checkpoints', 'harbour', 'journal.jsonl'))).at(-1);
  expect(line).toMatchObject({ t: 'job', id: 'ch1/s1/p2', state: 'rejected', rejection: { reason: 'the boat is missing', keptAs, sha256: before['ch1/s1/p2.png'] } });

  const status = await runCli(['status', file], cwd);
  expect(status.stdout).toContain('2 verified, 1 rejected');
  expect(status.stdout).toContain('ch1/s1/p2 rejected: the boat is missing');

  const resumed = await runCli([file, ...FAST, '--resume'], cwd);
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toContain('ch1/s1/p2: rejected (the boat is missing), generating it again');
  expect(resumed.stdout).toContain('1 verified, 0 failed, 2 already done');
  expect(resumed.stdout).toContain('(1 prompts sent)');
  const after = await hashes(bookDir);
  expect(after['ch1/s1/p2.png']).toBeDefined();
  expect(after['ch1/s1/p2.png']).not.toBe(before['ch1/s1/p2.png']);
  for (const name of ['ch1/s1/p1.png', 'ch1/s1/p1.json', 'ch1/s1/p3.png', 'ch1/s1/p3.json']) expect(after[name], name).toBe(before[name]);
  expect(await readFile(keptAs)).toEqual(p2Bytes);
  const sidecar = JSON.parse(await readFile(p2.replace(/\.png$/, '.json'), 'utf8'));
  expect(sidecar.replaces).toEqual({ file: '.rejected/ch1/s1/p2.1.png', sha256: before['ch1/s1/p2.png'], reason: 'the boat is missing' });
  expect(sidecar.sha256).toBe(after['ch1/s1/p2.png']);
  expect(sidecar.attempts).toBe(2);
  // The untouched panels' sidecars name nothing they replace.
  expect(JSON.parse(await readFile(path.join(bookDir, 'ch1', 's1', 'p1.json'), 'utf8'))).not.toHaveProperty('replaces');

  const again = await runCli(['status', file], cwd);
  expect(again.stdout).toContain('harbour: 3 jobs — 3 verified');
  expect(again.stdout).not.toContain('rejected');
});

test('reject takes globs, reports the panels it cannot reject, and refuses a pattern that matches nothing', async () => {
  const cwd = await workDir();
  const file = await book(cwd, 4);
  const first = await runCli([file, ...FAST, '--limit', '3'], cwd);
  expect(first.code).toBe(0);

  const none = await runCli(['reject', file, 'ch1/s1/p1', 'ch9/*'], cwd);
  expect(none.code).toBe(2);
  expect(none.stderr).toContain('ch9/*: no job id of "harbour" matches');
  // A typo among the patterns rejects nothing at all.
  expect(existsSync(path.join(cwd, 'out', 'harbour', 'ch1', 's1', 'p1.png'))).toBe(true);

  const globbed = await runCli(['reject', file, 'ch1/s1/p[2-4]', '--reason', 'too dark'], cwd);
  expect(globbed.stderr).toBe('');
  expect(globbed.code).toBe(0);
  expect(globbed.stdout).toContain('ch1/s1/p2 rejected (too dark): out/harbour/ch1/s1/p2.png kept as out/harbour/.rejected/ch1/s1/p2.1.png');
  expect(globbed.stdout).toContain('ch1/s1/p3 rejected (too dark): out/harbour/ch1/s1/p3.png kept as out/harbour/.rejected/ch1/s1/p3.1.png');
  expect(globbed.stdout).toContain('ch1/s1/p4 is not verified (pending), nothing to reject');
  expect(globbed.stdout).toContain('harbour: 2 panels rejected');

  const twice = await runCli(['reject', file, 'ch1/s1/p2'], cwd);
  expect(twice.code).toBe(0);
  expect(twice.stdout).toContain('ch1/s1/p2 is not verified (rejected), nothing to reject');

  const plain = await runCli([file, ...FAST], cwd);
  expect(plain.code).toBe(2);
  expect(plain.stderr).toContain('(1 verified, 2 rejected, 0 unfinished): add --resume');

  const resumed = await runCli([file, ...FAST, '--resume'], cwd);
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toContain('3 verified, 0 failed, 1 already done');
  expect(resumed.stdout).toContain('(3 prompts sent)');
  expect(await listFiles(path.join(cwd, 'out', 'harbour', '.rejected'), '.png')).toEqual([
    path.join(cwd, 'out', 'harbour', '.rejected', 'ch1', 's1', 'p2.1.png'),
    path.join(cwd, 'out', 'harbour', '.rejected', 'ch1', 's1', 'p3.1.png'),
  ]);
});

test('reject refuses a book a run is holding, naming its pid, and changes nothing', async () => {
  const cwd = await workDir();
  const file = await book(cwd, 2);
  const first = await runCli([file, ...FAST, '--limit', '1'], cwd);
  expect(first.code).toBe(0);
  const bookDir = path.join(cwd, 'out', 'harbour');
  const before = await hashes(bookDir);

  // The run's one image takes far longer than the test: it holds the book until it is stopped.
  let refused: ReturnType<typeof runCli> | undefined;
  let stopping = false;
  const run = runCli([file, ...MOCK, '--resume', '--mock-latency-ms', '120000'], cwd, {
    onStdout: (chunk) => {
      // Once the run holds the book (it has planned and started), try to reject beside it.
      if (!refused && chunk.includes('semantest: harbour')) {
        refused = runCli(['reject', file, 'ch1/s1/p1', '--reason', 'x'], cwd);
        // Then Ctrl-C twice: the second once the first is acknowledged.
        void refused.then(() => run.child.kill('SIGINT'));
      }
      if (!stopping && chunk.includes('Ctrl-C: finishing')) {
        stopping = true;
        run.child.kill('SIGINT');
      }
    },
  });
  const runResult = await run;
  expect(runResult.code).toBe(130);
  const result = await refused!;
  expect(result.code).toBe(2);
  expect(result.stderr).toContain(`book "harbour" is in use by another run (pid ${run.child.pid}`);
  expect(result.stderr).toContain("reject the panel live from that run's dashboard");
  expect(result.stdout).toBe('');
  expect((await hashes(bookDir))['ch1/s1/p1.png']).toBe(before['ch1/s1/p1.png']);
  expect(existsSync(path.join(bookDir, '.rejected'))).toBe(false);
  const events = await journalEvents(path.join(cwd, 'checkpoints', 'harbour', 'journal.jsonl'));
  expect(events.some((e) => e.state === 'rejected')).toBe(false);
});
