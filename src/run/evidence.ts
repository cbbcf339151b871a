// Evidence a person can open after the fact (issue: "proof for every image"), and share: the first
// failure of each kind in a run keeps a screenshot and the page's HTML with every script, cookie and
// token taken out (ARCHITECTURE "Evidence and secrets"). Only with `--trace` does every failed
// attempt also keep a Playwright trace chunk; a trace records the requests with their Cookie
// headers, so it holds the login session and is for the user's own eyes.
import { constants } from 'node:fs';
import { chmod, mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright';
import { isInsideLexically } from '../inside.js';
import { DiskFullError, isDiskFull } from '../protocol/errors.js';
import { safeJoin } from './save-image.js';
import { scrubSecrets, serializeSanitizedPage } from './sanitize-html.js';

/** Evidence is the user's, read by the user: no one else on the machine may list or read it. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

export interface EvidenceOptions {
  /** Keep a Playwright trace of each failed attempt (holds the session cookie). @default false */
  readonly trace?: boolean;
  /** Values that must never reach a file (the hub token), besides every cookie of the context. */
  readonly secrets?: () => readonly string[];
}

export class EvidenceKeeper {
  readonly #dir: string;
  readonly #context: BrowserContext;
  readonly #opts: EvidenceOptions;
  readonly #kindsSeen = new Set<string>();
  /** The page evidence saved this run per `<jobId>\n<kind>`: a job's final failure points at it. */
  readonly #savedFor = new Map<string, string[]>();
  /** Trace chunks are context-wide, so only one attempt at a time is traced. */
  #tracedJob: string | undefined;
  #tracing = false;

  constructor(context: BrowserContext, bookDir: string, opts: EvidenceOptions = {}) {
    this.#context = context;
    this.#dir = path.join(bookDir, '.evidence');
    this.#opts = opts;
  }

  async start(): Promise<void> {
    // Without --trace nothing is recorded at all: no secret to strip, and no snapshots held in memory.
    if (!this.#opts.trace) return;
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
    if (file) await makeEvidenceDir(this.#dir, path.dirname(file));
    const saved = await this.#context.tracing.stopChunk(file ? { path: file } : undefined).then(() => true, () => false);
    if (!file || !saved) return undefined;
    // Playwright writes the zip itself (umask mode); inside a 0700 folder, then narrowed.
    await chmod(file, FILE_MODE).catch(() => undefined);
    return file;
  }

  /**
   * A screenshot and the sanitised HTML of the page, the first time a failure kind appears in this
   * run, and for a job's final failure (`final`): a panel that ends failed always points at
   * evidence (the files of an earlier attempt of this job and kind, if any), without a copy per attempt.
   */
  async firstOfKind(kind: string, jobId: string, page: Page, final = false): Promise<string[]> {
    const key = `${jobId}\n${kind}`;
    const earlier = this.#savedFor.get(key);
    if (final && earlier) return earlier;
    if ((this.#kindsSeen.has(kind) && !final) || page.isClosed()) return [];
    this.#kindsSeen.add(kind);
    const base = safeJoin(this.#dir, `${jobId}/${kind}`);
    await makeEvidenceDir(this.#dir, path.dirname(base));
    const saved: string[] = [];
    const shot = await page.screenshot({ timeout: 10_000 }).catch(() => undefined);
    if (shot) {
      await writeEvidenceFile(`${base}.png`, shot);
      saved.push(`${base}.png`);
    }
    const html = await this.#sanitizedHtml(page).catch(() => undefined);
    if (html !== undefined) {
      await writeEvidenceFile(`${base}.html`, html);
      saved.push(`${base}.html`);
    }
    this.#savedFor.set(key, saved);
    return saved;
  }

  /** The page sanitised in the page (a clone of its DOM), then every known secret value removed. */
  async #sanitizedHtml(page: Page): Promise<string> {
    const { html, documentCookie } = await page.evaluate(serializeSanitizedPage);
    const cookies = await this.#context.cookies().catch(() => []);
    const fromDocument = documentCookie.split(';').map((pair) => pair.slice(pair.indexOf('=') + 1).trim());
    return scrubSecrets(html, [...cookies.map((c) => c.value), ...fromDocument, ...(this.#opts.secrets?.() ?? [])]);
  }

  async stop(): Promise<void> {
    if (this.#tracing) await this.#context.tracing.stop().catch(() => undefined);
  }
}

/** Writes `file` under `<bookDir>/.evidence/` (the element screenshot of a verified image): 0600 in 0700 folders. */
export async function writeEvidence(bookDir: string, file: string, data: string | Uint8Array): Promise<void> {
  await makeEvidenceDir(path.join(bookDir, '.evidence'), path.dirname(file));
  await writeEvidenceFile(file, data);
}

/** Creates `dir` (inside `root`, the book's `.evidence`) and narrows it and every folder between to 0700. */
export async function makeEvidenceDir(root: string, dir: string): Promise<void> {
  const relative = path.relative(root, dir);
  if (relative !== '' && !isInsideLexically(root, dir)) throw new Error(`evidence folder ${dir} is not inside ${root}`);
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  // Folders an older version made with the umask's mode are narrowed too; nothing above `root`.
  let current = path.resolve(root);
  await chmod(current, DIR_MODE);
  for (const part of relative.split(path.sep).filter(Boolean)) {
    current = path.join(current, part);
    await chmod(current, DIR_MODE);
  }
}

/**
 * Writes an evidence file readable by its owner only. Opened without following a link (a planted
 * symlink is refused, not written through), created 0600, and narrowed to 0600 if it existed.
 */
export async function writeEvidenceFile(file: string, data: string | Uint8Array): Promise<void> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
  try {
    const handle = await open(file, flags, FILE_MODE);
    try {
      await handle.chmod(FILE_MODE);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    // A full disk names the file and says what to do; the half screenshot is not kept as evidence.
    if (!isDiskFull(error)) throw error;
    await rm(file, { force: true });
    throw new DiskFullError(file, { cause: error });
  }
}
