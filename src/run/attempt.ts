// One attempt at one job, as a straight pipeline (docs/ARCHITECTURE.md "The path of one job"):
// open chat → send (or revisit) → watch → fetch → claim → verify → commit. It receives a tab and a
// gate slot its caller already holds, writes job state only through the job's lifecycle, and
// returns the saved file or throws a typed failure. It never calls back into the runner.
import path from 'node:path';
import pRetry, { AbortError } from 'p-retry';
import sharp from 'sharp';
import type { BrowserContext, Locator, Page } from 'playwright';
import type { Hub } from '../hub/hub.js';
import { DisconnectError, LoginRequiredError, StaleImageError, TransientError, VerificationError } from '../protocol/errors.js';
import type { ImageFound, ImageIntent } from '../protocol/messages.js';
import { isConversationUrl, type ProviderDescriptor } from '../protocol/provider.js';
import { checkAspect, compareWithScreenshot, inspectImage, type CompareResult, type ImageFacts } from '../verify/index.js';
import type { RunHooks } from './hooks.js';
import type { ImageClaims } from './image-claims.js';
import type { JobLifecycle } from './job-lifecycle.js';
import { renameDurably, writeFileDurably } from '../store/durable.js';
import { removeQuietly, safeJoin, sha256, writeJsonAtomically } from './save-image.js';
import { sidecarOf } from '../store/files.js';
import { writeEvidence } from './evidence.js';
import { recompareWhenPainted } from './recompare.js';
import { readReferences, sidecarReferences } from './references.js';

export interface Tab {
  readonly page: Page;
  readonly tabId: number;
}

/** What every attempt of the run shares. */
export interface AttemptDeps {
  readonly context: BrowserContext;
  readonly hub: Hub;
  readonly provider: ProviderDescriptor;
  /** `<out>/<book>` */
  readonly bookDir: string;
  readonly book: { book: string; style: string; provider: string };
  readonly profile: string;
  readonly generationTimeoutMs: number;
  readonly sendGapMs: number;
  readonly claims: ImageClaims;
  readonly hooks: RunHooks;
}

/** What one job remembers between its attempts in this run. */
export interface JobMemory {
  /** Verification failures per page file id: the first is refetched, after two the image is given up. */
  readonly verifyFailures: Map<string, number>;
  readonly rejectedFileIds: Set<string>;
  /** After an answer in words, the next send asks with the image tool and the prefix both. */
  imageIntent: ImageIntent;
}

export interface AttemptResult {
  file: string;
  bytes: number;
  sha256: string;
  conversationUrl: string;
  /** Roles the page matched only by a fallback selector (role → index), for the drift report. */
  matched: Record<string, number>;
}

// Every image is decoded once (verification, a thumbnail): sharp's operation cache (50 MB by
// default) only holds pictures that never come back, and on a long run it kept the runner's memory
// higher (docs/ARCHITECTURE.md "Long runs").
sharp.cache(false);

const NAVIGATION_TIMEOUT_MS = 30_000;
/** How far (relative) the file's ratio may be from the panel's before it is the wrong shape. */
const ASPECT_TOLERANCE = 0.2;
const FETCH_TIMEOUT_MS = 60_000;
/** How long a revisited conversation may still be generating before we give up on it. */
const LATE_IMAGE_WAIT_MS = 60_000;

export async function runAttempt(deps: AttemptDeps, tab: Tab, job: JobLifecycle, memory: JobMemory, startedAt: number): Promise<AttemptResult> {
  const found = (await revisit(deps, tab, job, memory)) ?? (await sendPrompt(deps, tab, job, memory));
  if (isConversationUrl(found.conversationUrl, deps.provider)) await job.submitted(found.conversationUrl);
  try {
    return await saveImage(deps, tab, job, found, startedAt);
  } catch (error) {
    if (error instanceof VerificationError) {
      const failures = (memory.verifyFailures.get(found.fileId) ?? 0) + 1;
      memory.verifyFailures.set(found.fileId, failures);
      if (failures >= 2) memory.rejectedFileIds.add(found.fileId);
    }
    throw error;
  }
}

function excluded(deps: AttemptDeps, job: JobLifecycle, memory: JobMemory): string[] {
  return [...deps.claims.fileIdsNotOf(job.job.id), ...memory.rejectedFileIds];
}

/** A prompt already sent (crash, reload, timeout): read its answer in its conversation first. */
async function revisit(deps: AttemptDeps, tab: Tab, job: JobLifecycle, memory: JobMemory): Promise<ImageFound | null> {
  const url = job.conversationToRevisit(deps.provider);
  if (!url) return null;
  const waitMs = Math.min(LATE_IMAGE_WAIT_MS, deps.generationTimeoutMs);
  try {
    await navigate(tab.page, url);
    return await deps.hub.request(
      { type: 'find-image', tabId: tab.tabId, jobId: job.job.id, prompt: job.job.finalPrompt, excludeFileIds: excluded(deps, job, memory), timeoutMs: waitMs },
      waitMs + deps.provider.timings.readyTimeoutMs + 10_000,
    );
  } catch (error) {
    // A conversation that cannot be shown any more, or whose answer is an error, holds no image for
    // us: send again. A refusal, a usage cap, a login wall or a lost tab stops this attempt as such.
    if (error instanceof TransientError) return null;
    throw error;
  }
}

async function sendPrompt(deps: AttemptDeps, tab: Tab, job: JobLifecycle, memory: JobMemory): Promise<ImageFound> {
  // Read and checked before the page is even opened: a reference that cannot go means nothing is sent.
  const attachments = job.job.refs?.length ? await readReferences(job.job.refs, job.job.id) : [];
  await navigate(tab.page, deps.provider.baseUrl);
  try {
    return await deps.hub.request(
      {
        type: 'generate',
        tabId: tab.tabId,
        jobId: job.job.id,
        prompt: job.job.finalPrompt,
        timeoutMs: deps.generationTimeoutMs,
        sendGapMs: deps.sendGapMs,
        excludeFileIds: excluded(deps, job, memory),
        imageIntent: memory.imageIntent,
        ...(job.job.aspect ? { aspect: job.job.aspect } : {}),
        ...(attachments.length ? { attachments } : {}),
      },
      // Uploads happen before the prompt is sent: their bound comes on top of the generation's.
      deps.generationTimeoutMs + deps.provider.timings.readyTimeoutMs + 30_000 + (attachments.length ? deps.provider.timings.uploadTimeoutMs : 0),
    );
  } catch (error) {
    // The page may have gone away (reload, crash) before the content script reported the
    // conversation; the tab was on a fresh chat, so a conversation URL now is this prompt's.
    const now = tab.page.isClosed() ? '' : tab.page.url();
    if (isConversationUrl(now, deps.provider)) await job.submitted(now);
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
  // A session that ended sends the page to the login site (auth.openai.com, /auth/login).
  const landed = new URL(page.url());
  if (landed.host !== new URL(url).host || /^\/auth(\/|$)/.test(landed.pathname)) {
    throw new LoginRequiredError(`the site sent the page to ${landed.origin}${landed.pathname}: log in to this profile (semantest-run login)`);
  }
}

/** Bytes only the page can read (blob: and data: srcs, or a URL that refuses us): fetched inside the page. */
async function readInPage(page: Page, found: ImageFound): Promise<Buffer> {
  const selector = `img[data-semantest-image="${(found.marker ?? '').replace(/[^A-Za-z0-9-]/g, '')}"]`;
  let base64: string | null;
  try {
    base64 = await page.evaluate(async (sel) => {
      const img = document.querySelector<HTMLImageElement>(sel);
      if (!img) return null;
      const src = new URL(img.currentSrc || img.src, location.href);
      // Only the page's own origin (or bytes it made itself): the page's cookies go nowhere else.
      if (/^https?:$/.test(src.protocol) && src.origin !== location.origin) throw new Error(`the image is on another host (${src.host}); not fetched`);
      const response = await fetch(src.href, { credentials: 'include' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const bytes = new Uint8Array(await response.arrayBuffer());
      let binary = '';
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(binary);
    }, selector);
  } catch (error) {
    throw new TransientError(`could not read the image inside the page: ${(error as Error).message.split('\n')[0]}`);
  }
  if (base64 === null) throw new VerificationError('the image is no longer on the page, so its bytes cannot be read');
  return Buffer.from(base64, 'base64');
}

/** The image's bytes however the page shows them: a direct fetch with the profile's cookies, else read in the page. */
async function downloadImage(deps: AttemptDeps, page: Page, found: ImageFound): Promise<Buffer> {
  if (found.inPage || !/^https?:/.test(found.src)) return readInPage(page, found);
  try {
    return await fetchImage(deps.context, found.src, deps.provider.baseUrl);
  } catch (error) {
    // A signed URL the context may not fetch (HTTP 403) is still one the page itself could load.
    if (error instanceof TransientError && /HTTP 40[13]/.test(error.message) && found.marker) return readInPage(page, found);
    throw error;
  }
}

/**
 * A fetch that failed at the HTTP level is worth repeating right away, a couple of times. Only from
 * the provider's own origin: the context's request client sends the profile's cookies, and a page
 * (or anything that writes into it) must not be able to point those at another host.
 */
export async function fetchImage(context: Pick<BrowserContext, 'request'>, src: string, baseUrl: string): Promise<Buffer> {
  const origin = new URL(baseUrl).origin;
  let url: URL;
  try {
    url = new URL(src);
  } catch {
    throw new VerificationError(`the page's image has no usable address (${src.slice(0, 80)}), so it was not fetched`);
  }
  if (url.origin !== origin) {
    throw new VerificationError(`the page's image is on another host (${url.host}), not on ${new URL(baseUrl).host}: it was not fetched, so the profile's cookies never go there`);
  }
  return pRetry(
    async () => {
      let response;
      try {
        // The context's request client carries the profile's cookies, as the page's own fetch would.
        response = await context.request.get(src, { timeout: FETCH_TIMEOUT_MS, failOnStatusCode: false });
      } catch (error) {
        throw new TransientError(`could not fetch the image: ${(error as Error).message.split('\n')[0]}`);
      }
      try {
        const status = response.status();
        if (status >= 400 && status < 500) throw new AbortError(new TransientError(`fetching the image answered HTTP ${status}`));
        if (!response.ok()) throw new TransientError(`fetching the image answered HTTP ${status}`);
        return await response.body();
      } finally {
        // Playwright keeps every response's body until the context closes unless it is disposed:
        // on a long run, every image ever fetched (docs/ARCHITECTURE.md "Long runs").
        await Promise.resolve().then(() => response.dispose()).catch(() => undefined);
      }
    },
    { retries: 2, minTimeout: 500, maxTimeout: 2000 },
  );
}

/** The element the content script marked, when the page still holds exactly one. */
async function markedImage(page: Page, found: ImageFound): Promise<Locator | undefined> {
  if (!found.marker) return undefined;
  const marked = page.locator(`img[data-semantest-image="${found.marker.replace(/[^A-Za-z0-9-]/g, '')}"]`);
  return (await marked.count()) === 1 ? marked : undefined;
}

/** The element the content script chose (marked), else the largest one showing the same src. */
async function screenshotImage(deps: AttemptDeps, page: Page, found: ImageFound): Promise<Buffer> {
  const marked = await markedImage(page, found);
  if (marked) return marked.screenshot({ timeout: 15_000 });
  const images = page.locator(deps.provider.selectors.image.join(', '));
  const index = await images.evaluateAll((elements, wanted) => {
    let best = -1;
    let bestArea = 0;
    elements.forEach((e, i) => {
      const box = e.getBoundingClientRect();
      if ((e as HTMLImageElement).src === wanted && box.width * box.height > bestArea) {
        best = i;
        bestArea = box.width * box.height;
      }
    });
    return best;
  }, found.src);
  if (index < 0) throw new VerificationError('the image is no longer on the page, so the file cannot be compared with it');
  // screenshot() scrolls the element into view itself.
  return images.nth(index).screenshot({ timeout: 15_000 });
}

async function saveImage(deps: AttemptDeps, tab: Tab, job: JobLifecycle, found: ImageFound, startedAt: number): Promise<AttemptResult> {
  const { id, outputPath } = job.job;
  const file = safeJoin(deps.bookDir, outputPath);
  const part = `${file}.part`;
  const evidence = safeJoin(path.join(deps.bookDir, '.evidence'), outputPath);
  // The element screenshot and the download run side by side: both need only the finished image.
  const shotTask = screenshotImage(deps, tab.page, found);
  shotTask.catch(() => undefined); // awaited below; a failed fetch must not leave it unhandled
  const bytes = await downloadImage(deps, tab.page, found);
  const hash = sha256(bytes);
  const key = { fileId: found.fileId, sha256: hash };
  // Checked and claimed in one step, across every job in flight: the loser showed an old image.
  const taken = deps.claims.claim(id, key);
  if (taken) throw new StaleImageError(`the page showed an old image: it has the same ${taken.by} as ${taken.owner}'s`);
  let facts: ImageFacts;
  let comparison: CompareResult;
  let recompared: { tries: number; firstDistance: number } | undefined;
  try {
    await writeFileDurably(part, bytes);
    await job.downloaded(part, hash, found.fileId);
    const [inspected, shot] = await Promise.all([inspectImage(bytes), shotTask]);
    facts = inspected;
    // Only a clear mismatch fails: the real site answers "3:4" with 1024×1536 (2:3), close enough.
    const shape = checkAspect(facts.width, facts.height, job.job.aspect, ASPECT_TOLERANCE);
    if (!shape.ok) throw new VerificationError(shape.message);
    [comparison] = await Promise.all([compareWithScreenshot(bytes, shot), writeEvidence(deps.bookDir, evidence, shot)]);
    const marked = comparison.match ? undefined : await markedImage(tab.page, found);
    if (marked) {
      // Before a mismatch spends a prompt: compare again once the page has painted the image.
      const again = await recompareWhenPainted(bytes, { comparison, shot }, marked);
      recompared = { tries: again.tries, firstDistance: comparison.distance };
      comparison = again.comparison;
      // The evidence keeps both: the first screenshot beside the last, which the verdict rests on.
      await writeEvidence(deps.bookDir, evidence.replace(/(\.png)?$/, '.first.png'), shot);
      await writeEvidence(deps.bookDir, evidence, again.shot);
    }
    if (!comparison.match) {
      if (comparison.distance <= comparison.threshold) {
        throw new VerificationError(`a strip of the file does not match the image shown in the page, as if it were still loading (worst band ${comparison.detail.worstBand.toFixed(3)} > ${comparison.bandThreshold})`);
      }
      throw new VerificationError(`the file does not match the image shown in the page (${comparison.method} distance ${comparison.distance.toFixed(3)} > ${comparison.threshold})`);
    }
  } catch (error) {
    deps.claims.release(id, key);
    await removeQuietly(part);
    throw error;
  }

  deps.hooks.crashPoint?.('before-rename');
  await renameDurably(part, file);
  const finishedAt = Date.now();
  await writeJsonAtomically(sidecarOf(file), {
    jobId: id,
    book: deps.book.book,
    prompt: job.job.prompt,
    finalPrompt: job.job.finalPrompt,
    promptHash: job.job.promptHash,
    style: deps.book.style,
    provider: deps.book.provider,
    profile: deps.profile,
    conversationUrl: found.conversationUrl,
    fileId: found.fileId,
    attempts: job.attempt,
    timings: { startedAt: new Date(startedAt).toISOString(), finishedAt: new Date(finishedAt).toISOString(), ms: finishedAt - startedAt },
    bytes: facts.bytes,
    sha256: hash,
    format: facts.format,
    width: facts.width,
    height: facts.height,
    evidence: path.relative(path.dirname(file), evidence),
    ...(job.job.aspect ? { aspect: job.job.aspect } : {}),
    ...(found.intent ? { intent: found.intent } : {}),
    // The references that went with the prompt. A revisit read the answer of an earlier send of
    // this same job, whose references the prompt hash pins to these bytes.
    ...(job.job.refs?.length ? { references: sidecarReferences(job.job.refs, job.job.source.file) } : {}),
    // The image a person rejected, which this one replaces: the store keeps the record's `rejection`
    // through the regenerating attempts and drops it on the `verified` written just below.
    ...(job.record?.rejection ? { replaces: { file: path.relative(deps.bookDir, job.record.rejection.keptAs), sha256: job.record.rejection.sha256, reason: job.record.rejection.reason } } : {}),
    verification: { ...comparison, ...(recompared ? { recompared } : {}), decoded: true, notBlank: true, uniqueBytes: true, uniqueFileId: true },
    source: job.job.source,
  });
  await job.verified(file, hash, found.fileId);
  return { file, bytes: facts.bytes, sha256: hash, conversationUrl: found.conversationUrl, matched: found.matched ?? {} };
}
