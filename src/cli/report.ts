// `semantest-run report <file> [--out DIR] [--open]`: writes the book's contact sheet and prints its path.
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { writeContactSheet } from '../report/contact-sheet.js';

export interface ReportOptions {
  file: string;
  out?: string;
  checkpointsDir: string;
  open?: boolean;
}

/** The system's "open this file" command for the platform. */
function opener(target: string): [string, string[]] {
  switch (process.platform) {
    case 'darwin':
      return ['open', [target]];
    case 'win32':
      return ['cmd', ['/c', 'start', '""', target]];
    default:
      return ['xdg-open', [target]];
  }
}

/** Opens the page in the default browser without waiting for it; a missing opener is only a note. */
function openInBrowser(file: string, note: (s: string) => void): Promise<void> {
  const url = pathToFileURL(file).href;
  const [command, args] = opener(process.platform === 'win32' ? file : url);
  return new Promise((resolve) => {
    try {
      const child = spawn(command, args, { detached: true, stdio: 'ignore' });
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
  const result = await writeContactSheet({ file: opts.file, out: opts.out, checkpointsDir: opts.checkpointsDir });
  write(result.path);
  if (opts.open) await openInBrowser(result.path, warn);
  return 0;
}
