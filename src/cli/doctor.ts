// `semantest-run doctor`: whether a run on this profile would work, one row per check, each bounded
// in time: the browser, a display, the profile lock, free disk, the extension and the hub (a real
// `open-tab` round trip), the log-in, and every role of the provider descriptor looked up on the
// live page (the hub's `probe`). Nothing is ever sent to the site. Exit 0: a run would work; 1: not.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { BrowserContext } from 'playwright';
import { findChromium } from '../browser/discover.js';
import { Cleanup, bounded, checkProfileName, interruptSignal, launchWithin, lockProfile, openTab, startHub } from '../browser/session.js';
import type { Hub } from '../hub/hub.js';
import { startMockSite } from '../mock/server.js';
import type { ProbeResult } from '../protocol/messages.js';
import { safeLine } from '../protocol/text.js';
import { InterruptedError } from '../protocol/errors.js';
import type { ProviderDescriptor } from '../protocol/provider.js';
import { loadProvider } from '../providers/index.js';

export interface DoctorOptions {
  readonly profile: string;
  readonly profilesDir: string;
  /** The output folder whose free space is checked. */
  readonly out: string;
  readonly headless: boolean;
  readonly browser?: string;
  readonly baseUrl?: string;
  /** An updated provider descriptor to check instead of the built-in one. */
  readonly providerFile?: string;
  /** Check against the built-in mock site, started with these settings. */
  readonly mock?: Parameters<typeof startMockSite>[0];
  /** Where the table goes (default: stdout). */
  readonly write?: (text: string) => void;
}

type Status = 'ok' | 'warn' | 'fail' | 'skip';
type Role = keyof ProviderDescriptor['selectors'];

const MARK: Record<Status, string> = { ok: '✓', warn: '!', fail: '✗', skip: '-' };
const NAME_WIDTH = 16;
/** Free space under this is a warning: a book of images and its evidence need room. */
const LOW_DISK_BYTES = 1024 ** 3;
const VERSION_TIMEOUT_MS = 5_000;
const DISK_TIMEOUT_MS = 5_000;
const EXTENSION_TIMEOUT_MS = 30_000;
const OPEN_TAB_TIMEOUT_MS = 30_000;
const PROBE_TIMEOUT_MS = 30_000;
/** A page still drawing itself has no composer yet: probe again for this long before saying so. */
const COMPOSER_GRACE_MS = 10_000;

/** Where a role shows, for one the page has no reason to show now (nothing typed, nothing sent). */
const SHOWS: Partial<Record<Role, string>> = {
  send: 'shows only with text in the composer',
  stop: 'shows only while an answer is generating',
  turn: 'shows only in a conversation',
  userMessage: 'shows only in a conversation',
  image: 'shows only in an answer',
  download: 'shows only in an answer',
  imageContainer: 'shows only in an answer',
  error: 'shows only when the site reports an error',
  notice: 'shows only when the site has something to say',
  login: 'shows only when logged out',
  newChat: 'not needed: a run opens a new chat by loading the base URL',
  plusButton: 'the image tool cannot be chosen; prompts get the prefix instead',
  imageToolOn: 'shows only while the image tool is on',
  aspectControl: 'shows only while the image tool is on',
};
/** Roles the probe cannot see without opening a menu or sending a prompt. */
const NOT_PROBED: Partial<Record<Role, string>> = {
  imageToolItem: 'only inside the + menu',
  aspectOption: 'only inside the aspect menu',
  image: 'only in an answer',
  download: 'only in an answer',
  imageContainer: 'only in an answer',
  error: 'only when the site reports an error',
  notice: 'only when the site has something to say',
};

class Table {
  #failure: string | undefined;
  readonly #write: (text: string) => void;

  constructor(write: (text: string) => void) {
    this.#write = write;
  }

  /** The first failing check, "name: detail". */
  get failure(): string | undefined {
    return this.#failure;
  }

  row(status: Status, name: string, detail: string): Status {
    if (status === 'fail') this.#failure ??= `${name}: ${detail}`;
    // A detail may carry the page's words (an error it showed): one line, no control character.
    this.#write(`  ${MARK[status]} ${name.padEnd(NAME_WIDTH)} ${safeLine(detail)}\n`);
    return status;
  }
}

export async function runDoctor(opts: DoctorOptions): Promise<number> {
  checkProfileName(opts.profile);
  const write = opts.write ?? ((text: string) => void process.stdout.write(text));
  const table = new Table(write);
  const cleanup = new Cleanup();
  const interrupt = interruptSignal();
  const signal = interrupt.signal;
  try {
    let provider: ProviderDescriptor;
    if (opts.mock) {
      const site = await startMockSite(opts.mock);
      cleanup.add(() => site.close());
      provider = loadProvider('chatgpt', site.url, opts.providerFile);
    } else {
      provider = loadProvider('chatgpt', opts.baseUrl, opts.providerFile);
    }
    write(`semantest-run doctor: profile "${opts.profile}" on ${provider.baseUrl}${opts.mock ? ' (the built-in mock)' : ''}, ${opts.headless ? 'headless' : 'in a window'}; nothing is sent to the site\n`);

    // 1. The browser.
    let executablePath: string | undefined;
    try {
      executablePath = findChromium(opts.browser);
      const version = await chromiumVersion(executablePath);
      table.row('ok', 'browser', `${executablePath}${version ? ` (${version})` : ''}`);
    } catch (error) {
      table.row('fail', 'browser', messageOf(error));
    }

    // 2. A display, for a window.
    const display = displayCheck(opts.headless);
    table.row(display.status, 'display', display.detail);

    // 3. The profile is not in use (the lock is held until the end, then released).
    let profileDir: string | undefined;
    try {
      const locked = await bounded(lockProfile(opts.profilesDir, opts.profile, cleanup), 10_000, 'taking the profile lock', { signal });
      profileDir = locked.profileDir;
      const notes = [locked.created ? 'a new, empty profile (created now)' : undefined, locked.orphan ? `closed a browser (pid ${locked.orphan}) a killed run left on it` : undefined].filter(Boolean);
      table.row('ok', 'profile lock', `${relative(profileDir)} is free: no run or login is using it${notes.length ? `; ${notes.join('; ')}` : ''}`);
    } catch (error) {
      if (error instanceof InterruptedError) throw error;
      table.row('fail', 'profile lock', messageOf(error));
    }

    // 4. Free disk where the profile and the output live.
    for (const { status, detail } of await diskChecks([path.resolve(opts.profilesDir, opts.profile), path.resolve(opts.out)])) table.row(status, 'free disk', detail);

    // 5. Launch with the extension; the extension connects to the hub and opens a tab on the site.
    const blocked = !executablePath ? 'no browser' : display.status === 'fail' ? 'no display' : !profileDir ? 'the profile is in use' : undefined;
    let hub: Hub | undefined;
    let context: BrowserContext | undefined;
    let tabId: number | undefined;
    if (blocked) {
      table.row('skip', 'launch', `not checked (${blocked})`);
      table.row('skip', 'extension + hub', `not checked (${blocked})`);
      table.row('skip', 'site', `not checked (${blocked})`);
    } else {
      try {
        const started = await startHub(profileDir!, provider, cleanup);
        hub = started.hub;
        const t0 = Date.now();
        context = await launchWithin({ profileDir: profileDir!, extensionDir: started.extensionDir, executablePath: executablePath!, headless: opts.headless }, cleanup, signal);
        table.row('ok', 'launch', `started with the extension in ${Date.now() - t0} ms (${opts.headless ? 'headless' : 'a window'})`);
      } catch (error) {
        if (error instanceof InterruptedError) throw error;
        table.row('fail', 'launch', messageOf(error));
        table.row('skip', 'extension + hub', 'not checked (the browser did not start)');
        table.row('skip', 'site', 'not checked (the browser did not start)');
      }
    }
    if (hub && context) {
      const refusals: string[] = [];
      hub.on('refused', (_code, reason) => refusals.push(reason));
      let connected = false;
      try {
        const t0 = Date.now();
        await bounded(hub.waitForExtension(EXTENSION_TIMEOUT_MS), EXTENSION_TIMEOUT_MS + 1000, 'the extension connecting', { signal });
        connected = true;
        table.row('ok', 'extension + hub', `the extension connected to the hub in ${Date.now() - t0} ms`);
      } catch (error) {
        if (error instanceof InterruptedError) throw error;
        const refused = refusals.length ? ` (the hub refused it: ${refusals.at(-1)})` : '';
        table.row('fail', 'extension + hub', `${messageOf(error)}${refused}`);
        table.row('skip', 'site', 'not checked (no extension)');
      }
      if (connected) {
        try {
          const t0 = Date.now();
          tabId = (await openTab(context, hub, provider.baseUrl, OPEN_TAB_TIMEOUT_MS, signal)).tabId;
          table.row('ok', 'site', `open-tab round trip ${Date.now() - t0} ms: the page loaded and the extension's script is on it`);
        } catch (error) {
          if (error instanceof InterruptedError) throw error;
          table.row('fail', 'site', `${messageOf(error)}${siteHint(messageOf(error), provider)}`);
        }
      }
    }

    // 6. The page: logged in, every role of the descriptor, the image tool.
    const probe = hub && tabId !== undefined ? await probePage(hub, tabId, signal) : undefined;
    if (!probe) {
      table.row('skip', 'logged in', 'not checked (no tab on the site)');
    } else if ('error' in probe) {
      table.row('fail', 'logged in', `the page could not be probed: ${probe.error}`);
    } else {
      loginRow(table, probe);
      for (const role of Object.keys(provider.selectors) as Role[]) roleRow(table, provider, role, probe);
      if (probe.imageTool === 'offered') table.row('ok', 'image tool', 'offered: prompts ask for an image by choosing it');
      else table.row('warn', 'image tool', `not offered here: prompts start with "${provider.imagePrefix.trim()}" instead`);
    }
    if (!probe || 'error' in probe) table.row('skip', 'composer', 'not checked (no page to look at)');

    if (table.failure) {
      write(`doctor: a run would not work: ${table.failure}\n`);
      return 1;
    }
    write('doctor: a run would work\n');
    return 0;
  } catch (error) {
    if (error instanceof InterruptedError) throw new InterruptedError('doctor interrupted (Ctrl-C); the browser is closed and the profile released');
    throw error;
  } finally {
    interrupt.dispose();
    await cleanup.run();
  }
}

/** What a tab that did not load most likely means, from the address it shows. */
function siteHint(message: string, provider: ProviderDescriptor): string {
  const shown = /\(the tab shows (\S+)\)/.exec(message)?.[1];
  if (!shown) return '';
  if (shown.startsWith('chrome-error:')) return `: ${provider.baseUrl} did not load (no network, or a wrong --base-url)`;
  try {
    if (new URL(shown).host !== new URL(provider.baseUrl).host) return ': the site sent the tab elsewhere, most likely to its log-in page; run semantest-run login';
  } catch (error) {
    // not a URL: nothing to add (new URL throws only TypeError; anything else is a bug)
    if (!(error instanceof TypeError)) throw error;
  }
  return '';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}

function relative(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

/** "Chromium 156.0.8078.108 built on Debian…" → "Chromium 156.0.8078.108"; undefined when it does not say in time. */
function chromiumVersion(executablePath: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(executablePath, ['--version'], { timeout: VERSION_TIMEOUT_MS }, (error, stdout) => {
      const line = String(stdout ?? '').split('\n').find((l) => /\d+\.\d+/.test(l));
      resolve(error && !line ? undefined : line?.replace(/\s+built on .*/, '').trim());
    });
  });
}

function displayCheck(headless: boolean): { status: Status; detail: string } {
  if (headless) return { status: 'ok', detail: 'not needed (headless)' };
  if (process.platform !== 'linux') return { status: 'ok', detail: `a window on ${process.platform}` };
  if (process.env.WAYLAND_DISPLAY) return { status: 'ok', detail: `WAYLAND_DISPLAY=${process.env.WAYLAND_DISPLAY}` };
  if (process.env.DISPLAY) return { status: 'ok', detail: `DISPLAY=${process.env.DISPLAY}` };
  return { status: 'fail', detail: 'a window needs a display and DISPLAY/WAYLAND_DISPLAY are unset: add --headless, or run under xvfb-run' };
}

/** One row per file system: the free space under the profile and the output folder. */
async function diskChecks(folders: string[]): Promise<Array<{ status: Status; detail: string }>> {
  const byDevice = new Map<string, { free: number; folders: string[] }>();
  const rows: Array<{ status: Status; detail: string }> = [];
  for (const folder of folders) {
    const existing = nearestExisting(folder);
    try {
      const [fs, st] = await bounded(Promise.all([statfs(existing), stat(existing)]), DISK_TIMEOUT_MS, `reading the free space of ${existing}`);
      const key = String(st.dev);
      const entry = byDevice.get(key) ?? { free: fs.bavail * fs.bsize, folders: [] };
      entry.folders.push(relative(folder));
      byDevice.set(key, entry);
    } catch (error) {
      rows.push({ status: 'warn', detail: `${relative(folder)}: ${messageOf(error)}` });
    }
  }
  for (const { free, folders: where } of byDevice.values()) {
    const low = free < LOW_DISK_BYTES;
    rows.unshift({ status: low ? 'warn' : 'ok', detail: `${formatBytes(free)} free for ${where.join(' and ')}${low ? ': under 1 GiB, a book of images may not fit' : ''}` });
  }
  return rows;
}

function nearestExisting(folder: string): string {
  let current = folder;
  while (!existsSync(current) && path.dirname(current) !== current) current = path.dirname(current);
  return current;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  return `${Math.round(bytes / 1024 ** 2)} MiB`;
}

/** Probes the tab; a page still drawing itself (no composer yet, no wall) is probed again for a while. */
async function probePage(hub: Hub, tabId: number, signal: AbortSignal): Promise<ProbeResult | { error: string }> {
  const deadline = Date.now() + COMPOSER_GRACE_MS;
  for (;;) {
    let result: ProbeResult;
    try {
      result = await bounded(hub.request({ type: 'probe', tabId }, PROBE_TIMEOUT_MS), PROBE_TIMEOUT_MS + 1000, 'the probe', { signal });
    } catch (error) {
      if (error instanceof InterruptedError) throw error;
      return { error: messageOf(error) };
    }
    if (result.page !== 'no-composer' || Date.now() >= deadline) return result;
    await bounded(new Promise((resolve) => setTimeout(resolve, 1000)), 2000, 'a pause', { signal });
  }
}

function loginRow(table: Table, probe: ProbeResult): void {
  const where = `${probe.url}${probe.title ? `, "${probe.title}"` : ''}`;
  const loginButton = probe.roles.find((r) => r.role === 'login' && r.found);
  switch (probe.page) {
    case 'ready':
      // The real site also shows its composer to a visitor who is not logged in, beside "Log in".
      if (loginButton) table.row('fail', 'logged in', `not logged in (a log-in button shows beside the composer: \`${loginButton.selector}\`): run semantest-run login`);
      else table.row('ok', 'logged in', `logged in (${where})`);
      return;
    case 'login':
      table.row('fail', 'logged in', `not logged in: run semantest-run login (${where})`);
      return;
    case 'challenge':
      table.row('fail', 'logged in', `a challenge is showing: pass it in the window of semantest-run login (${where})`);
      return;
    case 'no-composer':
      table.row('warn', 'logged in', `cannot tell: the page shows no composer and no log-in wall (${where})`);
  }
}

function roleRow(table: Table, provider: ProviderDescriptor, role: Role, probe: ProbeResult): void {
  const selectors = provider.selectors[role];
  const seen = probe.roles.find((r) => r.role === role);
  if (!seen) {
    if (selectors.length === 0) table.row('skip', role, 'not in the descriptor');
    else table.row('skip', role, `not checked (${NOT_PROBED[role] ?? 'not reported by the page'})`);
    return;
  }
  const tried = seen.tried.length ? seen.tried : selectors;
  const triedText = tried.map((s) => `\`${s}\``).join(', ');
  if (seen.found) {
    const index = seen.index ?? 0;
    const selector = seen.selector ?? tried[index] ?? '?';
    if (role === 'login') {
      table.row('warn', role, `a log-in button shows: matched by its ${ordinal(index + 1)} selector \`${selector}\``);
    } else if (index > 0) {
      table.row('warn', role, `matched only by its ${ordinal(index + 1)} selector \`${selector}\`: update the descriptor`);
    } else {
      table.row('ok', role, `matched by its 1st selector \`${selector}\``);
    }
    return;
  }
  if (tried.length === 0) return void table.row('skip', role, 'not in the descriptor');
  if (role === 'composer') return void table.row('fail', role, `not found, tried ${triedText}`);
  if (role === 'plusButton') return void table.row('warn', role, `not found (${SHOWS.plusButton}); tried ${triedText}`);
  table.row('skip', role, `not on the page now (${SHOWS[role] ?? 'not needed before a prompt is sent'})`);
}

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}
