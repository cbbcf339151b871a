// What both renderings of the mock page share: the side bar's entries and alt text, the login and
// challenge walls, escaping, and the page options.
import type { MockChurn, MockDom } from './answers.js';

/** One thumbnail of the side bar. */
export interface RecentImage {
  fileId: string;
  alt: string;
  /** The 2026 page's signed URL (the 2024–25 page builds the bare one from the file id). */
  url?: string;
}

/** The 2026 page's two composers for attachments (ARCHITECTURE §4, "Attachments"). */
export const MOCK_COMPOSERS = ['mid-2026', 'sep-2026'] as const;
export type MockComposer = (typeof MOCK_COMPOSERS)[number];

/** The largest file the page uploads, as the real site's limit per image. */
export const UPLOAD_MAX_BYTES = 20 * 1024 * 1024;

/** How the page is rendered: which column, how much churn, whether the "+" menu offers "Create image", which composer. */
export interface PageOptions {
  dom: MockDom;
  churn: MockChurn;
  imageTool: boolean;
  /** The 2026 page's composer (default 'sep-2026'); the 2024–25 page takes no attachments. */
  composer?: MockComposer;
  /** The 2026 page's language for the two-image question (default 'en'): its labels are localized. */
  lang?: MockLang;
}

export const MOCK_LANGS = ['en', 'de'] as const;
export type MockLang = (typeof MOCK_LANGS)[number];

/** The two-image question and its buttons ("Image 1 is better", …), as an account in that language sees them. */
export const CHOICE_WORDS: Record<MockLang, { question: string; buttons: [string, string, string] }> = {
  en: { question: 'Which image do you like more?', buttons: ['Image 1 is better', 'Image 2 is better', 'Skip'] },
  de: { question: 'Welches Bild gefällt dir besser?', buttons: ['Bild 1 ist besser', 'Bild 2 ist besser', 'Überspringen'] },
};

/** The side bar's alt text for an image of `prompt` (the turn's own says the same for short prompts). */
export function recentAlt(prompt: string): string {
  return `Generated image: ${prompt.slice(0, 40)}`;
}

/** Escapes text for HTML content and (double- or single-quoted) attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A value embedded in an inline <script>: JSON that cannot close the script element. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
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

/** A login or challenge page reloads itself once it is cleared (say, solved in another tab). */
export const WATCH_BLOCKER = String.raw`
function watchBlocker() {
  const timer = setInterval(async () => {
    try {
      const state = await (await fetch('/__mock/blocker')).json();
      if (!state.blocker) { clearInterval(timer); location.href = '/'; }
    } catch {}
  }, 500);
}
`;

export const AUTH_STYLE = `
  .auth { margin: 15vh auto; text-align: center; }
  .auth button { padding: 10px 22px; border-radius: 22px; border: 1px solid #0d0d0d; background: #0d0d0d; color: #fff; font-size: 15px; cursor: pointer; }
`;

