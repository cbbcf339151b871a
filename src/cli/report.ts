// `semantest-run report <file> [--out DIR] [--open]`: writes the book's contact sheet and prints its path.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeContactSheet } from '../report/contact-sheet.js';
import { writeFleetContactSheet } from '../report/fleet-sheet.js';

export interface ReportOptions {
  file: string;
  out?: string;
  checkpointsDir: string;
  open?: boolean;
  /** A fleet's Redis URL: the sheet of the book across its workers instead of this machine's checkpoint. */
  redis?: string;
}

/**
 * The system's "open this file" command for the platform, run without a shell: the path is one
 * argument, so a folder named `a&b` or `$(x)` is a name, never a command (no cmd.exe on Windows).
 */
export function opener(platform: NodeJS.Platform, file: string): { command: string; args: string[] } {
  const absolute = path.resolve(file);
  switch (platform) {
    case 'darwin':
      return { command: 'open', args: [pathToFileURL(absolute).href] };
    case 'win32':
      // explorer.exe opens a file with its default program; an absolute path (C:\…) is never read as a switch.
      return { command: 'explorer.exe', args: [path.win32.resolve(file)] };
    default:
      return { command: 'xdg-open', args: [pathToFileURL(absolute).href] };
  }
}

/** Opens the page in the default browser without waiting for it; a missing opener is only a note. */
export function openInBrowser(file: string, note: (s: string) => void, platform: NodeJS.Platform = process.platform): Promise<void> {
  const url = pathToFileURL(path.resolve(file)).href;
  const { command, args } = opener(platform, file);
  return new Promise((resolve) => {
    try {
      const child = spawn(command, args, { detached: true, stdio: 'ignore', shell: false, windowsHide: true });
      child.once('error', (error) => {
        note(`could not open it (${command}: ${error.message}); open ${url} in a browser`);
        resolve();
      });
      child.once('spawn', () => {
        child.unref();
        resolve();
      });
    } catch (error) {
      note(`could not open it (${(error as Error).message}); open ${url} in a browser`);
      resolve();
    }
  });
}

export async function runReport(opts: ReportOptions, write = (s: string) => process.stdout.write(`${s}\n`), warn = (s: string) => process.stderr.write(`semantest-run: ${s}\n`)): Promise<number> {
  const result =
    opts.redis !== undefined
      ? await writeFleetContactSheet({ file: opts.file, out: opts.out, redis: opts.redis })
      : await writeContactSheet({ file: opts.file, out: opts.out, checkpointsDir: opts.checkpointsDir });
  write(result.path);
  if (opts.open) await openInBrowser(result.path, warn);
  return 0;
}
