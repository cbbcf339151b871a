// A minimal page with the composer's attachment contract of DESIGN §4 "attachments" (both the
// mid-2026 and the September 2026 tiles), for driving the real content script in Chromium while the
// mock's own attachments are not there. Query: composer=sep|mid, markup=2026|2024, fault=fail|never|
// drop|none, uploadMs. It records what it received and what was sent in `window.__attachLog`.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

const PAGE = String.raw`<!doctype html><html><head><title>attach</title></head><body>
<main id="thread"></main>
<!-- A decoy outside the composer form: it drops whatever it is given (and says so in the log). -->
<input type="file" accept="image/*" id="decoy" style="display:none">
<form data-chatgpt-composer>
  <input type="file" multiple style="display:none" class="files">
  <input type="file" multiple accept="image/*" style="display:none" class="photos">
  <div data-composer-attachments data-visible-attachments></div>
  <div id="prompt-textarea" contenteditable="true" role="textbox"></div>
  <button type="button" data-testid="send-button" aria-label="Send prompt" disabled>Send</button>
</form>
<script>
const q = new URLSearchParams(location.search);
const composer = q.get('composer') || 'sep', markup = q.get('markup') || '2026', fault = q.get('fault') || 'none';
const uploadMs = Number(q.get('uploadMs') || 300);
const log = window.__attachLog = { received: [], sends: [], decoy: 0, busyAtSend: [] };
const form = document.querySelector('form'), tiles = document.querySelector('[data-composer-attachments]');
const box = document.getElementById('prompt-textarea'), send = document.querySelector('[data-testid=send-button]');
const files = form.querySelector('.files'), photos = form.querySelector('.photos');
if (composer === 'mid') { files.id = 'upload-files'; photos.id = 'upload-photos'; }
else { files.setAttribute('aria-label', 'Attach files'); photos.setAttribute('aria-label', 'Attach photos'); }
document.getElementById('decoy').addEventListener('change', (e) => { log.decoy += e.target.files.length; e.target.value = ''; });
const seen = new Map(); const attached = []; let busy = 0; let turns = 0;
function refresh() {
  const ready = box.textContent.trim().length > 0 && busy === 0;
  // The mid-2026 composer says disabled with aria-disabled, the September one with the attribute.
  if (composer === 'mid') { send.disabled = false; send.setAttribute('aria-disabled', String(!ready)); } else send.disabled = !ready;
}
box.addEventListener('input', refresh);
async function take(input) {
  const list = [...input.files];
  input.value = ''; // the page clears the input once it took the files
  for (const [i, file] of list.entries()) {
    const digest = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', await file.arrayBuffer()))).map((b) => b.toString(16).padStart(2, '0')).join('');
    log.received.push({ name: file.name, type: file.type, size: file.size, sha256: digest });
    if (fault === 'drop' && i === list.length - 1) continue;
    const n = seen.get(file.name) || 0; seen.set(file.name, n + 1);
    const shown = n === 0 ? file.name : file.name.replace(/(\.\w+)$/, composer === 'mid' ? '(' + n + ')$1' : '(20260920-15270' + n + ')$1');
    const tile = document.createElement(composer === 'mid' ? 'div' : 'span');
    tile.className = composer === 'mid' ? 'group/file-tile' : 'group/composer-attachment';
    const index = attached.length + 1;
    tile.innerHTML = composer === 'mid'
      ? '<span></span><button type="button"></button>'
      : '<button type="button" class="name"></button><button type="button" class="remove"></button>';
    if (composer === 'mid') { tile.firstChild.textContent = shown; tile.lastChild.setAttribute('aria-label', 'Remove file ' + index + ': ' + shown); }
    else { tile.firstChild.textContent = shown; tile.firstChild.setAttribute('aria-label', shown); tile.lastChild.setAttribute('aria-label', 'Remove ' + shown); }
    tile.setAttribute(composer === 'mid' ? 'data-inline-file-uploading' : 'aria-busy', 'true');
    tiles.append(tile); attached.push({ name: file.name, shown, tile }); busy++; refresh();
    if (fault === 'never' && i === list.length - 1) continue; // the last file's upload hangs
    setTimeout(() => {
      if (fault === 'fail') {
        tile.remove(); busy--; refresh();
        const banner = document.createElement('div'); banner.setAttribute('role', 'alert');
        banner.textContent = 'Failed upload to files.oaiusercontent.com'; document.body.append(banner);
        return;
      }
      tile.removeAttribute('aria-busy'); tile.removeAttribute('data-inline-file-uploading'); busy--; refresh();
    }, uploadMs);
  }
}
files.addEventListener('change', () => take(files));
photos.addEventListener('change', () => take(photos));
send.addEventListener('click', () => {
  if (send.disabled || send.getAttribute('aria-disabled') === 'true') return;
  const prompt = box.textContent; const sent = attached.splice(0);
  log.sends.push({ prompt, files: sent.map((a) => a.name), shown: sent.map((a) => a.shown), busy });
  box.textContent = ''; tiles.textContent = ''; refresh();
  const user = turn('user');
  const text = document.createElement('div'); text.textContent = prompt;
  // The references show in the user turn, from the same estuary URLs as generated images; a file
  // named like a generated image gets its alt, so only the turn can tell them apart.
  for (const [i, a] of sent.entries()) {
    const b = document.createElement('button'); b.setAttribute('aria-haspopup', 'dialog');
    const img = document.createElement('img'); img.alt = a.name; img.src = '/backend-api/estuary/content?id=file_ref' + turns + '_' + i + '&size=900';
    b.append(img); (markup === '2024' ? user.article : user.message).append(b);
  }
  user.message.append(text);
  const refSrcs = [...user.article.querySelectorAll('img')].map((img) => img.getAttribute('src'));
  setTimeout(() => {
    const answer = turn('assistant');
    if (q.get('answer') === 'echo') {
      // The answer only shows the user's own reference again (same file id), under a generated-looking alt.
      const img = document.createElement('img'); img.alt = 'Generated image: yours'; img.src = refSrcs[0];
      const words = document.createElement('p'); words.textContent = 'Here is the picture you sent.';
      answer.message.append(img, words); return;
    }
    const holder = document.createElement('div'); holder.id = 'image-gen' + turns;
    const img = document.createElement('img'); img.alt = 'Generated image: panel'; img.src = '/backend-api/estuary/content?id=file_gen' + turns + '&size=512';
    holder.append(img); answer.message.append(holder);
    const done = document.createElement('p'); done.textContent = 'Image created'; answer.message.append(done);
  }, 200);
});
function turn(role) {
  turns++;
  if (markup === '2024') {
    const article = document.createElement('article'); article.setAttribute('data-testid', 'conversation-turn-' + turns);
    const message = document.createElement('div'); message.setAttribute('data-message-author-role', role);
    article.append(message); document.getElementById('thread').append(article); return { article, message };
  }
  const section = document.createElement('section'); section.setAttribute('data-turn', role); section.setAttribute('data-turn-id', 't' + turns);
  document.getElementById('thread').append(section); return { article: section, message: section };
}
</script></body></html>`;

export interface AttachPage {
  url: string;
  close(): Promise<void>;
}

/** Serves the page and square PNGs at the estuary path (`size` wide: the references are the larger). */
export async function startAttachPage(): Promise<AttachPage> {
  const pngs = new Map<string, Buffer>();
  // Generated images are gradients (a verified panel may not be blank); references are flat.
  const png = async (size: number, generated: boolean) => {
    const key = `${size}:${generated}`;
    if (!pngs.has(key)) {
      const pixels = Buffer.alloc(size * size * 3);
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) pixels.set([(x * 255) / size, (y * 255) / size, generated ? 128 : 40], (y * size + x) * 3);
      const image = generated ? sharp(pixels, { raw: { width: size, height: size, channels: 3 } }) : sharp({ create: { width: size, height: size, channels: 3, background: { r: 200, g: 90, b: 160 } } });
      pngs.set(key, await image.png().toBuffer());
    }
    return pngs.get(key)!;
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/backend-api/estuary/content') {
      const size = Math.min(1200, Math.max(16, Number(url.searchParams.get('size')) || 300));
      void png(size, (url.searchParams.get('id') ?? '').startsWith('file_gen')).then((bytes) => res.writeHead(200, { 'content-type': 'image/png' }).end(bytes));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
