// Makes docs/terminal.png: the demo run in a real terminal (tmux, 120×30), caught mid-run with its
// live status block, drawn as an image by Chromium.
//
//   node scripts/screenshot-terminal.mjs [out.png]
//
// Needs tmux and a Chromium (SEMANTEST_CHROMIUM, Playwright's, or Debian's). Builds the CLI first.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const out = path.resolve(process.argv[2] ?? path.join(root, 'docs', 'terminal.png'));
const COLUMNS = 120;
const ROWS = 30;
const socket = `semantest-shot-${process.pid}`;
const session = 'shot';

const tmux = (...args) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function findChromium() {
  const candidates = [process.env.SEMANTEST_CHROMIUM, safe(() => chromium.executablePath()), '/usr/lib/chromium/chromium', '/usr/bin/chromium'];
  for (const file of candidates) {
    if (!file) continue;
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {}
  }
  throw new Error('no Chromium found (set SEMANTEST_CHROMIUM)');
}

function safe(f) {
  try {
    return f();
  } catch {
    return undefined;
  }
}

// ── the terminal ────────────────────────────────────────────────────────────────────────────────
execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
const work = await mkdtemp(path.join(tmpdir(), 'semantest-shot-'));
await symlink(path.join(root, 'prompts'), path.join(work, 'prompts'));
// The demo's characters use their sheets (refs: sheet), which a run makes first: made beforehand
// here, so the picture is the panels' run as before.
execFileSync(process.execPath, [path.join(root, 'bin', 'semantest-run.cjs'), 'characters', 'prompts/demo.yaml', '--mock', '--headless', '--no-dashboard', '--mock-latency-ms', '300'], { cwd: work, stdio: 'ignore' });
const command = 'semantest-run prompts/demo.yaml --mock --headless --mock-latency-ms 3000';
let screen;
try {
  tmux('new-session', '-d', '-s', session, '-x', String(COLUMNS), '-y', String(ROWS), '-c', work, 'env', 'TERM=xterm-256color', 'PS1=$ ', 'bash', '--norc', '--noprofile');
  // `semantest-run` as after `npm install`, the run in a folder of its own.
  tmux('send-keys', '-t', session, `semantest-run() { node ${JSON.stringify(path.join(root, 'bin', 'semantest-run.cjs'))} "$@"; }; clear`, 'Enter');
  await sleep(500);
  tmux('send-keys', '-t', session, command, 'Enter');
  // Mid-run: about half the images done, panels in flight.
  const deadline = Date.now() + 180_000;
  for (;;) {
    const text = tmux('capture-pane', '-p', '-t', session);
    const progress = /[█░]+ (\d+)\/(\d+) /.exec(text);
    if (progress && Number(progress[1]) >= Number(progress[2]) / 2 && text.includes('▸')) {
      screen = tmux('capture-pane', '-p', '-e', '-t', session);
      break;
    }
    if (/verified, \d+ failed/.test(text) || Date.now() > deadline) throw new Error(`the run did not reach mid-run in view:\n${text}`);
    await sleep(250);
  }
  // Ctrl-C: the run finishes the images in flight and stops, leaving the summary.
  tmux('send-keys', '-t', session, 'C-c');
  const stopBy = Date.now() + 60_000;
  while (!/verified, \d+ failed/.test(tmux('capture-pane', '-p', '-t', session)) && Date.now() < stopBy) await sleep(250);
} finally {
  spawnSync('tmux', ['-L', socket, 'kill-server']);
  await rm(work, { recursive: true, force: true, maxRetries: 10, retryDelay: 500 });
}

// ── the picture ─────────────────────────────────────────────────────────────────────────────────
const PALETTE = ['#1d1f21', '#cc6666', '#b5bd68', '#f0c674', '#81a2be', '#b294bb', '#8abeb7', '#c5c8c6'];
const BRIGHT = ['#666666', '#d54e53', '#b9ca4a', '#e7c547', '#7aa6da', '#c397d8', '#70c0b1', '#eaeaea'];

function color256(n) {
  if (n < 8) return PALETTE[n];
  if (n < 16) return BRIGHT[n - 8];
  if (n >= 232) return `rgb(${8 + (n - 232) * 10},${8 + (n - 232) * 10},${8 + (n - 232) * 10})`;
  const i = n - 16;
  const level = (v) => (v === 0 ? 0 : 55 + v * 40);
  return `rgb(${level(Math.floor(i / 36))},${level(Math.floor(i / 6) % 6)},${level(i % 6)})`;
}

const escapeHtml = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The captured text with its SGR escapes (colours, bold, dim) as HTML spans. */
function toHtml(text) {
  let style = {};
  let html = '';
  const open = () => {
    const css = [];
    if (style.fg) css.push(`color:${style.fg}`);
    if (style.bg) css.push(`background:${style.bg}`);
    if (style.bold) css.push('font-weight:bold');
    if (style.dim) css.push('opacity:.6');
    return css.length ? `<span style="${css.join(';')}">` : '<span>';
  };
  for (const part of text.split(/(\u001B\[[0-9;]*m)/)) {
    const sgr = /^\u001B\[([0-9;]*)m$/.exec(part);
    if (!sgr) {
      if (part) html += `${open()}${escapeHtml(part)}</span>`;
      continue;
    }
    const codes = (sgr[1] || '0').split(';').map(Number);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) style = {};
      else if (c === 1) style.bold = true;
      else if (c === 2) style.dim = true;
      else if (c === 22) style.bold = style.dim = false;
      else if (c >= 30 && c <= 37) style.fg = PALETTE[c - 30];
      else if (c >= 90 && c <= 97) style.fg = BRIGHT[c - 90];
      else if (c === 39) style.fg = undefined;
      else if (c >= 40 && c <= 47) style.bg = PALETTE[c - 40];
      else if (c === 49) style.bg = undefined;
      else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
        style[c === 38 ? 'fg' : 'bg'] = color256(codes[i + 2]);
        i += 2;
      } else if ((c === 38 || c === 48) && codes[i + 1] === 2) {
        style[c === 38 ? 'fg' : 'bg'] = `rgb(${codes[i + 2]},${codes[i + 3]},${codes[i + 4]})`;
        i += 4;
      }
    }
  }
  return html;
}

const lines = screen.replace(/\s+$/, '').split('\n');
const page = `<!doctype html><meta charset="utf-8"><style>
  body { margin: 0; background: #0e1013; }
  .window { display: inline-block; margin: 16px; border-radius: 8px; overflow: hidden; box-shadow: 0 6px 24px rgba(0,0,0,.5); background: #1d1f21; }
  .bar { height: 28px; background: #2b2e33; display: flex; align-items: center; padding: 0 12px; gap: 8px;
         font: 13px 'DejaVu Sans', sans-serif; color: #9aa0a6; }
  .dot { width: 12px; height: 12px; border-radius: 50%; background: #555; }
  .title { margin-left: 12px; }
  pre { margin: 0; padding: 10px 14px 14px; color: #c5c8c6; font: 14px/1.3 'DejaVu Sans Mono', 'Liberation Mono', monospace;
        width: ${COLUMNS}ch; }
</style><div class="window"><div class="bar"><span class="dot"></span><span class="dot"></span><span class="dot"></span>
<span class="title">semantest-run — ${COLUMNS}×${ROWS}</span></div><pre>${lines.map(toHtml).join('\n')}</pre></div>`;

const browser = await chromium.launch({ executablePath: findChromium(), headless: true });
try {
  const tab = await browser.newPage({ deviceScaleFactor: 2, viewport: { width: 1400, height: 900 } });
  await tab.setContent(page);
  await tab.locator('.window').screenshot({ path: out });
} finally {
  await browser.close();
}
process.stdout.write(`${path.relative(process.cwd(), out)}: ${lines.length} lines captured mid-run\n`);
