// One real attempt (run/attempt.ts) of a job that carries references, with a real hub, extension and
// Chromium: for tests that need the runner's side of attachments before the prompt loader fills
// `refs` (the jobs here carry them the way the loader does: absolute file, basename, sha256, bytes).
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright';
import type { Hub } from '../../src/hub/hub.js';
import type { ProviderDescriptor } from '../../src/protocol/provider.js';
import type { Job, Reference } from '../../src/prompts/types.js';
import { RunEvents } from '../../src/events.js';
import { openJobStore } from '../../src/store/index.js';
import { ImageClaims } from '../../src/run/image-claims.js';
import { JobLifecycle } from '../../src/run/job-lifecycle.js';
import { runAttempt, type AttemptResult } from '../../src/run/attempt.js';

export async function writeReference(root: string, character: string, name: string, bytes: Buffer): Promise<Reference> {
  await mkdir(path.join(root, 'refs'), { recursive: true });
  const file = path.join(root, 'refs', name);
  await writeFile(file, bytes);
  return { character, file, name, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length, type: 'image/png' };
}

export function jobWith(root: string, n: number, finalPrompt: string, refs: Reference[]): Job {
  const id = `ch1/s1/p${n}`;
  return { id, order: n - 1, chapter: 'ch1', strip: 's1', panel: `p${n}`, prompt: finalPrompt, finalPrompt, promptHash: `h${n}`, outputPath: `${id}.png`, refs, source: { file: path.join(root, 'book.yaml'), line: n + 2 } };
}

export interface Harness {
  context: BrowserContext;
  hub: Hub;
  provider: ProviderDescriptor;
  /** Opens a tab the extension knows (the attempt navigates it to the provider's base URL). */
  open(): Promise<{ tabId: number; page: Page }>;
}

/** Runs one attempt of `job` in a new tab; its result or its error, and the tab. */
export async function attemptOnce(h: Harness, root: string, job: Job, claims = new ImageClaims()): Promise<{ result?: AttemptResult; error?: unknown; page: Page }> {
  const store = await openJobStore(path.join(root, 'checkpoints', job.panel));
  const lifecycle = new JobLifecycle(job, store, new RunEvents());
  await lifecycle.start({ profile: 'default' });
  const { tabId, page } = await h.open();
  const deps = { context: h.context, hub: h.hub, provider: h.provider, bookDir: path.join(root, 'out', 'refs'), book: { book: 'refs', style: '', provider: 'chatgpt' }, profile: 'default', generationTimeoutMs: 20_000, sendGapMs: 0, claims, hooks: {} };
  const memory = { verifyFailures: new Map<string, number>(), rejectedFileIds: new Set<string>(), imageIntent: 'tool-or-prefix' as const };
  try {
    return { result: await runAttempt(deps, { page, tabId }, lifecycle, memory, Date.now()), page };
  } catch (error) {
    return { error, page };
  } finally {
    await store.close();
  }
}
