// The real thing: a child process appends as fast as it can, compacting every few events, and is
// killed with SIGKILL at random moments. Every acknowledged event must survive, nothing else may appear.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { openJobStore } from './job-store.js';
import { withTempDir } from '../../test/support/store.js';

const JOBS = 7;

/** Appends job events whose attempt equals their seq, printing each seq once it is acknowledged. */
const WRITER = `
import { openJobStore } from ${JSON.stringify(path.join(path.dirname(fileURLToPath(import.meta.url)), 'index.ts'))};
const store = await openJobStore(process.argv[2], { compactEvery: 5 });
for (let seq = store.state().seq + 1; ; seq++) {
  await store.record({ t: 'job', id: 'p' + (seq % ${JOBS}), state: seq % 3 ? 'started' : 'failed', attempt: seq, failure: seq % 3 ? undefined : { kind: 'transient', message: 'm' + seq } });
  process.stdout.write(seq + '\\n');
}
`;

async function runAndKill(script: string, dir: string, afterMs: number): Promise<number> {
  const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await new Promise((resolve) => setTimeout(resolve, afterMs));
  child.kill('SIGKILL');
  await exited;
  const acknowledged = out.split('\n').filter((line) => /^\d+$/.test(line));
  return Number(acknowledged.at(-1) ?? 0);
}

describe('killed while writing', () => {
  it('keeps every acknowledged event and replays to one state, kill after kill', async () => {
    await withTempDir(async (dir) => {
      const script = path.join(dir, '..', '..', 'writer.mjs');
      await writeFile(path.join(dir, '..', '..', 'writer.ts'), WRITER);
      // Bundled whole: from the temp dir, bare imports (lowdb, zod) would not resolve.
      await build({ entryPoints: [path.join(dir, '..', '..', 'writer.ts')], outfile: script, bundle: true, platform: 'node', format: 'esm', logLevel: 'error' });
      let acknowledged = 0;
      for (let round = 0; round < 8; round++) {
        acknowledged = Math.max(acknowledged, await runAndKill(script, dir, 150 + Math.random() * 350));
        const store = await openJobStore(dir);
        const state = structuredClone(store.state());
        await store.close();
        expect(state.seq).toBeGreaterThanOrEqual(acknowledged);
        // What the writer's rule says the state must be after exactly `state.seq` events.
        for (let job = 0; job < JOBS; job++) {
          let last = state.seq - ((((state.seq - job) % JOBS) + JOBS) % JOBS);
          if (last <= 0) last = NaN;
          const record = state.jobs[`p${job}`];
          if (Number.isNaN(last)) expect(record).toBeUndefined();
          else expect(record).toMatchObject({ attempts: last, state: last % 3 ? 'started' : 'failed' });
        }
        const again = await openJobStore(dir);
        expect(again.state()).toStrictEqual(state);
        await again.close();
      }
      expect(acknowledged).toBeGreaterThan(20);
    });
  });
});
