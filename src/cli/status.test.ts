// `status` and `reject` print stored messages and reasons: the page's and a user's words, maybe
// written by a run before they were cleaned. None of their control bytes may reach the terminal.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPromptFile } from '../prompts/index.js';
import { openJobStore } from '../store/index.js';
import { runReject } from './reject.js';
import { printStatus } from './status.js';

const HOSTILE = '\u001b[2K\r  ✓ [12/12] ch1/s1/p12 verified\u001b]0;pwned\u0007\n  ✓ fake line\u009b2J';
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'semantest-status-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('status and reject with escape sequences in stored text', () => {
  it('print each stored message and reason on one line without a control character', async () => {
    const file = path.join(root, 'book.yaml');
    await writeFile(file, 'book: hostile\nprompts:\n  - "a lighthouse"\n  - "a storm"\n');
    const book = await loadPromptFile(file);
    const [first, second] = book.jobs;
    const checkpoints = path.join(root, 'checkpoints');
    const out = path.join(root, 'out');
    const image = path.join(out, 'hostile', first.outputPath);
    await mkdir(path.dirname(image), { recursive: true });
    await writeFile(image, 'png bytes');
    const store = await openJobStore(path.join(checkpoints, 'hostile'));
    await store.record({ t: 'job', id: first.id, state: 'started', attempt: 1, promptHash: first.promptHash });
    await store.record({ t: 'job', id: first.id, state: 'verified', path: image, sha256: 'ab'.repeat(32) });
    await store.record({ t: 'job', id: second.id, state: 'started', attempt: 1, promptHash: second.promptHash });
    await store.record({ t: 'job', id: second.id, state: 'failed', failure: { kind: 'policy', message: HOSTILE, final: true } });
    await store.close();

    const rejected: string[] = [];
    expect(await runReject({ file, patterns: [first.id, second.id], reason: HOSTILE, out, checkpointsDir: checkpoints, write: (l) => rejected.push(l) })).toBe(0);
    const status: string[] = [];
    expect(await printStatus(file, checkpoints, (l) => status.push(l))).toBe(0);

    for (const line of [...rejected, ...status]) {
      expect(line).not.toMatch(CONTROL);
      expect(line).not.toContain('\n');
    }
    // The words are still there for the user to read.
    expect(rejected.find((l) => l.startsWith(`${first.id} rejected (`))).toContain('✓ fake line');
    expect(status.find((l) => l.includes(`${second.id} failed (policy)`))).toContain('✓ fake line');
    expect(status.find((l) => l.includes(`${first.id} rejected:`))).toContain('✓ fake line');
  });
});
