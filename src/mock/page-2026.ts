// The 2026 page of the mock (ARCHITECTURE §4, the "2026" column): a ProseMirror composer with a
// placeholder paragraph, one `#composer-submit-button` that is "Start Voice", "Send prompt" or "Stop
// answering" by state, the "+" menu with "Create image", the image pill and the aspect control,
// turns as `section[data-turn]` in `div[data-turn-id-container]`, image turns without an author role
// holding `div.group/imagegen-image#image-<uuid>` (the visible image and two aria-hidden copies,
// signed srcs or, in '2026-blob', `blob:` ones), "Creating image 42%", "Image created", and the 2026
// failure wordings, toasts in `[role="alert"]`.
//
// Churn: 'cosmetic' renames every class the contract does not name, wraps deeper, puts the main pane
// before the side bar, and switches to the "later" variants (bare `div.ProseMirror` composer named
// "Chat with ChatGPT", a plain button "Create image" / "Visualize anything" in the menu, the
// "Remove Create image" pill, the busy notice in a polite live region); 'breaking' replaces the
// composer with an input none of the contract's composer anchors match.
import { ASPECT_LABELS, NOTICES } from './answers.js';
import { ATTACHMENT_CLIENT, ATTACHMENT_STYLE, attachmentMarkup } from './attachments-2026.js';
import { AUTH_STYLE, CHOICE_WORDS, UPLOAD_MAX_BYTES, WATCH_BLOCKER, escapeHtml, scriptJson, type PageOptions, type RecentImage } from './page-common.js';

/**
 * Class names per churn. The first word of each is what the stylesheet and the client itself look
 * for; the contract names none of them (`group/imagegen-image` is added by the client, in every churn).
 */
const CLASSES = {
  none: {
    shell: 'app-shell flex h-full w-full',
    nav: 'sidebar bg-token-sidebar-surface-primary',
    main: 'main-pane relative flex-1',
    thread: 'thread-scroll flex flex-col text-sm',
    dock: 'composer-dock sticky bottom-0',
    form: 'composer-form w-full',
    surface: 'composer-surface bg-token-bg-primary rounded-[28px]',
    editorWrap: 'composer-editor max-h-52 overflow-auto',
    footer: 'composer-footer flex items-center',
    leading: 'composer-leading flex',
    tools: 'composer-tools flex gap-1',
    trailing: 'composer-trailing ms-auto',
    roundBtn: 'composer-btn h-9 w-9 rounded-full',
    turn: 'turn-container text-token-text-primary w-full',
    section: 'turn-messages group/turn-messages',
    user: 'user-message flex justify-end',
    bubble: 'user-bubble user-message-bubble-color rounded-[18px] px-4 py-1.5',
    assistant: 'assistant-message min-h-8',
    markdown: 'markdown prose w-full break-words',
    cursor: 'stream-cursor',
    imageTurn: 'imagegen-turn flex flex-col',
    status: 'imagegen-status text-token-text-secondary',
    frame: 'imagegen-frame relative overflow-hidden rounded-lg',
    backdrop: 'imagegen-backdrop absolute blur-2xl',
    holder: 'imagegen-holder relative z-1',
    visible: 'imagegen-visible w-full',
    layer: 'imagegen-layer absolute opacity-0',
    actions: 'turn-actions flex gap-1',
    failed: 'imagegen-failed text-token-text-error',
    retry: 'retry-btn btn btn-secondary',
    inlineError: 'delivery-error text-token-text-error',
    toasts: 'toast-region fixed end-4 top-4',
    toast: 'toast-item rounded-xl',
    banner: 'account-banner bg-yellow-50',
    menu: 'popover-menu min-w-60 rounded-2xl',
    item: 'menu-item flex gap-2',
    itemTitle: 'menu-item-title',
    sub: 'menu-item-sub text-token-text-tertiary',
    pill: 'composer-pill rounded-full',
    aspect: 'aspect-control rounded-full',
    wrap: ['msg-wrap flex w-full'],
  },
  cosmetic: {
    shell: '_shell_q81 relative',
    nav: '_rail_3kd z-21',
    main: '_pane_8xv grow',
    thread: '_conv_m2p flex-col',
    dock: '_dock_u7c',
    form: '_cmp_j4e group',
    surface: '_surf_aa1 shadow-short',
    editorWrap: '_ed_p0z',
    footer: '_foot_6yh grid',
    leading: '_lead_2tw',
    tools: '_chips_9ba',
    trailing: '_trail_k1n',
    roundBtn: '_rbtn_c5d',
    turn: '_turn_0fx',
    section: '_msgs_h3r',
    user: '_u_77q',
    bubble: '_ub_5nn whitespace-pre-wrap',
    assistant: '_a_e9t',
    markdown: '_md_v6s markdown-new-styling',
    cursor: '_caret_2ka',
    imageTurn: '_igt_b8m',
    status: '_igs_4rt text-sm',
    frame: '_igf_z1c',
    backdrop: '_igb_x3w',
    holder: '_igh_r5j',
    visible: '_igv_n2q',
    layer: '_igl_t8y',
    actions: '_act_c4l',
    failed: '_igx_d7s',
    retry: '_rty_f2g',
    inlineError: '_derr_9kq',
    toasts: '_tst_r8u',
    toast: '_ti_b5e',
    banner: '_bnr_w6o',
    menu: '_pop_l1h',
    item: '_mi_y2c',
    itemTitle: '_mit_o4k',
    sub: '_mis_e8d',
    pill: '_pill_s3v',
    aspect: '_ar_k7m',
    wrap: ['_w1_a9f', '_w2_p4c flex', '_w3_j6n'],
  },
} as const;

type Classes = (typeof CLASSES)[keyof typeof CLASSES];
const first = (cls: string) => cls.split(' ')[0];

function style(c: Classes): string {
  const d = (key: Exclude<keyof Classes, 'wrap'>) => `.${first(c[key])}`;
  return `
  body { margin: 0; font: 15px/1.5 system-ui, sans-serif; background: #fff; color: #0d0d0d; }
  ${d('shell')} { display: flex; min-height: 100vh; }
  ${d('nav')} { width: 240px; flex-shrink: 0; background: #f9f9f9; padding: 12px; box-sizing: border-box; order: -1; }
  ${d('nav')} a { display: block; padding: 8px 10px; border-radius: 8px; color: inherit; text-decoration: none; }
  ${d('nav')} h2 { font-size: 12px; font-weight: 600; color: #5d5d5d; margin: 18px 10px 6px; }
  #recent-images ul { list-style: none; margin: 0; padding: 0 10px; display: flex; flex-wrap: wrap; gap: 6px; }
  #recent-images img { display: block; width: 48px; height: 48px; object-fit: cover; border-radius: 6px; }
  ${d('main')} { flex: 1; min-width: 0; display: flex; flex-direction: column; align-items: center; }
  ._mw_q3e, ._mw2_r7t { display: contents; }
  ${d('thread')} { width: min(760px, 92%); flex: 1; padding: 16px 0 40px; }
  ${d('turn')} { margin: 18px 0; }
  .sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0; }
  ${d('user')} { display: flex; justify-content: flex-end; }
  ${d('bubble')} { background: #f4f4f4; border-radius: 18px; padding: 10px 16px; max-width: 70%; white-space: pre-wrap; }
  ${d('cursor')}::after { content: '●'; color: #5d5d5d; }
  ${d('status')} { color: #5d5d5d; font-size: 14px; margin-bottom: 6px; }
  ${d('frame')} { position: relative; overflow: hidden; border-radius: 16px; background: #ececec; }
  ${d('backdrop')} { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: cover; filter: blur(24px); transform: scale(1.1); }
  ${d('holder')} { position: relative; width: 100%; height: 100%; }
  ${d('visible')} { display: block; width: 100%; height: 100%; }
  ${d('layer')} { position: absolute; inset: 0; width: 100%; height: 100%; opacity: 0; pointer-events: none; }
  ${d('actions')} { display: flex; gap: 4px; margin-top: 6px; }
  ${d('actions')} button, ${d('retry')} { border: 1px solid #e3e3e3; background: #fff; border-radius: 8px; padding: 4px 10px; cursor: pointer; font: inherit; font-size: 13px; }
  ${d('failed')} { display: flex; gap: 12px; align-items: center; width: fit-content; color: #b42318; border: 1px solid #f3c5c0; background: #fff5f4; border-radius: 12px; padding: 8px 12px; }
  ${d('inlineError')} { color: #b42318; font-size: 14px; margin: 6px 0; }
  ${d('toasts')} { position: fixed; top: 16px; right: 16px; display: flex; flex-direction: column; gap: 8px; z-index: 50; }
  ${d('toast')} { background: #0d0d0d; color: #fff; padding: 10px 14px; border-radius: 10px; max-width: 380px; }
  ${d('banner')} { width: 100%; order: -1; box-sizing: border-box; background: #fff4e5; color: #5c3b00; padding: 10px 16px; text-align: center; }
  ${d('banner')} button { margin-left: 8px; }
  ${d('dock')} { position: sticky; bottom: 0; width: min(760px, 92%); padding: 12px 0 20px; background: #fff; }
  ${d('form')} { width: 100%; }
  ${d('surface')} { background: #f4f4f4; border-radius: 28px; padding: 10px 12px; }
  ${d('editorWrap')} { max-height: 200px; overflow-y: auto; padding: 4px 8px; }
  ${d('editorWrap')} [contenteditable], ${d('editorWrap')} input { outline: none; white-space: pre-wrap; min-height: 24px; border: 0; background: transparent; font: inherit; width: 100%; }
  ${d('editorWrap')} p { margin: 0; }
  ${d('editorWrap')} p[data-placeholder]::before { content: attr(data-placeholder); color: #8f8f8f; float: left; height: 0; pointer-events: none; }
  ${d('footer')} { display: flex; align-items: center; gap: 6px; margin-top: 6px; }
  ${d('tools')} { display: flex; gap: 6px; }
  ${d('trailing')} { margin-left: auto; }
  ${d('roundBtn')} { width: 36px; height: 36px; border-radius: 50%; border: 0; background: #0d0d0d; color: #fff; cursor: pointer; }
  [data-testid="composer-plus-btn"] { background: transparent; color: #0d0d0d; font-size: 20px; }
  ${d('pill')}, ${d('aspect')} { border: 1px solid #d0d0d0; background: #fff; border-radius: 999px; padding: 4px 10px; font: inherit; font-size: 13px; cursor: pointer; color: #0b6bcb; }
  ${d('aspect')} { color: #0d0d0d; }
  ${d('menu')} { background: #fff; border: 1px solid #e3e3e3; border-radius: 16px; box-shadow: 0 8px 24px rgba(0,0,0,.12); padding: 6px; min-width: 220px; z-index: 60; }
  ${d('item')} { display: block; width: 100%; text-align: left; padding: 8px 10px; border-radius: 10px; border: 0; background: transparent; font: inherit; cursor: pointer; }
  ${d('item')}:hover, ${d('item')}[aria-checked="true"] { background: #f4f4f4; }
  ${d('sub')} { font-size: 12px; color: #8f8f8f; }
  .imagegen-choice { display: flex; gap: 8px; }
  .imagegen-choice > div { flex: 1; }
  .imagegen-under { position: absolute; inset: 0; width: 100%; height: 100%; filter: blur(12px); }
  .imagegen-slow { position: absolute; inset: 0; width: 100%; height: 100%; opacity: 0; filter: blur(16px); transition: opacity 2s ease-in 1.5s, filter 2s ease-in 1.5s; }
  .imagegen-slow.is-shown { opacity: 1; filter: none; }
  .code-block { border: 1px solid #e3e3e3; border-radius: 12px; margin: 8px 0; overflow: hidden; }
  .code-block header { font-size: 13px; color: #5d5d5d; padding: 6px 10px; background: #f9f9f9; }
  .code-block pre { margin: 0; padding: 10px; font-size: 13px; overflow-x: auto; }
  .code-output img { display: block; max-width: 100%; }
  ${AUTH_STYLE}
  ${ATTACHMENT_STYLE}
`;
}

/** The 2026 client: plain DOM code, prompt text only ever set through textContent (or an img's alt property). */
const CLIENT = String.raw`
(() => {
  const cfg = window.__mockPage;
  const C = cfg.classes;
  const cosmetic = cfg.churn === 'cosmetic';
  const find = (key) => document.querySelector('.' + C[key].split(' ')[0]);
  const thread = find('thread');
  const form = find('form');
  const editor = find('editorWrap').firstElementChild;
  // Churn 'breaking' replaces the composer with a plain input the contract does not name.
  const isInput = editor.tagName === 'INPUT';
  const submit = document.getElementById('composer-submit-button');
  const plus = document.querySelector('[data-testid="composer-plus-btn"]');
  const tools = find('tools');
  const toastRegion = find('toasts');
  const recentList = document.querySelector('#recent-images ul');
  let conversationId = document.body.dataset.conversation || null;
  let following = false;
  let signature = '';
  let sending = false; // a send the server has not answered yet
  let generating = false;
  let broken = false; // the account did not load: nothing sends until the page is reloaded
  let toolOn = false;
  let aspect = 'auto';
  const rendered = new Map(); // turn n → { key, userKey, user, assistant, toasted }

  function el(tag, cls, attrs, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (attrs) for (const k of Object.keys(attrs)) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function wrap(node) {
    for (const cls of C.wrap) { const d = el('div', cls); d.appendChild(node); node = d; }
    return node;
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return 'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, (c) => { const r = Math.random() * 16 | 0; return (c === 'x' ? r : (r & 3 | 8)).toString(16); });
  }

  // ── The composer: ProseMirror-like, a placeholder paragraph while empty.
  const editorText = () => (isInput ? editor.value : editor.innerText.replace(/\u00a0/g, ' '));
  const placeholderText = () => (toolOn ? 'Describe or edit an image' : 'Ask anything');
  function resetEditor() {
    if (isInput) { editor.value = ''; return; }
    const p = el('p', 'placeholder', { 'data-placeholder': placeholderText() });
    p.appendChild(el('br', 'ProseMirror-trailingBreak'));
    editor.replaceChildren(p);
  }
  function syncPlaceholder() {
    if (isInput) return;
    if (editorText().trim() === '') {
      const p = editor.firstElementChild;
      if (editor.childNodes.length !== 1 || !p || p.tagName !== 'P') { resetEditor(); return; }
      p.setAttribute('data-placeholder', placeholderText()); p.className = 'placeholder';
    } else {
      for (const p of editor.querySelectorAll('p[data-placeholder]')) {
        p.removeAttribute('data-placeholder'); p.classList.remove('placeholder');
        if (!p.className) p.removeAttribute('class');
      }
    }
  }

  // ── The one submit button: "Start Voice" while empty, "Send prompt" with text, "Stop answering" while busy.
  let mode = '';
  let sendOff = false;
  function updateButton() {
    const next = sending || generating ? 'stop' : editorText().trim() !== '' ? 'send' : 'voice';
    // Send is disabled while any attachment is still uploading.
    const off = next === 'send' && uploadsBusy();
    if (off !== sendOff) {
      sendOff = off;
      submit.disabled = off;
      if (off) submit.setAttribute('aria-disabled', 'true'); else submit.removeAttribute('aria-disabled');
    }
    if (next === mode) return;
    mode = next;
    const set = (testid, label, type, icon) => {
      submit.setAttribute('data-testid', testid); submit.setAttribute('aria-label', label); submit.type = type; submit.textContent = icon;
    };
    if (next === 'stop') set('stop-button', 'Stop answering', 'button', '■');
    else if (next === 'send') set('send-button', 'Send prompt', 'submit', '↑');
    else set('composer-speech-button', 'Start Voice', 'button', '◉');
  }
  editor.addEventListener('input', () => { syncPlaceholder(); updateButton(); });
  editor.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); if (mode === 'send') sendPrompt(); }
  });
  form.addEventListener('submit', (e) => { e.preventDefault(); if (mode === 'send') sendPrompt(); });
${ATTACHMENT_CLIENT}

  // ── Menus: the trigger opens on pointerdown as Radix does (or Enter, Space, ArrowDown); a click that
  // no pointerdown came before (element.click()) toggles it too, so either way of pressing works.
  let open = null; // { menu, trigger }
  let menuSeq = 0;
  function closeMenu() {
    if (!open) return;
    open.menu.remove();
    open.trigger.setAttribute('aria-expanded', 'false'); open.trigger.setAttribute('data-state', 'closed'); open.trigger.removeAttribute('aria-controls');
    open = null;
  }
  function openMenu(trigger, build) {
    closeMenu();
    const id = 'radix-:rm' + (++menuSeq) + ':';
    const menu = el('div', C.menu, { role: 'menu', id, 'aria-orientation': 'vertical', 'data-state': 'open', tabindex: '-1', 'aria-labelledby': trigger.id });
    build(menu);
    const r = trigger.getBoundingClientRect();
    menu.style.position = 'fixed'; menu.style.left = Math.max(8, r.left) + 'px'; menu.style.bottom = Math.max(8, innerHeight - r.top + 8) + 'px';
    document.body.appendChild(menu);
    trigger.setAttribute('aria-expanded', 'true'); trigger.setAttribute('data-state', 'open'); trigger.setAttribute('aria-controls', id);
    open = { menu, trigger };
    return menu;
  }
  function menuTrigger(trigger, build) {
    let pressed = false; // a pointerdown already acted for the click that follows it
    const toggle = () => { if (open && open.trigger === trigger) closeMenu(); else openMenu(trigger, build); };
    trigger.addEventListener('pointerdown', (e) => {
      if (e.button !== 0 || e.ctrlKey) return;
      e.preventDefault();
      pressed = true;
      toggle();
    });
    trigger.addEventListener('click', () => {
      if (pressed) { pressed = false; return; }
      toggle();
    });
    trigger.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter' && e.key !== ' ' && e.key !== 'ArrowDown') return;
      e.preventDefault();
      const menu = openMenu(trigger, build);
      const item = menu.querySelector('[role^="menuitem"], button');
      if (item) item.focus();
    });
  }
  document.addEventListener('pointerdown', (e) => {
    if (open && !open.menu.contains(e.target) && !open.trigger.contains(e.target)) closeMenu();
  }, true);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeMenu(); });
  /** One item: role menuitem / menuitemradio, or (role null) a plain button with a second line. */
  function item(menu, role, label, sub, onSelect, checked) {
    const it = role ? el('div', C.item, { role, tabindex: '-1', 'data-orientation': 'vertical' }) : el('button', C.item, { type: 'button' });
    if (role === 'menuitemradio') it.setAttribute('aria-checked', checked ? 'true' : 'false');
    if (sub) { it.appendChild(el('div', C.itemTitle, null, label)); it.appendChild(el('div', C.sub, null, sub)); }
    else it.textContent = label;
    const choose = () => { closeMenu(); onSelect(); };
    it.addEventListener('click', choose);
    it.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); choose(); } });
    menu.appendChild(it);
  }

  // ── The image tool: "+" → "Create image"; on, a pill and the aspect control sit in the composer.
  const labelOf = (value) => (cfg.aspects.find((a) => a[0] === value) || cfg.aspects[0])[1];
  function setTool(on) {
    toolOn = on;
    if (!on) aspect = 'auto';
    renderTools();
    syncPlaceholder();
  }
  function renderTools() {
    tools.replaceChildren();
    if (!toolOn) return;
    const pill = el('button', C.pill, { type: 'button', 'aria-label': cosmetic ? 'Remove Create image' : 'Image, click to remove' });
    pill.appendChild(el('span', null, null, cosmetic ? 'Create image' : 'Image'));
    pill.addEventListener('click', () => { setTool(false); editor.focus(); });
    const control = el('button', C.aspect, { type: 'button', id: 'radix-:ra:', 'aria-label': 'Choose image aspect ratio', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'data-state': 'closed' }, labelOf(aspect));
    menuTrigger(control, (menu) => {
      for (const [value, label] of cfg.aspects) item(menu, 'menuitemradio', label, null, () => { aspect = value; control.textContent = label; }, value === aspect);
    });
    tools.append(pill, control);
  }
  menuTrigger(plus, (menu) => {
    const entry = (role, label, sub, onSelect, checked) => item(menu, cosmetic ? null : role, label, cosmetic ? sub : null, onSelect, checked);
    entry('menuitem', 'Add photos & files', 'Upload from your device', () => {});
    if (cfg.imageTool) entry('menuitemradio', 'Create image', 'Visualize anything', () => { setTool(true); editor.focus(); }, toolOn);
    entry('menuitemradio', 'Think longer', 'Better answers for hard questions', () => {}, false);
    entry('menuitemradio', 'Deep research', 'Get a detailed report', () => {}, false);
  });

  // ── Image bytes: signed URLs straight into <img>, or (blob mode) fetched by the page into blob: URLs.
  const blobs = new Map(); // url → Promise<blob: URL>
  const ready = new Map(); // url → blob: URL
  function blobOf(url) {
    let p = blobs.get(url);
    if (!p) {
      p = fetch(url, { credentials: 'include', headers: { 'x-mock-view': 'page' } })
        .then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.blob(); })
        .then((b) => { const u = URL.createObjectURL(b); ready.set(url, u); return u; });
      p.catch(() => blobs.delete(url));
      blobs.set(url, p);
    }
    return p;
  }
  /** In blob mode, every picture of a state is fetched before the state is shown. */
  async function prepare(state) {
    if (!cfg.blob) return;
    const urls = [];
    for (const t of state.turns || []) {
      if (t.partial) urls.push(t.partial.url);
      if (t.pic) urls.push(t.pic.url);
      for (const p of (t.pics || []).concat(t.under || [])) urls.push(p.url);
    }
    for (const r of state.recent || []) if (r.url) urls.push(r.url);
    for (const t of state.turns || []) for (const a of t.attachments || []) urls.push(a.url);
    await Promise.all(urls.map((u) => blobOf(u).catch(() => null)));
  }
  const srcOf = (url) => (cfg.blob ? ready.get(url) : url);

  // ── Turns.
  function section(testN, role, id) {
    const s = el('section', C.section, { 'data-testid': 'conversation-turn-' + testN, 'data-turn': role, 'data-turn-id': id, tabindex: '-1', dir: 'auto' });
    s.appendChild(el(role === 'user' ? 'h5' : 'h6', 'sr-only', null, role === 'user' ? 'You said:' : 'ChatGPT said:'));
    return s;
  }
  function container(id, s) {
    const c = el('div', C.turn, { 'data-turn-id-container': id });
    c.appendChild(s);
    return c;
  }
  function userTurn(n, id, prompt, attachments) {
    const s = section(2 * n - 1, 'user', id);
    const msg = el('div', C.user, { 'data-message-author-role': 'user', 'data-message-id': id });
    if (attachments && attachments.length) {
      // The attachments, from the same signed URLs as generated images: never this turn's answer.
      const row = el('div', 'user-attachments');
      for (const a of attachments) {
        const b = el('button', null, { type: 'button', 'aria-haspopup': 'dialog' });
        const src = srcOf(a.url);
        if (src) { const i = el('img'); i.alt = a.name; i.src = src; b.appendChild(i); }
        row.appendChild(b);
      }
      msg.appendChild(row);
    }
    const bubble = el('div', C.bubble);
    bubble.appendChild(el('div', 'whitespace-pre-wrap', null, prompt));
    msg.appendChild(bubble);
    s.appendChild(wrap(msg));
    return container(id, s);
  }
  /** The previews the page keeps under the final image (slow-final), blurred and hidden from assistive tech. */
  function under(t, holder) {
    for (const p of t.under || []) {
      const src = srcOf(p.url);
      if (!src) continue;
      const i = el('img', 'imagegen-under', { 'aria-hidden': 'true' });
      i.alt = ''; i.src = src;
      holder.appendChild(i);
    }
  }
  function frame(t, picture, alt) {
    const f = el('div', null, { id: 'image-' + t.uuid });
    f.className = 'group/imagegen-image ' + C.frame;
    const k = 400 / Math.max(t.width, t.height);
    f.style.width = Math.round(t.width * k) + 'px'; f.style.height = Math.round(t.height * k) + 'px';
    const src = picture && srcOf(picture.url);
    if (src) {
      const image = (cls, hidden) => {
        const i = el('img', cls);
        i.alt = alt; i.draggable = false; i.src = src;
        if (hidden) i.setAttribute('aria-hidden', 'true');
        return i;
      };
      f.appendChild(image(C.backdrop, true));
      const holder = el('div', C.holder);
      if (t.slow && t.status === 'done') {
        // The final image fades in over the previews once its (late) bytes have loaded.
        under(t, holder);
        const final = image(C.visible + ' imagegen-slow', false);
        final.addEventListener('load', () => requestAnimationFrame(() => final.classList.add('is-shown')));
        holder.appendChild(final);
      } else holder.appendChild(image(C.visible, false));
      f.appendChild(holder);
      f.appendChild(image(C.layer, true));
    }
    return f;
  }
  function actions(labels) {
    const a = el('div', C.actions);
    for (const label of labels) a.appendChild(el('button', null, { type: 'button', 'aria-label': label }, label));
    return a;
  }
  function assistantTurn(n, t) {
    if (t.status === 'notice') return null; // the answer never came; a toast says why
    const s = section(2 * n, 'assistant', t.answerId);
    let body;
    if (t.status === 'code') {
      // The code tool: an assistant message with an "Analyzed" block and the picture the code drew.
      body = el('div', C.assistant, { 'data-message-author-role': 'assistant', 'data-message-id': t.answerId, 'data-message-model-slug': 'gpt-5' });
      const md = el('div', C.markdown);
      md.appendChild(el('p', null, null, t.message));
      const block = el('div', 'code-block');
      block.appendChild(el('header', null, null, 'Analyzed'));
      const pre = el('pre');
      pre.appendChild(el('code', 'language-python', null, t.code));
      block.appendChild(pre);
      const out = el('div', 'code-output');
      const src = srcOf(t.pic.url);
      if (src) { const i = el('img'); i.alt = 'Output image'; i.src = src; out.appendChild(i); }
      block.appendChild(out);
      md.appendChild(block);
      md.appendChild(el('p', null, null, t.outro));
      body.appendChild(md);
      s.appendChild(wrap(body));
      s.appendChild(actions(['Copy', 'Good response', 'Bad response']));
      return container(t.answerId, s);
    }
    if (t.status === 'thinking' || (t.status === 'message' && !t.error)) {
      body = el('div', C.assistant, { 'data-message-author-role': 'assistant', 'data-message-id': t.answerId, 'data-message-model-slug': 'gpt-5' });
      const md = el('div', C.markdown);
      if (t.status === 'message') md.appendChild(el('p', null, null, t.message)); else md.appendChild(el('span', C.cursor));
      body.appendChild(md);
      s.appendChild(wrap(body));
      if (t.status === 'message') s.appendChild(actions(['Copy', 'Good response', 'Bad response']));
    } else if (t.status === 'message') {
      // "Image generation failed" with "Try again": an image turn, so no author role either.
      body = el('div', C.failed);
      body.appendChild(el('span', null, null, t.message));
      const retry = el('button', C.retry, { type: 'button' }, 'Try again');
      retry.addEventListener('click', () => sendPrompt(t.prompt));
      body.appendChild(retry);
      s.appendChild(wrap(body));
    } else {
      const done = t.status === 'done';
      body = el('div', C.imageTurn);
      const label = done ? 'Image created' : t.partial ? 'Creating image ' + t.percent + '%' : 'Creating image';
      const alt = 'Generated image: ' + t.prompt.slice(0, 60);
      if (done && t.pics) {
        // Two images side by side: "Which image do you like more?" until one is chosen (or skipped).
        body.appendChild(el('div', C.status, null, t.choice ? cfg.choice.question : 'Image created'));
        const row = el('div', 'imagegen-choice');
        for (const p of t.pics) { const cell = el('div'); cell.appendChild(frame(Object.assign({}, t, { uuid: p.uuid }), p, alt)); row.appendChild(cell); }
        body.appendChild(row);
        if (t.choice) {
          const buttons = el('div', C.actions);
          const answer = (choice) => () => {
            fetch('/backend-api/conversation/' + conversationId + '/choice', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: t.n, choice }) })
              .then((r) => (r.ok ? r.json() : null)).then(async (state) => { if (state) { signature = state.signature; await prepare(state); render(state); } }).catch(() => {});
          };
          for (const [label, choice] of [[cfg.choice.buttons[0], 1], [cfg.choice.buttons[1], 2], [cfg.choice.buttons[2], 'skip']]) {
            const b = el('button', null, { type: 'button' }, label);
            b.addEventListener('click', answer(choice));
            buttons.appendChild(b);
          }
          body.appendChild(buttons);
        }
      } else {
        body.appendChild(el('div', C.status, null, label));
        body.appendChild(frame(t, done ? t.pic : t.partial, alt));
      }
      s.appendChild(wrap(body));
      if (done) s.appendChild(actions(['Edit', 'Share']));
    }
    return container(t.answerId, s);
  }
  function renderTurn(t) {
    const key = JSON.stringify(t);
    const old = rendered.get(t.n);
    if (old && old.key === key) return;
    const userKey = userKeyOf(t.userId, t.prompt, t.attachments);
    let user = old && old.userKey === userKey ? old.user : userTurn(t.n, t.userId, t.prompt, t.attachments);
    if (!old) thread.appendChild(user); else if (old.user !== user) old.user.replaceWith(user);
    const assistant = assistantTurn(t.n, t);
    if (old && old.assistant) { if (assistant) old.assistant.replaceWith(assistant); else old.assistant.remove(); }
    else if (assistant) user.after(assistant);
    rendered.set(t.n, { key, userKey, user, assistant, toasted: !!(old && old.toasted) });
  }
  /** The send as the page shows it before the server answers: the user message alone (and the stop button). */
  const userKeyOf = (id, prompt, attachments) => id + '\n' + prompt + '\n' + JSON.stringify((attachments || []).map((a) => [a.id, !!srcOf(a.url)]));
  function pendingTurn(prompt, id, attachments) {
    const n = rendered.size + 1;
    const user = userTurn(n, id, prompt, attachments);
    thread.appendChild(user);
    rendered.set(n, { key: 'pending', userKey: userKeyOf(id, prompt, attachments), user, assistant: null, toasted: false });
    return n;
  }
  let recentKey = null;
  function renderRecent(recent) {
    if (!recentList || !Array.isArray(recent)) return;
    const key = JSON.stringify(recent.map((r) => [r.fileId, r.alt, !!srcOf(r.url)]));
    if (key === recentKey) return;
    recentKey = key;
    const items = [];
    for (const r of recent) {
      const src = srcOf(r.url);
      if (!src) continue;
      const li = el('li');
      const i = el('img'); i.src = src; i.alt = r.alt; i.width = 48; i.height = 48;
      li.appendChild(i);
      items.push(li);
    }
    recentList.replaceChildren(...items);
  }
  function toast(message, polite) {
    const t = el('div', C.toast, polite ? { role: 'status', 'aria-live': 'polite' } : { role: 'alert' }, message);
    toastRegion.appendChild(t);
    setTimeout(() => t.remove(), 8000);
  }
  function accountBanner(message) {
    broken = true;
    if (find('banner')) return;
    const b = el('div', C.banner, { role: 'alert' });
    b.appendChild(el('span', null, null, message));
    const reload = el('button', null, { type: 'button' }, 'Reload');
    reload.addEventListener('click', () => location.reload());
    b.appendChild(reload);
    find('main').prepend(b);
  }
  function render(state) {
    for (const t of state.turns) {
      renderTurn(t);
      const r = rendered.get(t.n);
      if (t.toast && !r.toasted) { r.toasted = true; toast(t.message, cosmetic && t.status === 'notice'); }
    }
    renderRecent(state.recent);
    generating = state.turns.some((t) => t.status === 'creating' || t.status === 'thinking');
    updateButton();
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
        await prepare(state);
        render(state);
        if (state.reload) { location.reload(); return; }
      }
    } finally { following = false; }
  }
  function blocker(html) { document.body.innerHTML = html; watchBlocker(); }

  async function sendPrompt(again) {
    const prompt = (again === undefined ? editorText() : again).trim();
    if (sending || generating || !prompt) return;
    if (uploadsBusy()) { refusedSend(); return; } // Send is disabled: the site never hears of it
    if (broken) { accountBanner(cfg.accountMessage); return; }
    const attachments = again === undefined ? clearAttachments() : [];
    // At once, as the real site does: the user message, a cleared composer, the stop button.
    sending = true;
    const id = uuid();
    const n = pendingTurn(prompt, id, attachments);
    // A new chat first shows a transient /c/WEB:<request id>, the real address only once the server answers.
    const transient = !conversationId;
    if (transient) history.pushState({}, '', '/c/WEB:' + uuid());
    if (again === undefined) resetEditor();
    updateButton();
    let res = null;
    let body = null;
    try {
      res = await fetch('/backend-api/conversation', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ conversation_id: conversationId, prompt, message_id: id, tool: toolOn ? 'image' : null, aspect, attachments: attachments.map((a) => a.id), uploads_pending: attached.filter((a) => a.busy).length }),
      });
      body = await res.json().catch(() => null);
    } catch { res = null; }
    if (body && body.blocker) { sending = false; blocker(body.blocker); return; }
    if (!res || !res.ok || !body || !body.state) {
      // The message stays in the thread, its answer never came.
      sending = false;
      if (transient) history.replaceState({}, '', '/');
      const pending = rendered.get(n);
      if (pending && pending.key === 'pending') rendered.delete(n);
      if (res && body && body.code === 'account_unavailable') accountBanner(body.detail);
      else if (res && body && body.detail && (res.status === 403 || res.status === 429)) toast(body.detail, false);
      else {
        thread.appendChild(el('div', C.inlineError, null, 'Message delivery timed out. Please try again.'));
        toast('Something went wrong. If this issue persists please contact us through our help center.', false);
      }
      updateButton();
      return;
    }
    // Only now does the page know its conversation, and its URL.
    if (!conversationId) { conversationId = body.conversation_id; history.replaceState({}, '', '/c/' + conversationId); }
    signature = body.state.signature;
    await prepare(body.state);
    sending = false;
    render(body.state);
    if (body.state.reload) { location.reload(); return; }
    follow();
  }

  window.addEventListener('popstate', () => location.reload());
  resetEditor();
  updateButton();
  if (conversationId) {
    fetch('/backend-api/conversation/' + conversationId).then((r) => r.ok ? r.json() : null).then(async (state) => {
      if (!state) return;
      signature = state.signature;
      await prepare(state);
      render(state);
      if (state.reload) { location.reload(); return; }
      follow();
    }).catch(() => {});
  } else if (cfg.blob) {
    fetch('/backend-api/images/recent').then((r) => r.ok ? r.json() : null).then(async (body) => {
      if (!body) return;
      await prepare(body);
      renderRecent(body.recent);
    }).catch(() => {});
  }
})();
`;

/** The empty composer's paragraph (the client puts it back whenever the composer empties). */
const PLACEHOLDER = `<p data-placeholder="Ask anything" class="placeholder"><br class="ProseMirror-trailingBreak"></p>`;

function recentItems(recent: readonly RecentImage[], blob: boolean): string {
  // In blob mode the page fetches the bytes itself: no image URL is ever in its HTML.
  if (blob) return '';
  return recent
    .map((r) => `<li><img src="${escapeHtml(r.url ?? '')}" alt="${escapeHtml(r.alt)}" width="48" height="48"></li>`)
    .join('');
}

export function modernPage(conversation: string, blocker: string | undefined, recent: readonly RecentImage[], opts: PageOptions): string {
  const cosmetic = opts.churn === 'cosmetic';
  const c: Classes = CLASSES[cosmetic ? 'cosmetic' : 'none'];
  const blob = opts.dom === '2026-blob';
  const editor =
    opts.churn === 'breaking'
      ? `<input type="text" name="q" autocomplete="off" aria-label="Your message" placeholder="What's on your mind?">`
      : cosmetic
        ? `<div contenteditable="true" translate="no" class="ProseMirror" role="textbox" aria-multiline="true" aria-label="Chat with ChatGPT">${PLACEHOLDER}</div>`
        : `<div contenteditable="true" translate="no" class="ProseMirror" id="prompt-textarea" role="textbox" aria-multiline="true" aria-label="Ask ChatGPT">${PLACEHOLDER}</div>`;
  const nav = `<nav class="${c.nav}" aria-label="Chat history">
    <a data-testid="create-new-chat-button" href="/">New chat</a>
    <section id="recent-images" aria-labelledby="recent-images-title">
      <h2 id="recent-images-title">Recent images</h2>
      <ul>${recentItems(recent, blob)}</ul>
    </section>
  </nav>`;
  const files = attachmentMarkup(opts.composer ?? 'sep-2026');
  let form = `<form class="${c.form}" data-type="unified-composer"${files.formAttr}>
        ${files.inputs}
        <div class="${c.surface}">
          ${files.tray}
          <div class="${c.editorWrap}">${editor}</div>
          <div class="${c.footer}">
            <div class="${c.leading}"><button type="button" class="${c.roundBtn}" id="radix-:rp:" data-testid="composer-plus-btn" aria-label="Add files and more" aria-haspopup="menu" aria-expanded="false" data-state="closed">+</button></div>
            <div class="${c.tools}"></div>
            <div class="${c.trailing}"><button type="button" class="${c.roundBtn}" id="composer-submit-button" data-testid="composer-speech-button" aria-label="Start Voice">◉</button></div>
          </div>
        </div>
      </form>`;
  if (cosmetic) form = `<div class="_fw1_s8d"><div class="_fw2_h2k">${form}</div></div>`;
  let main = `<main class="${c.main}">
    <div ${cosmetic ? '' : 'id="thread" '}class="${c.thread}" role="presentation"></div>
    <div class="${c.dock}">
      ${form}
      ${files.decoy}
    </div>
  </main>`;
  if (cosmetic) main = `<div class="_mw_q3e"><div class="_mw2_r7t">${main}</div></div>`;
  // Cosmetic churn: the main pane before the side bar in the markup (CSS keeps the side bar on the left).
  const app = `<div class="${c.shell}">
  ${cosmetic ? `${main}\n  ${nav}` : `${nav}\n  ${main}`}
</div>
<div class="${c.toasts}"></div>`;
  const config = {
    churn: opts.churn,
    imageTool: opts.imageTool,
    blob,
    classes: c,
    aspects: ASPECT_LABELS,
    accountMessage: NOTICES.account,
    composer: opts.composer ?? 'sep-2026',
    uploadMaxBytes: UPLOAD_MAX_BYTES,
    choice: CHOICE_WORDS[opts.lang ?? 'en'],
  };
  const body = blocker
    ? `${blocker}<script>${WATCH_BLOCKER}watchBlocker();</script>`
    : `${app}\n<script>window.__mockPage = ${scriptJson(config)};${WATCH_BLOCKER}${CLIENT}</script>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ChatGPT (Semantest mock)</title><style>${style(c)}</style></head>
<body${conversation}>
${body}
</body></html>`;
}
