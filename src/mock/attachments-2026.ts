// The 2026 page's attachments (ARCHITECTURE §4, "Attachments"): the composer's file inputs, a tile
// per file that is busy while its bytes upload to /backend-api/files, Send disabled meanwhile,
// renamed duplicates, the "Failed upload" banner, and a decoy input outside the form that drops
// what it is given. A fragment of the 2026 client (page-2026.ts): it runs inside the client's
// closure and uses its `el`, `form`, `cfg`, `submit` and `updateButton`.

/** The markup of the two composers: inputs inside the form, and the tray the tiles go in. */
export function attachmentMarkup(composer: 'mid-2026' | 'sep-2026'): { formAttr: string; inputs: string; tray: string; decoy: string } {
  const sep = composer === 'sep-2026';
  return {
    formAttr: sep ? ' data-chatgpt-composer=""' : '',
    inputs: sep
      ? `<input type="file" multiple hidden tabindex="-1" aria-label="Attach files"><input type="file" multiple hidden tabindex="-1" accept="image/*" aria-label="Attach photos">`
      : `<input type="file" multiple hidden tabindex="-1" id="upload-files"><input type="file" multiple hidden tabindex="-1" accept="image/*" id="upload-photos">`,
    tray: `<div class="composer-attachments" data-composer-attachments="" data-visible-attachments=""></div>`,
    // Outside the form, like the real page's stray photo input: whatever it is given goes nowhere.
    decoy: `<input type="file" multiple hidden tabindex="-1" accept="image/*" class="stray-upload">`,
  };
}

export const ATTACHMENT_STYLE = `
  .composer-attachments { display: flex; flex-wrap: wrap; gap: 6px; }
  .composer-attachments > * { display: inline-flex; align-items: center; gap: 4px; border: 1px solid #d0d0d0; border-radius: 12px; padding: 4px 8px; font-size: 13px; background: #fff; }
  .composer-attachments > [aria-busy="true"] { opacity: .6; }
  .composer-attachments button { border: 0; background: transparent; font: inherit; cursor: pointer; }
  .upload-banner { color: #b42318; background: #fff5f4; border: 1px solid #f3c5c0; border-radius: 10px; padding: 6px 10px; margin-bottom: 6px; font-size: 14px; }
  .user-attachments { display: flex; gap: 6px; justify-content: flex-end; margin-bottom: 6px; }
  .user-attachments button { border: 0; padding: 0; background: transparent; cursor: pointer; }
  .user-attachments img { display: block; width: 96px; height: 96px; object-fit: cover; border-radius: 12px; }
  #composer-submit-button:disabled { opacity: .4; cursor: default; }
`;

/** Client code: defines attachedFiles(), uploadsBusy(), takeAttachments() and clearAttachments(). */
export const ATTACHMENT_CLIENT = String.raw`
  // ── Attachments: files given to the form's inputs become tiles; each uploads, busy until done.
  const FAILED_UPLOAD = 'Failed upload to files.oaiusercontent.com';
  const sepComposer = cfg.composer !== 'mid-2026';
  const tray = form.querySelector('[data-composer-attachments]');
  const attached = []; // { name, alt, tile, remove, busy, fileId, url, abort }
  let banner = null;
  const uploadsBusy = () => attached.some((a) => a.busy);
  function uniqueName(name) {
    const taken = new Set(attached.map((a) => a.name));
    if (!taken.has(name)) return name;
    const dot = name.lastIndexOf('.');
    const stem = dot > 0 ? name.slice(0, dot) : name;
    const ext = dot > 0 ? name.slice(dot) : '';
    for (let k = 1; ; k++) { const n = stem + '(' + k + ')' + ext; if (!taken.has(n)) return n; }
  }
  function showBanner(text) {
    if (banner) banner.remove();
    banner = el('div', 'upload-banner', { role: 'alert' }, text);
    tray.before(banner);
    const mine = banner;
    setTimeout(() => { mine.remove(); if (banner === mine) banner = null; }, 8000);
  }
  function renumber() {
    if (!sepComposer) attached.forEach((a, i) => a.remove.setAttribute('aria-label', 'Remove file ' + (i + 1) + ': ' + a.name));
  }
  function setBusy(a, busy) {
    a.busy = busy;
    if (busy) { a.tile.setAttribute('aria-busy', 'true'); a.tile.setAttribute('data-inline-file-uploading', ''); }
    else { a.tile.removeAttribute('aria-busy'); a.tile.removeAttribute('data-inline-file-uploading'); }
    updateButton();
  }
  function dropAttachment(a) {
    a.abort.abort();
    a.tile.remove();
    const i = attached.indexOf(a);
    if (i >= 0) attached.splice(i, 1);
    renumber();
    updateButton();
  }
  function addTile(a) {
    a.tile = el(sepComposer ? 'span' : 'div', sepComposer ? 'group/composer-attachment' : 'group/file-tile');
    const open = el('button', null, { type: 'button' }, a.name);
    a.remove = el('button', null, { type: 'button', 'aria-label': 'Remove ' + a.name }, '×');
    a.remove.addEventListener('click', () => dropAttachment(a));
    a.tile.append(open, a.remove);
    tray.appendChild(a.tile);
    attached.push(a);
    renumber();
    setBusy(a, true);
  }
  /** One file: its bytes go up at once; the tile shows as soon as the site has taken them, busy until done. */
  async function takeFile(file) {
    if (file.size > cfg.uploadMaxBytes) { showBanner(FAILED_UPLOAD + ': ' + file.name + ' is larger than 20 MB'); return; }
    const abort = new AbortController();
    let res = null;
    try {
      res = await fetch('/backend-api/files', { method: 'POST', body: file, signal: abort.signal, headers: { 'content-type': file.type || 'application/octet-stream', 'x-file-name': encodeURIComponent(file.name) } });
    } catch {}
    if (!res || !res.ok) { showBanner(FAILED_UPLOAD); return; }
    if (res.headers.get('x-mock-upload') === 'dropped') return; // silently: no tile, no banner
    const a = { name: uniqueName(file.name), abort, busy: true };
    addTile(a);
    (async () => {
      let body = null;
      try { body = await res.json(); } catch {}
      if (abort.signal.aborted || !attached.includes(a)) return;
      if (!body || !body.file_id) { dropAttachment(a); showBanner(FAILED_UPLOAD); return; }
      a.fileId = body.file_id; a.url = body.url; a.alt = body.name;
      setBusy(a, false);
    })();
  }
  async function takeAttachments(input) {
    const files = Array.from(input.files || []);
    // Taken: the input is emptied, so a filled input proves nothing.
    input.value = '';
    if (banner) { banner.remove(); banner = null; }
    for (const f of files) await takeFile(f); // in order, so the tiles are in the order given
  }
  for (const input of form.querySelectorAll('input[type=file]')) input.addEventListener('change', () => takeAttachments(input));
  for (const input of document.querySelectorAll('input[type=file].stray-upload')) input.addEventListener('change', () => { input.value = ''; });
  /** What a send carries: the done attachments as the user turn shows them; the composer is emptied. */
  function clearAttachments() {
    const sent = attached.filter((a) => !a.busy && a.fileId).map((a) => ({ name: a.alt, id: a.fileId, url: a.url }));
    for (const a of attached.slice()) dropAttachment(a);
    return sent;
  }
  function refusedSend() {
    fetch('/__mock/refused-send', { method: 'POST' }).catch(() => {});
  }
`;
