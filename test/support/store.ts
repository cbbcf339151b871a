// Shared by the store's tests: real folders under the OS temp dir, and their bytes for before/after checks.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import type { JournalEvent } from '../../src/store/types.js';

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const root = await mkdtemp(path.join(tmpdir(), 'semantest-store-'));
  try {
    return await fn(path.join(root, 'checkpoints', 'book'));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Every file in `dir` with its bytes, to show that a refusal changed nothing. */
export async function filesIn(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) out[name] = (await readFile(path.join(dir, name))).toString('base64');
  return out;
}

export async function journalLines(dir: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(path.join(dir, 'journal.jsonl'), 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A job's usual life: started, submitted, downloaded, verified. */
export function lifeOf(id: string, attempt = 1): JournalEvent[] {
  return [
    { t: 'job', id, state: 'started', attempt, promptHash: `hash-${id}` },
    { t: 'job', id, state: 'submitted', conversationUrl: `https://chat.example/c/${id.replaceAll('/', '-')}` },
    { t: 'job', id, state: 'downloaded', path: `/out/${id}.png.part`, sha256: 'ab'.repeat(32), fileId: `file_${attempt}` },
    { t: 'job', id, state: 'verified', path: `/out/${id}.png`, sha256: 'ab'.repeat(32) },
  ];
}
