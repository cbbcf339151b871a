// Launches Chromium on the user's persistent profile with our extension loaded (ARCHITECTURE §2).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright';
import { LockedError, NoDisplayError, FatalError } from '../protocol/errors.js';
import { clearScratchDir } from '../store/scratch.js';

export interface LaunchOptions {
  readonly profileDir: string;
  readonly extensionDir: string;
  readonly executablePath: string;
  /** @default false — a window, so the user can log in and watch. */
  readonly headless?: boolean;
  /** Where a note for the user goes (a scratch folder that could not be cleared). @default stderr */
  readonly onNote?: (message: string) => void;
}

// Quiet, predictable Chromium: no first-run UI, no background traffic to Google's hosts.
const QUIET_ARGS = [
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

export async function launchBrowser(opts: LaunchOptions): Promise<BrowserContext> {
  if (!opts.headless && process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    throw new NoDisplayError('a browser window needs a display, and this machine has none (DISPLAY is unset): add --headless, or run under `xvfb-run semantest-run …`');
  }
  const profileName = path.basename(opts.profileDir);
  const xdg = path.join(opts.profileDir, '.xdg');
  await mkdir(path.join(xdg, 'config'), { recursive: true });
  await mkdir(path.join(xdg, 'cache'), { recursive: true });
  // Trace scratch files live under the profile, not in /tmp, so what a killed run leaves is
  // cleared by the next launch instead of piling up over weeks of runs.
  const tracesDir = path.join(opts.profileDir, '.traces');
  // A failed clear (ENOTEMPTY while a dying Chromium child still writes there) is a note, never the end of the run.
  const note = await clearScratchDir(tracesDir);
  if (note) (opts.onNote ?? ((m: string) => process.stderr.write(`note: ${m}\n`)))(note);
  // 0700: with --trace, Playwright's scratch files there hold the session cookie (as the profile's own
  // cookie store does, which Chromium keeps 0600 in a 0700 folder).
  await mkdir(tracesDir, { recursive: true, mode: 0o700 });
  try {
    return await chromium.launchPersistentContext(opts.profileDir, {
      executablePath: opts.executablePath,
      headless: opts.headless ?? false,
      viewport: { width: 1280, height: 900 },
      // The runner owns Ctrl-C (finish in-flight images first); Playwright's own handler would
      // close the browser on the first one.
      handleSIGINT: false,
      handleSIGTERM: false,
      tracesDir,
      args: [
        ...QUIET_ARGS,
        `--disable-extensions-except=${opts.extensionDir}`,
        `--load-extension=${opts.extensionDir}`,
      ],
      // Keeps Chromium from writing into the user's home: everything stays under the profile.
      env: { ...process.env, XDG_CONFIG_HOME: path.join(xdg, 'config'), XDG_CACHE_HOME: path.join(xdg, 'cache') },
    });
  } catch (error) {
    const message = (error as Error).message;
    if (/ProcessSingleton|SingletonLock|profile.*in use/i.test(message)) {
      const pid = /process (\d+)/i.exec(message)?.[1];
      throw new LockedError(`profile ${profileName} is in use by another browser${pid ? ` (pid ${pid})` : ''}: close it or pick another --profile`, pid ? Number(pid) : undefined);
    }
    if (/Missing X server|cannot open display/i.test(message)) {
      throw new NoDisplayError('the browser could not open a window (no X server): add --headless, or run under `xvfb-run`');
    }
    throw new FatalError(`the browser did not start: ${message.split('\n')[0]}`);
  }
}
