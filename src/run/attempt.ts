// One attempt at one job in one tab: open a fresh chat (or revisit the job's conversation), let the
// extension run the page, then fetch, check, prove and save the image. Throws typed failures only.
import path from 'node:path';
import pRetry, { AbortError } from 'p-retry';
import type { BrowserContext, Page } from 'playwright';
import type { Hub } from '../hub/hub.js';
import { DisconnectError, TransientError, VerificationError } from '../protocol/errors.js';
import type { ImageFound } from '../protocol/messages.js';
import { isConversationUrl, type ProviderDescriptor } from '../protocol/provider.js';
import type { Job } from '../prompts/types.js';
import type { JobStore } from '../store/index.js';
import { compareWithScreenshot, inspectImage, type CompareResult, type ImageFacts } from '../verify/index.js';
import { crashPoint } from './crash.js';
import { commitFile, removeQuietly, safeJoin, sha256, writeDurably, writeJsonAtomically } from './save-image.js';

export interface Tab {
  readonly page: Page;
  readonly tabId: number;
}

export interface AttemptContext {
  readonly context: BrowserContext;
  readonly hub: Hub;
  readonly store: JobStore;
  readonly provider: ProviderDescriptor;
  /** `<out>/<book>` */
  readonly bookDir: string;
  readonly book: { book: string; style: string; provider: string };
  readonly profile: string;
  readonly generationTimeoutMs: number;
  readonly sendGapMs: number;
  /** Other jobs' verified file hashes: the same bytes twice means the page showed an old image. */
  readonly verifiedHashes: Map<string, string>;
  /** File ids already saved for other jobs, never to be taken as this job's image. */
  readonly usedFileIds: Set<string>;
}

/** What one job remembers between its attempts in this run. */
export interface JobMemory {
  /** Verification failures per page file id: the first is refetched, after two the image is given up. */
  readonly verifyFailures: Map<string, number>;
  readonly rejectedFileIds: Set<string>;
}

export interface AttemptResult {
  file: string;
  bytes: number;
  sha256: string;
  conversationUrl: string;
}

const NAVIGATION_TIMEOUT_MS = 30_000;
const FETCH_TIMEOUT_MS = 60_000;
/** How long a revisited conversation may still be generating before we give up on it. */
const LATE_IMAGE_WAIT_MS = 60_000;

/**
 * `pace` resolves when the profile's gate allows the next prompt. It is called on a fresh chat right
 * before the prompt goes out, so page loads of varying length cannot bunch prompts up at the site;
 * looking for a late image sends nothing and needs no turn.
 */
export async function runAttempt(
  ctx: AttemptContext,
  tab: Tab,
  job: Job,
  attempt: number,
  startedAt: number,
  memory: JobMemory,
  pace: () => Promise<void>,
): Promise<AttemptResult> {
  const previous = ctx.store.get(job.id);
  let found: ImageFound | null = null;
  // A prompt already sent (crash, reload, timeout) may have produced its image late: look first.
  // One on another origin (an earlier run's mock site, say) cannot be revisited.
  if (previous?.conversationUrl && isConversationUrl(previous.conversationUrl, ctx.provider)) {
    const waitMs = Math.min(LATE_IMAGE_WAIT_MS, ctx.generationTimeoutMs);
    try {
      await navigate(tab.page, previous.conversationUrl);
      found = await ctx.hub.request(
        { type: 'find-image', tabId: tab.tabId, jobId: job.id, excludeFileIds: [...ctx.usedFileIds, ...memory.rejectedFileIds], timeoutMs: waitMs },
        waitMs + ctx.provider.timings.readyTimeoutMs + 10_000,
      );
    } catch (error) {
      // A conversation that cannot be shown any more holds no image for us; anything that needs a
      // person or a reconnect still stops this attempt.
      if (!(error instanceof TransientError)) throw error;
    }
  }
  if (!found) {
    await navigate(tab.page, ctx.provider.baseUrl);
    await pace();
    found = await ctx.hub.request(
      { type: 'generate', tabId: tab.tabId, jobId: job.id, prompt: job.finalPrompt, timeoutMs: ctx.generationTimeoutMs, sendGapMs: ctx.sendGapMs },
      ctx.generationTimeoutMs + ctx.provider.timings.readyTimeoutMs + 30_000,
    );
  }
  if (ctx.store.get(job.id)?.conversationUrl !== found.conversationUrl) {
    await ctx.store.record({ t: 'job', id: job.id, state: 'submitted', conversationUrl: found.conversationUrl });
  }
  try {
    return await saveImage(ctx, tab, job, attempt, startedAt, found);
  } catch (error) {
    if (error instanceof VerificationError) {
      const failures = (memory.verifyFailures.get(found.fileId) ?? 0) + 1;
      memory.verifyFailures.set(found.fileId, failures);
      if (failures >= 2) memory.rejectedFileIds.add(found.fileId);
    }
    throw error;
  }
}

async function navigate(page: Page, url: string): Promise<void> {
  try {
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: NAVIGATION_TIMEOUT_MS });
  } catch (error) {
    if (page.isClosed()) throw new DisconnectError('the tab was closed');
    throw new TransientError(`could not open ${url}: ${(error as Error).message.split('\n')[0]}`);
  }
}

/** A fetch that failed at the HTTP level is worth repeating right away, a couple of times. */
async function fetchImage(context: BrowserContext, src: string): Promise<Buffer> {
  return pRetry(
    async () => {
      let response;
      try {
        // The context's request client carries the profile's cookies, as the page's own fetch would.
        response = await context.request.get(src, { timeout: FETCH_TIMEOUT_MS, failOnStatusCode: false });
      } catch (error) {
        throw new TransientError(`could not fetch the image: ${(error as Error).message.split('\n')[0]}`);
      }
      const status = response.status();
      if (status >= 400 && status < 500) throw new AbortError(new TransientError(`fetching the image answered HTTP ${status}`));
      if (!response.ok()) throw new TransientError(`fetching the image answered HTTP ${status}`);
      return response.body();
    },
    { retries: 2, minTimeout: 500, maxTimeout: 2000 },
  );
}

async function screenshotImage(ctx: AttemptContext, page: Page, src: string): Promise<Buffer> {
  const images = page.locator(ctx.provider.selectors.image.join(', '));
  const index = await images.evaluateAll((elements, wanted) => elements.findIndex((e) => (e as HTMLImageElement).src === wanted), src);
  if (index < 0) throw new VerificationError('the image is no longer on the page, so the file cannot be compared with it');
  const element = images.nth(index);
  // screenshot() scrolls the element into view itself.
  return element.screenshot({ timeout: 15_000 });
}

async function saveImage(ctx: AttemptContext, tab: Tab, job: Job, attempt: number, startedAt: number, found: ImageFound): Promise<AttemptResult> {
  const file = safeJoin(ctx.bookDir, job.outputPath);
  const part = `${file}.part`;
  const evidence = safeJoin(path.join(ctx.bookDir, '.evidence'), job.outputPath);
  // The element screenshot and the download run side by side: both need only the finished image.
  const shotTask = screenshotImage(ctx, tab.page, found.src);
  shotTask.catch(() => undefined); // awaited below; a failed fetch must not leave it unhandled
  const bytes = await fetchImage(ctx.context, found.src);
  const hash = sha256(bytes);
  await writeDurably(part, bytes);
  await ctx.store.record({ t: 'job', id: job.id, state: 'downloaded', path: part, sha256: hash, fileId: found.fileId });

  let facts: ImageFacts;
  let comparison: CompareResult;
  try {
    const twin = ctx.verifiedHashes.get(hash);
    if (twin && twin !== job.id) throw new VerificationError(`the file has the same bytes as ${twin}: the page showed an old image`);
    const [inspected, shot] = await Promise.all([inspectImage(bytes), shotTask]);
    facts = inspected;
    [comparison] = await Promise.all([compareWithScreenshot(bytes, shot), writeDurably(evidence, shot)]);
    if (!comparison.match) {
      if (comparison.distance <= comparison.threshold) {
        throw new VerificationError(`a strip of the file does not match the image shown in the page, as if it were still loading (worst band ${comparison.detail.worstBand.toFixed(3)} > ${comparison.bandThreshold})`);
      }
      throw new VerificationError(`the file does not match the image shown in the page (${comparison.method} distance ${comparison.distance.toFixed(3)} > ${comparison.threshold})`);
    }
  } catch (error) {
    await removeQuietly(part);
    throw error;
  }

  crashPoint('before-rename');
  await commitFile(part, file);
  const finishedAt = Date.now();
  await writeJsonAtomically(file.replace(/\.png$/, '.json'), {
    jobId: job.id,
    book: ctx.book.book,
    prompt: job.prompt,
    finalPrompt: job.finalPrompt,
    promptHash: job.promptHash,
    style: ctx.book.style,
    provider: ctx.book.provider,
    profile: ctx.profile,
    conversationUrl: found.conversationUrl,
    fileId: found.fileId,
    attempts: attempt,
    timings: { startedAt: new Date(startedAt).toISOString(), finishedAt: new Date(finishedAt).toISOString(), ms: finishedAt - startedAt },
    bytes: facts.bytes,
    sha256: hash,
    format: facts.format,
    width: facts.width,
    height: facts.height,
    evidence: path.relative(path.dirname(file), evidence),
    verification: { ...comparison, decoded: true, notBlank: true, uniqueBytes: true },
    source: job.source,
  });
  await ctx.store.record({ t: 'job', id: job.id, state: 'verified', path: file, sha256: hash, fileId: found.fileId });
  ctx.verifiedHashes.set(hash, job.id);
  ctx.usedFileIds.add(found.fileId);
  return { file, bytes: facts.bytes, sha256: hash, conversationUrl: found.conversationUrl };
}
