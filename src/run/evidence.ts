// Evidence a person can open after the fact (issue: "proof for every image"): the first failure of
// each kind in a run keeps a screenshot and the page HTML, and every failed attempt keeps a
// Playwright trace chunk (open with `npx playwright show-trace <file>`).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright';
import { safeJoin } from './save-image.js';

export class EvidenceKeeper {
  readonly #dir: string;
  readonly #context: BrowserContext;
  readonly #kindsSeen = new Set<string>();
  /** Trace chunks are context-wide, so only one attempt at a time is traced. */
  #tracedJob: string | undefined;
  #tracing = false;

  constructor(context: BrowserContext, bookDir: string) {
    this.#context = context;
    this.#dir = path.join(bookDir, '.evidence');
  }

  async start(): Promise<void> {
    try {
      await this.#context.tracing.start({ snapshots: true, screenshots: false, sources: false });
      this.#tracing = true;
    } catch {
      this.#tracing = false;
    }
  }

  /** Starts a trace chunk for this attempt if no other attempt holds one; returns whether it did. */
  async beginAttempt(jobId: string, attempt: number): Promise<boolean> {
    if (!this.#tracing || this.#tracedJob !== undefined) return false;
    this.#tracedJob = jobId;
    try {
      await this.#context.tracing.startChunk({ title: `${jobId} attempt ${attempt}` });
      return true;
    } catch {
      this.#tracedJob = undefined;
      return false;
    }
  }

  /** Ends this attempt's chunk: kept on disk when the attempt failed, dropped when it succeeded. */
  async endAttempt(jobId: string, attempt: number, failed: boolean): Promise<string | undefined> {
    if (this.#tracedJob !== jobId) return undefined;
    this.#tracedJob = undefined;
    const file = failed ? safeJoin(this.#dir, `${jobId}/attempt-${attempt}.trace.zip`) : undefined;
    if (file) await mkdir(path.dirname(file), { recursive: true });
    await this.#context.tracing.stopChunk(file ? { path: file } : undefined).catch(() => undefined);
    return file;
  }

  /** The first time a failure kind appears in this run: a screenshot and the HTML of the page. */
  async firstOfKind(kind: string, jobId: string, page: Page): Promise<string[]> {
    if (this.#kindsSeen.has(kind) || page.isClosed()) return [];
    this.#kindsSeen.add(kind);
    const base = safeJoin(this.#dir, `${jobId}/${kind}`);
    await mkdir(path.dirname(base), { recursive: true });
    const saved: string[] = [];
    const shot = await page.screenshot({ path: `${base}.png`, timeout: 10_000 }).then(() => `${base}.png`, () => undefined);
    if (shot) saved.push(shot);
    const html = await page.content().catch(() => undefined);
    if (html !== undefined) {
      await writeFile(`${base}.html`, html);
      saved.push(`${base}.html`);
    }
    return saved;
  }

  async stop(): Promise<void> {
    if (this.#tracing) await this.#context.tracing.stop().catch(() => undefined);
  }
}
