// The mock's single page: the ChatGPT page contract of ARCHITECTURE §4 (ProseMirror composer, send/stop
// buttons, conversation turns, "Creating image" with stacked partials, "Image created", download
// button, new-chat link, /c/<id> URLs). All state lives on the server and is followed by long-poll,
// so a reload or a later visit shows what the "model" produced meanwhile. As on the real site, a
// send shows the user message and the stop button at once and the URL becomes /c/<id> only when
// the server answers; a "Recent images" side bar repeats the latest images with the same alt text.

/** One thumbnail of the side bar. */
export interface RecentImage {
  fileId: string;
  alt: string;
}

/** The side bar's alt text for an image of `prompt` (the turn's own says the same for short prompts). */
export function recentAlt(prompt: string): string {
  return `Generated image: ${prompt.slice(0, 40)}`;
}

/** Escapes text for HTML content and (double- or single-quoted) attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function recentItems(recent: readonly RecentImage[]): string {
  return recent
    .map(
      (r) =>
        `<li><img src="/backend-api/estuary/content?id=${escapeHtml(encodeURIComponent(r.fileId))}" alt="${escapeHtml(r.alt)}" width="48" height="48"></li>`,
    )
    .join('');
}

export const LOGIN_BODY = `<div class="auth">
  <h1>Welcome back</h1>
  <p>Log in or sign up to keep chatting.</p>
  <form method="post" action="/__mock/login"><button type="submit" data-testid="login-button">Log in</button></form>
  <p><button type="button" data-testid="signup-button">Sign up</button></p>
</div>`;

export const CHALLENGE_BODY = `<div class="auth">
  <h1>Just a moment...</h1>
  <p>Verify you are human by completing the action below.</p>
  <form method="post" action="/__mock/challenge"><button type="submit">Verify you are human</button></form>
  <p>The site needs to review the security of your connection before proceeding.</p>
</div>`;

const STYLE = `
  body { margin: 0; font: 15px/1.45 system-ui, sans-serif; background: #fff; color: #0d0d0d; display: flex; min-height: 100vh; }
  nav { width: 220px; background: #f9f9f9; padding: 12px; box-sizing: border-box; }
  nav a { display: block; padding: 8px 10px; border-radius: 8px; color: inherit; text-decoration: none; }
  nav a:hover { background: #ececec; }
  nav h2 { font-size: 12px; font-weight: 600; color: #5d5d5d; margin: 18px 10px 6px; }
  #recent-images ul { list-style: none; margin: 0; padding: 0 10px; display: flex; flex-wrap: wrap; gap: 6px; }
  #recent-images img { display: block; width: 48px; height: 48px; object-fit: cover; border-radius: 6px; }
  main { flex: 1; display: flex; flex-direction: column; align-items: center; }
  #thread { width: min(720px, 92%); flex: 1; padding: 16px 0 140px; }
  article { margin: 14px 0; }
  [data-message-author-role="user"] { margin-left: auto; max-width: 70%; background: #f4f4f4; border-radius: 18px; padding: 10px 16px; white-space: pre-wrap; width: fit-content; }
  .image-frame { position: relative; width: 384px; height: 384px; border-radius: 12px; overflow: hidden; background: #eee; margin-top: 6px; }
  .image-frame img { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: cover; }
  .label { color: #5d5d5d; font-size: 14px; }
  .text-error { color: #b42318; border: 1px solid #f3c5c0; background: #fff5f4; border-radius: 10px; padding: 8px 12px; }
  .toast-root { position: fixed; top: 16px; right: 16px; background: #b42318; color: #fff; padding: 10px 14px; border-radius: 10px; }
  form#composer { position: fixed; bottom: 24px; width: min(720px, 92%); display: flex; gap: 8px; align-items: flex-end; background: #f4f4f4; border-radius: 26px; padding: 10px 12px; box-sizing: border-box; }
  #prompt-textarea { flex: 1; min-height: 24px; max-height: 200px; overflow-y: auto; outline: none; padding: 4px 8px; white-space: pre-wrap; }
  #prompt-textarea:empty::before { content: attr(data-placeholder); color: #8f8f8f; }
  form#composer button { width: 36px; height: 36px; border-radius: 50%; border: 0; background: #0d0d0d; color: #fff; cursor: pointer; }
  form#composer button:disabled { background: #d7d7d7; cursor: default; }
  .auth { margin: 15vh auto; text-align: center; }
  .auth button { padding: 10px 22px; border-radius: 22px; border: 1px solid #0d0d0d; background: #0d0d0d; color: #fff; font-size: 15px; cursor: pointer; }
`;

/** A login or challenge page reloads itself once it is cleared (say, solved in another tab). */
const WATCH_BLOCKER = String.raw`
function watchBlocker() {
  const timer = setInterval(async () => {
    try {
      const state = await (await fetch('/__mock/blocker')).json();
      if (!state.blocker) { clearInterval(timer); location.href = '/'; }
    } catch {}
  }, 500);
}
`;

/** The client: plain DOM code, prompt text only ever set through textContent (or an img's alt property). */
const CLIENT = String.raw`
(() => {
  const thread = document.getElementById('thread');
  const form = document.getElementById('composer');
  const editor = document.getElementById('prompt-textarea');
  const recentList = document.querySelector('#recent-images ul');
  let conversationId = document.body.dataset.conversation || null;
  let following = false;
  let signature = '';
  let sending = false; // a send the server has not answered yet
  let generating = false;
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
    if (current && isStop === wantStop) { if (!busy) current.disabled = editor.textContent.trim() === ''; return; }
    const next = busy ? stopButton() : sendButton();
    if (!busy) next.disabled = editor.textContent.trim() === '';
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
  function img(fileId, alt, cls) {
    const i = document.createElement('img');
    i.src = '/backend-api/estuary/content?id=' + encodeURIComponent(fileId);
    i.alt = alt; if (cls) i.className = cls;
    return i;
  }
  function renderTurn(t) {
    const key = JSON.stringify(t);
    const old = rendered.get(t.n);
    if (old && old.key === key) return;
    const user = article(2 * t.n - 1, 'user', (el) => { el.textContent = t.prompt; });
    const assistant = article(2 * t.n, 'assistant', (el) => {
      if (t.status === 'creating') {
        const label = document.createElement('div'); label.className = 'label'; label.textContent = 'Creating image';
        el.appendChild(label);
        const frame = document.createElement('div'); frame.className = 'image-frame';
        for (const p of t.partials) frame.appendChild(img(p, 'Generated image', 'partial'));
        el.appendChild(frame);
      } else if (t.status === 'done') {
        const label = document.createElement('div'); label.className = 'label'; label.textContent = 'Image created';
        el.appendChild(label);
        const frame = document.createElement('div'); frame.className = 'image-frame';
        frame.appendChild(img(t.image, 'Generated image: ' + t.prompt.slice(0, 60)));
        el.appendChild(frame);
        const dl = document.createElement('button'); dl.type = 'button'; dl.setAttribute('aria-label', 'Download this image'); dl.textContent = '⤓';
        dl.addEventListener('click', () => { const a = document.createElement('a'); a.href = '/backend-api/estuary/content?id=' + encodeURIComponent(t.image); a.download = t.image + '.png'; a.click(); });
        el.appendChild(dl);
      } else {
        const text = document.createElement('div');
        text.textContent = t.message;
        if (t.error) text.className = 'text-error';
        el.appendChild(text);
      }
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
  function render(state) {
    for (const t of state.turns) {
      renderTurn(t);
      if (t.error && t.toast && !rendered.get(t.n).toasted) { rendered.get(t.n).toasted = true; toast(t.message); }
    }
    renderRecent(state.recent);
    generating = state.turns.some((t) => t.status === 'creating');
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
    const prompt = editor.innerText.trim();
    if (sending || !button || button.disabled || !prompt) return;
    // At once, as the real site does: the user message, a cleared composer, the stop button.
    sending = true;
    const n = pendingTurn(prompt);
    editor.textContent = '';
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
      const err = document.createElement('div'); err.className = 'text-error'; err.textContent = 'Message delivery timed out. Please try again.';
      thread.appendChild(err);
      toast('Something went wrong. If this issue persists please contact us through our help center.');
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

export function appPage(conversationId: string | null, blocker?: string, recent: readonly RecentImage[] = []): string {
  const conversation = conversationId ? ` data-conversation="${conversationId.replace(/[^A-Za-z0-9-]/g, '')}"` : '';
  const body = blocker ?? `<nav>
    <a data-testid="create-new-chat-button" href="/">New chat</a>
    <section id="recent-images" aria-labelledby="recent-images-title">
      <h2 id="recent-images-title">Recent images</h2>
      <ul>${recentItems(recent)}</ul>
    </section>
  </nav>
  <main>
    <div id="thread" role="presentation"></div>
    <form id="composer" aria-label="Chat composer">
      <div id="prompt-textarea" class="ProseMirror" contenteditable="true" role="textbox" aria-label="Message ChatGPT" data-placeholder="Ask anything" translate="no"></div>
    </form>
  </main>
  <script>${WATCH_BLOCKER}${CLIENT}</script>`;
  const script = blocker ? `<script>${WATCH_BLOCKER}watchBlocker();</script>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ChatGPT (Semantest mock)</title><style>${STYLE}</style></head>
<body${conversation}>
  ${body}${script}
</body></html>`;
}
