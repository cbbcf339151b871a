// The expanded form of a prompt file: what the scheduler, store and output code consume.
import type { Aspect } from '../protocol/messages.js';

export interface Pacing {
  /** Jobs in flight at once (one page each). */
  concurrency: number;
  /** Minimum seconds between two starts. */
  minGapSeconds: number;
  /** Up to this many extra random seconds added to each gap. */
  jitterSeconds: number;
  /** A cooldown follows every N starts (0 = never). */
  cooldownEvery: number;
  cooldownSeconds: number;
}

export const DEFAULT_PACING: Pacing = {
  concurrency: 5,
  minGapSeconds: 8,
  jitterSeconds: 2,
  cooldownEvery: 25,
  cooldownSeconds: 60,
};

/** An account's image quota: at most `images` per `hours` (public reports: about 50 per 3 h on a paid plan). */
export interface Quota {
  images: number;
  hours: number;
}

/** A character's reference image (issue 16, DESIGN §14), read and checked when the prompt file loads. */
export interface Reference {
  /** The character it shows. */
  character: string;
  /** Absolute path of the image file. */
  file: string;
  /** The file's name as the page will see it (its basename). */
  name: string;
  /** sha256 (hex) of the bytes: part of the prompt hash of every panel that sends it. */
  sha256: string;
  bytes: number;
  type: 'image/png' | 'image/jpeg' | 'image/webp';
}

/** A character as the prompt file defines it (issue 16). */
export interface Character {
  name: string;
  /** What `{name}` expands to. */
  description: string;
  /** `refs: sheet`: its sheet, `<out>/<book>/characters/<name>.png`, is its reference. */
  sheet: boolean;
  /** The images listed under `refs:`, read and checked at load (none for a sheet or a bare description). */
  refs: Reference[];
}

export interface Job {
  /** Stable id: chapter/strip/panel[.locale][~variant], e.g. `ch1/s2/p3.ja`. */
  id: string;
  /** Position in book order (0-based). */
  order: number;
  chapter: string;
  strip: string;
  panel: string;
  locale?: string;
  variant?: string;
  /** The panel's shape: its own `aspect`, else its chapter's, else the book's; absent when none says. */
  aspect?: Aspect;
  /** The panel prompt exactly as written in the file. */
  prompt: string;
  /** What is sent to the site: characters expanded, modifiers, speech bubble, aspect, style. */
  finalPrompt: string;
  /** sha256 hex of the final prompt and the parameters that change the image (provider, locale, variant, aspect). */
  promptHash: string;
  /** Output path relative to `<out>/<book>/`, e.g. `ch1/s2/p3.ja.png`. */
  outputPath: string;
  /** The references of every character the panel names, deduplicated, in the order they are attached. */
  refs?: Reference[];
  /** Where the panel is defined, for messages. */
  source: { file: string; line: number };
}

export interface PromptBook {
  /** Slug naming output and checkpoint folders. */
  book: string;
  provider: string;
  style: string;
  /** Pacing from the file, defaults filled in. It applies to each profile (account) on its own. */
  pacing: Pacing;
  /** `profiles: [a, b]`: the browser profiles (accounts) to share the book among; `--profile` overrides. */
  profiles?: string[];
  /** `quota: { images: 50, hours: 3 }`: what one account may make per window, for the planner and the ETA. */
  quota?: Quota;
  /** The file's characters in file order; absent when it defines none. */
  characters?: Character[];
  /**
   * Loaded with `allowMissingSheets`: the `refs: sheet` characters whose sheet is not made yet, in
   * file order. Their panels' jobs carry no sheet (and so another promptHash than once it exists).
   */
  sheetsToMake?: string[];
  file: string;
  jobs: Job[];
}
