// The mock's single page: the ChatGPT page contract of ARCHITECTURE §4, in either column. This file
// holds what both share (login and challenge walls, the side bar's alt text, escaping) and the
// 2024–25 page (ProseMirror composer, send/stop buttons, conversation turns, "Creating image" with
// stacked partials, "Image created", download button, new-chat link, /c/<id> URLs); the 2026 page
// is in page-2026.ts. All state lives on the server and is followed by long-poll, so a reload or a
// later visit shows what the "model" produced meanwhile. As on the real site, a send shows the user
// message and the stop button at once and the URL becomes /c/<id> only when the server answers; a
// "Recent images" side bar repeats the latest images with the same alt text.
import { modernPage } from './page-2026.js';
import { AUTH_STYLE, WATCH_BLOCKER, escapeHtml, scriptJson, type PageOptions, type RecentImage } from './page-common.js';

export { CHALLENGE_BODY, LOGIN_BODY, escapeHtml, recentAlt, type PageOptions, type RecentImage } from './page-common.js';

function recentItems(recent: readonly RecentImage[]): string {
  return recent
    .map(
      (r) =>
        `<li><img src="/backend-api/estuary/content?id=${escapeHtml(encodeURIComponent(r.fileId))}" alt="${escapeHtml(r.alt)}" width="48" height="48"></li>`,
    )
    .join('');
}

/** Class names of the 2024–25 page that churn may change (the contract names none of them). */
const CLASSES_2024 = {
  none: { frame: 'image-frame', label: 'label', banner: 'account-banner' },
  cosmetic: { frame: 'img-wrap-v2', label: 'turn-status-text', banner: 'notice-bar-x' },
} as const;

function style2024(c: { frame: string; label: string; banner: string }): string {
  return `
  body { margin: 0; font: 15px/1.45 system-ui, sans-serif; background: #fff; color: #0d0d0d; display: flex; min-height: 100vh; }
  body > .shell, body > .shell > .shell-inner { display: contents; }
  nav { width: 220px; background: #f9f9f9; padding: 12px; box-sizing: border-box; order: -1; }
  nav a { display: block; padding: 8px 10px; border-radius: 8px; color: inherit; text-decoration: none; }
  nav a:hover { background: #ececec; }
  nav h2 { font-size: 12px; font-weight: 600; color: #5d5d5d; margin: 18px 10px 6px; }
  #recent-images ul { list-style: none; margin: 0; padding: 0 10px; display: flex; flex-wrap: wrap; gap: 6px; }
  #recent-images img { display: block; width: 48px; height: 48px; object-fit: cover; border-radius: 6px; }
  main { flex: 1; display: flex; flex-direction: column; align-items: center; }
  #thread { width: min(720px, 92%); flex: 1; padding: 16px 0 140px; }
  article { margin: 14px 0; }
  [data-message-author-role="user"] { margin-left: auto; max-width: 70%; background: #f4f4f4; border-radius: 18px; padding: 10px 16px; white-space: pre-wrap; width: fit-content; }
  .${c.frame} { position: relative; width: 384px; height: 384px; border-radius: 12px; overflow: hidden; background: #eee; margin-top: 6px; }
  .${c.frame} img { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: cover; }
  .${c.label} { color: #5d5d5d; font-size: 14px; }
  .${c.banner} { position: fixed; top: 0; left: 0; right: 0; background: #fff4e5; color: #5c3b00; padding: 10px 16px; text-align: center; z-index: 10; }
  .text-error { color: #b42318; border: 1px solid #f3c5c0; background: #fff5f4; border-radius: 10px; padding: 8px 12px; }
  .toast-root { position: fixed; top: 16px; right: 16px; background: #b42318; color: #fff; padding: 10px 14px; border-radius: 10px; }
  form#composer { position: fixed; bottom: 24px; width: min(720px, 92%); display: flex; gap: 8px; align-items: flex-end; background: #f4f4f4; border-radius: 26px; padding: 10px 12px; box-sizing: border-box; }
  #prompt-textarea, form#composer input[name="q"] { flex: 1; min-height: 24px; max-height: 200px; overflow-y: auto; outline: none; padding: 4px 8px; white-space: pre-wrap; border: 0; background: transparent; font: inherit; }
  #prompt-textarea:empty::before { content: attr(data-placeholder); color: #8f8f8f; }
  form#composer button { width: 36px; height: 36px; border-radius: 50%; border: 0; background: #0d0d0d; color: #fff; cursor: pointer; }
  form#composer button:disabled { background: #d7d7d7; cursor: default; }
  ${AUTH_STYLE}
`;
}

/** The 2024–25 client: plain DOM code, prompt text only ever set through textContent (or an img's alt property). */
const CLIENT_2024 = String.raw`
(() => {
  const cfg = window.__mockPage;
  const C = cfg.classes;
  const thread = document.getElementById('thread');
  const form = document.getElementById('composer');
  // Churn 'breaking' replaces the composer with a plain input the contract does not name.
  const editor = document.getElementById('prompt-textarea') || form.querySelector('input[name="q"]');
  const isInput = editor.tagName === 'INPUT';
  const editorText = () => (isInput ? editor.value : editor.innerText);
  const clearEditor = () => { if (isInput) editor.value = ''; else editor.textContent = ''; };
  const recentList = document.querySelector('#recent-images ul');
  let conversationId = document.body.dataset.conversation || null;
  let following = false;
  let signature = '';
  let sending = false; // a send the server has not answered yet
  let generating = false;
  let broken = false; // the account did not load: nothing sends until the page is reloaded
  const rendered = new Map(); // turn n → { key, user, assistant }

  function sendButton() {
    const b = document.createElement('button');
    b.type = 'submit'; b.id = 'composer-submit-button';
    b.setAttribute('data-testid', 'send-button'); b.setAttribute('aria-label', 'Send prompt');
    b.textContent = '↑';
    return b;
  }
  function stopButton() {
    const b = document.createElement('button');
    b.type = 'button'; b.setAttribute('data-testid', 'stop-button'); b.setAttribute('aria-label', 'Stop streaming');
    b.textContent = '■';
    return b;
  }
  function setBusy(busy) {
    const current = form.querySelector('button');
    const wantStop = busy;
    const isStop = current && current.getAttribute('data-testid') === 'stop-button';
    if (current && isStop === wantStop) { if (!busy) current.disabled = editorText().trim() === ''; return; }
    const next = busy ? stopButton() : sendButton();
    if (!busy) next.disabled = editorText().trim() === '';
    if (current) current.replaceWith(next); else form.appendChild(next);
  }
  editor.addEventListener('input', () => setBusy(form.querySelector('[data-testid="stop-button"]') !== null));
  editor.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });

  function article(n, role, fill) {
    const a = document.createElement('article');
    a.setAttribute('data-testid', 'conversation-turn-' + n);
    const inner = document.createElement('div');
    inner.setAttribute('data-message-author-role', role);
    fill(inner);
    a.appendChild(inner);
    return a;
  }
  function img(fileId, alt, cls, url) {
    const i = document.createElement('img');
    i.src = url || '/backend-api/estuary/content?id=' + encodeURIComponent(fileId);
    i.alt = alt; if (cls) i.className = cls;
    return i;
  }
  /** The frame takes the image's shape (384 px on its long side), so the picture shows whole. */
  function frame(t) {
    const f = document.createElement('div'); f.className = C.frame;
    const w = t.width || 1, h = t.height || 1, k = 384 / Math.max(w, h);
    if (t.width && t.height) { f.style.width = Math.round(w * k) + 'px'; f.style.height = Math.round(h * k) + 'px'; }
    return f;
  }
  function renderTurn(t) {
    const key = JSON.stringify(t);
    const old = rendered.get(t.n);
    if (old && old.key === key) return;
    const user = article(2 * t.n - 1, 'user', (el) => { el.textContent = t.prompt; });
    const assistant = article(2 * t.n, 'assistant', (el) => {
      if (t.status === 'creating') {
        const label = document.createElement('div'); label.className = C.label; label.textContent = 'Creating image';
        el.appendChild(label);
        const f = frame(t);
        for (const p of t.partials) f.appendChild(img(p, 'Generated image', 'partial'));
        el.appendChild(f);
      } else if (t.status === 'done') {
        const label = document.createElement('div'); label.className = C.label; label.textContent = 'Image created';
        el.appendChild(label);
        const f = frame(t);
        f.appendChild(img(t.image, 'Generated image: ' + t.prompt.slice(0, 60), '', t.url));
        el.appendChild(f);
        const dl = document.createElement('button'); dl.type = 'button'; dl.setAttribute('aria-label', 'Download this image'); dl.textContent = '⤓';
        dl.addEventListener('click', () => { const a = document.createElement('a'); a.href = t.url || '/backend-api/estuary/content?id=' + encodeURIComponent(t.image); a.download = t.image + '.png'; a.click(); });
        el.appendChild(dl);
      } else if (t.status === 'message') {
        const text = document.createElement('div');
        text.textContent = t.message;
        if (t.error) text.className = 'text-error';
        el.appendChild(text);
      }
      // 'thinking' (a text answer on its way) and 'notice' (the answer never comes; a toast says why): empty.
    });
    if (old) { old.user.replaceWith(user); old.assistant.replaceWith(assistant); }
    else { thread.appendChild(user); thread.appendChild(assistant); }
    rendered.set(t.n, { key, user, assistant });
  }
  /** The send as the page shows it before the server answers: the user message and an empty answer. */
  function pendingTurn(prompt) {
    const n = rendered.size + 1;
    const user = article(2 * n - 1, 'user', (el) => { el.textContent = prompt; });
    const assistant = article(2 * n, 'assistant', () => {});
    thread.appendChild(user); thread.appendChild(assistant);
    rendered.set(n, { key: 'pending', user, assistant });
    return n;
  }
  function recentKeyOfDom() {
    if (!recentList) return '';
    return JSON.stringify(Array.from(recentList.querySelectorAll('img'), (i) => ({ fileId: new URL(i.src).searchParams.get('id'), alt: i.alt })));
  }
  let recentKey = recentKeyOfDom();
  function renderRecent(recent) {
    if (!recentList || !Array.isArray(recent)) return;
    const key = JSON.stringify(recent);
    if (key === recentKey) return;
    recentKey = key;
    recentList.replaceChildren(...recent.map((r) => {
      const li = document.createElement('li');
      const i = img(r.fileId, r.alt); i.width = 48; i.height = 48;
      li.appendChild(i);
      return li;
    }));
  }
  function toast(message) {
    const t = document.createElement('div'); t.className = 'toast-root'; t.setAttribute('role', 'status'); t.textContent = message;
    document.body.appendChild(t);
    setTimeout(() => t.remove(), 8000);
  }
  function accountBanner(message) {
    broken = true;
    if (document.querySelector('.' + C.banner)) return;
    const b = document.createElement('div'); b.className = C.banner; b.setAttribute('role', 'alert');
    const text = document.createElement('span'); text.textContent = message + ' ';
    const reload = document.createElement('button'); reload.type = 'button'; reload.textContent = 'Reload';
    reload.addEventListener('click', () => location.reload());
    b.append(text, reload);
    document.body.prepend(b);
  }
  function render(state) {
    for (const t of state.turns) {
      renderTurn(t);
      const r = rendered.get(t.n);
      if (t.toast && !r.toasted) { r.toasted = true; toast(t.message); }
    }
    renderRecent(state.recent);
    generating = state.turns.some((t) => t.status === 'creating' || t.status === 'thinking');
    setBusy(sending || generating);
  }
  async function follow() {
    if (following || !conversationId) return;
    following = true;
    try {
      while (generating) {
        let res = null;
        try { res = await fetch('/backend-api/conversation/' + conversationId + '?since=' + encodeURIComponent(signature)); } catch {}
        if (!res || !res.ok) { await new Promise((r) => setTimeout(r, 500)); continue; }
        const state = await res.json();
        signature = state.signature;
        render(state);
        if (state.reload) { location.reload(); return; }
      }
    } finally { following = false; }
  }
  function blocker(html) { document.body.innerHTML = html; watchBlocker(); }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = form.querySelector('[data-testid="send-button"]');
    const prompt = editorText().trim();
    if (sending || !button || button.disabled || !prompt) return;
    if (broken) { accountBanner(cfg.accountMessage); return; }
    // At once, as the real site does: the user message, a cleared composer, the stop button.
    sending = true;
    const n = pendingTurn(prompt);
    clearEditor();
    setBusy(true);
    let res = null;
    let body = null;
    try {
      res = await fetch('/backend-api/conversation', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ conversation_id: conversationId, prompt }) });
      body = await res.json().catch(() => null);
    } catch { res = null; }
    sending = false;
    if (body && body.blocker) { blocker(body.blocker); return; }
    if (!res || !res.ok || !body || !body.state) {
      // The message stays in the thread, its answer never came.
      const pending = rendered.get(n);
      if (pending && pending.key === 'pending') { pending.assistant.remove(); rendered.delete(n); }
      if (res && body && body.code === 'account_unavailable') accountBanner(body.detail);
      else if (res && body && body.detail && (res.status === 403 || res.status === 429)) toast(body.detail);
      else {
        const err = document.createElement('div'); err.className = 'text-error'; err.textContent = 'Message delivery timed out. Please try again.';
        thread.appendChild(err);
        toast('Something went wrong. If this issue persists please contact us through our help center.');
      }
      setBusy(generating);
      return;
    }
    // Only now does the page know its conversation, and its URL.
    if (!conversationId) { conversationId = body.conversation_id; history.pushState({}, '', '/c/' + conversationId); }
    signature = body.state.signature;
    render(body.state);
    if (body.state.reload) { location.reload(); return; }
    follow();
  });
  window.addEventListener('popstate', () => location.reload());
  setBusy(false);
  if (conversationId) {
    fetch('/backend-api/conversation/' + conversationId).then((r) => r.ok ? r.json() : null).then((state) => {
      if (!state) return;
      signature = state.signature;
      render(state);
      if (state.reload) { location.reload(); return; }
      follow();
    }).catch(() => {});
  }
})();
`;

function page2024(conversation: string, blocker: string | undefined, recent: readonly RecentImage[], opts: PageOptions): string {
  const classes = CLASSES_2024[opts.churn === 'cosmetic' ? 'cosmetic' : 'none'];
  const editor =
    opts.churn === 'breaking'
      ? `<input type="text" name="q" autocomplete="off" aria-label="Your message">`
      : `<div id="prompt-textarea" class="ProseMirror" contenteditable="true" role="textbox" aria-label="Message ChatGPT" data-placeholder="Ask anything" translate="no"></div>`;
  const nav = `<nav>
    <a data-testid="create-new-chat-button" href="/">New chat</a>
    <section id="recent-images" aria-labelledby="recent-images-title">
      <h2 id="recent-images-title">Recent images</h2>
      <ul>${recentItems(recent)}</ul>
    </section>
  </nav>`;
  const main = `<main>
    <div id="thread" role="presentation"></div>
    <form id="composer" aria-label="Chat composer">
      ${editor}
    </form>
  </main>`;
  const config = { classes, accountMessage: "We couldn't load your account." };
  const script = `<script>window.__mockPage = ${scriptJson(config)};${WATCH_BLOCKER}${CLIENT_2024}</script>`;
  // Cosmetic churn: the main pane before the side bar (CSS keeps it on the left), one more level of wrappers.
  const app = opts.churn === 'cosmetic' ? `<div class="shell"><div class="shell-inner">${main}</div></div>\n  ${nav}` : `${nav}\n  ${main}`;
  const body = blocker ? `${blocker}<script>${WATCH_BLOCKER}watchBlocker();</script>` : `${app}\n  ${script}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ChatGPT (Semantest mock)</title><style>${style2024(classes)}</style></head>
<body${conversation}>
  ${body}
</body></html>`;
}

/** The whole page for `/` or `/c/<id>`: the app, or (with `blocker`) a login or challenge wall. */
export function appPage(
  conversationId: string | null,
  blocker?: string,
  recent: readonly RecentImage[] = [],
  opts: PageOptions = { dom: '2024', churn: 'none', imageTool: true },
): string {
  const conversation = conversationId ? ` data-conversation="${conversationId.replace(/[^A-Za-z0-9-]/g, '')}"` : '';
  return opts.dom === '2024' ? page2024(conversation, blocker, recent, opts) : modernPage(conversation, blocker, recent, opts);
}
