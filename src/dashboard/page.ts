// The dashboard's one page: plain DOM code, every text set through textContent, every URL relative
// to the tokenised base the page was served from. It redraws from /state whenever /events says
// something changed.

const STYLE = `
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #1b1b1b; background: #f6f6f4; }
  header { position: sticky; top: 0; z-index: 2; background: #fff; border-bottom: 1px solid #ddd; padding: 10px 18px; display: grid; gap: 6px; }
  h1 { font-size: 17px; margin: 0; }
  .bar { height: 10px; background: #e6e6e6; border-radius: 5px; overflow: hidden; }
  .bar > div { height: 100%; background: #2f7d4f; width: 0; transition: width .3s; }
  .row { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; }
  .profile { padding: 2px 8px; border-radius: 10px; background: #eef3ff; }
  .profile[data-state="paused"], .profile[data-state="cooling down"], .profile[data-state="quota"] { background: #fff3d6; }
  .profile[data-state="waiting for a login"], .profile[data-state="retired"] { background: #ffe1de; }
  .profile[data-state="resting"], .profile[data-state="relaunching"] { background: #fff3d6; }
  button { font: inherit; padding: 4px 12px; border-radius: 6px; border: 1px solid #888; background: #fff; cursor: pointer; }
  main { padding: 12px 18px 40px; }
  h2 { font-size: 15px; margin: 18px 0 6px; }
  h3 { font-size: 13px; margin: 10px 0 4px; color: #555; }
  .strip { display: flex; gap: 10px; flex-wrap: wrap; }
  .panel { width: 180px; background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 6px; display: grid; gap: 4px; }
  .panel .thumb { width: 100%; height: 120px; object-fit: contain; background: #eee; border-radius: 4px; }
  .panel .empty { width: 100%; height: 120px; background: repeating-linear-gradient(45deg, #f0f0f0, #f0f0f0 8px, #e8e8e8 8px, #e8e8e8 16px); border-radius: 4px; }
  .state { font-size: 12px; }
  .panel[data-state="verified"] .state { color: #2f7d4f; }
  .panel[data-state="failed"] { border-color: #d9534f; }
  .panel[data-state="failed"] .state, .panel[data-state="rejected"] .state { color: #b02a26; }
  .panel[data-state="in flight"] { border-color: #2f5fd0; }
  .who { font-size: 12px; color: #555; }
  .profile button { margin-left: 6px; padding: 0 6px; font-size: 12px; }
  .why { font-size: 12px; color: #6b2a27; max-height: 5.6em; overflow: auto; }
`;

const CLIENT = String.raw`
(() => {
  const $ = (sel) => document.querySelector(sel);
  const main = $('main');
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function clock(ms) { return new Date(ms).toLocaleTimeString(); }
  function duration(ms) {
    const s = Math.round(ms / 1000);
    return s >= 3600 ? Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min' : s >= 60 ? Math.round(s / 60) + ' min' : s + ' s';
  }
  async function post(path, body) {
    const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body || {}) });
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) alert(answer.error || ('HTTP ' + res.status));
    refresh();
  }
  $('#pause').addEventListener('click', () => post('pause'));
  $('#resume').addEventListener('click', () => post('resume'));
  const thumbs = new Map();
  function render(s) {
    const p = s.progress;
    $('#counts').textContent = p.verified + ' / ' + p.total + ' verified' + (p.failed ? ', ' + p.failed + ' failed' : '') + (p.inFlight.length ? ' · in flight: ' + p.inFlight.join(', ') : '');
    $('#eta').textContent = p.etaMs ? 'done in ~' + duration(p.etaMs) : '';
    $('.bar > div').style.width = (100 * p.verified / Math.max(1, p.total)) + '%';
    const prof = $('#profile');
    prof.dataset.state = s.profile.state;
    prof.textContent = s.profile.state + (s.profile.until ? ' until ' + clock(s.profile.until) : '') + (s.profile.reason ? ' — ' + s.profile.reason : '');
    // With several profiles, one chip each: its state, until when, why (text only, never HTML).
    // The fleet's dashboard (s.fleet) always shows them, with the worker that has each and its own pause.
    const chips = $('#profiles');
    chips.textContent = '';
    if (s.profiles.length > 1 || s.fleet) {
      for (const p of s.profiles) {
        const chip = el('span', { class: 'profile', 'data-profile': p.name, 'data-state': p.state }, p.name + (p.worker ? ' (' + p.worker + ')' : '') + ': ' + p.state + (p.until ? ' until ' + clock(p.until) : '') + (p.reason && p.state !== 'working' ? ' — ' + p.reason : '') + ' · ' + p.verified + ' verified');
        if (p.reason) chip.title = p.reason;
        if (s.fleet) {
          const b = el('button', { 'data-action': p.paused ? 'resume-profile' : 'pause-profile' }, p.paused ? 'Resume' : 'Pause');
          b.addEventListener('click', () => post(p.paused ? 'resume' : 'pause', { profile: p.name }));
          chip.appendChild(b);
        }
        chips.appendChild(chip);
      }
    }
    $('#pause').hidden = s.paused;
    $('#resume').hidden = !s.paused;
    main.textContent = '';
    let chapter, strip, row;
    for (const panel of s.panels) {
      if (panel.chapter !== chapter) { chapter = panel.chapter; strip = undefined; main.appendChild(el('h2', {}, 'Chapter ' + chapter)); }
      if (panel.strip !== strip) { strip = panel.strip; main.appendChild(el('h3', {}, 'Strip ' + strip)); row = el('div', { class: 'strip' }); main.appendChild(row); }
      const card = el('div', { class: 'panel', 'data-id': panel.id, 'data-state': panel.state });
      if (panel.thumb) {
        // The same <img> across redraws, so a thumbnail loads once and never flickers.
        const src = 'thumb/' + encodeURIComponent(panel.id) + '?v=' + (panel.version || panel.attempts);
        let img = thumbs.get(panel.id);
        if (!img || img.getAttribute('src') !== src) thumbs.set(panel.id, (img = el('img', { class: 'thumb', alt: panel.id, src })));
        card.appendChild(img);
      } else card.appendChild(el('div', { class: 'empty' }));
      card.appendChild(el('strong', {}, panel.label));
      card.appendChild(el('span', { class: 'state' }, panel.state + (panel.kind && panel.state === 'failed' ? ' (' + panel.kind + ')' : '') + (panel.attempts > 1 ? ' · attempt ' + panel.attempts : '') + (panel.profile && s.profiles.length > 1 && !panel.worker ? ' · ' + panel.profile : '')));
      if (panel.worker) card.appendChild(el('span', { class: 'who' }, (panel.profile || '?') + ' on ' + panel.worker));
      if (panel.message && panel.state === 'failed') card.appendChild(el('div', { class: 'why' }, panel.message));
      for (const n of panel.evidence || []) {
        const a = el('a', { href: 'evidence/' + encodeURIComponent(panel.id) + '/' + n, target: '_blank', rel: 'noopener' }, 'evidence screenshot');
        card.appendChild(a);
      }
      if (panel.state === 'failed') {
        const b = el('button', { 'data-action': 'retry' }, 'Retry');
        b.addEventListener('click', () => post('retry', { id: panel.id }));
        card.appendChild(b);
      }
      if (panel.state === 'verified') {
        const b = el('button', { 'data-action': 'reject' }, 'Reject');
        b.addEventListener('click', () => {
          const reason = prompt('Why is ' + panel.id + ' rejected?', '');
          if (reason !== null) post('reject', { id: panel.id, reason });
        });
        card.appendChild(b);
      }
      row.appendChild(card);
    }
  }
  let pending;
  async function refresh() {
    clearTimeout(pending);
    pending = undefined;
    const res = await fetch('state');
    if (res.ok) render(await res.json());
  }
  function soon() { if (!pending) pending = setTimeout(refresh, 150); }
  const events = new EventSource('events');
  events.addEventListener('run', soon);
  events.addEventListener('control', soon);
  events.addEventListener('hello', soon);
  refresh();
})();
`;

export function dashboardPage(book: string): string {
  const title = book.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} · Semantest</title><style>${STYLE}</style></head>
<body>
  <header>
    <div class="row"><h1>${title}</h1><span id="profile" class="profile"></span>
      <button id="pause" type="button">Pause</button><button id="resume" type="button" hidden>Resume</button></div>
    <div class="bar"><div></div></div>
    <div class="row"><span id="counts"></span><span id="eta"></span></div>
    <div class="row" id="profiles"></div>
  </header>
  <main></main>
  <script>${CLIENT}</script>
</body></html>`;
}
