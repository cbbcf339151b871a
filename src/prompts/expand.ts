// Turns a validated prompt file into jobs. Pure: the same file always gives the same ids and
// hashes, and a job's hash depends only on its own panel (plus style, provider and the aspect it
// inherits), so editing one panel marks only that panel's jobs as changed on --resume.
import { createHash } from 'node:crypto';
import type { Aspect } from '../protocol/messages.js';
import { describeAspect } from '../verify/aspect.js';
import { REFERENCE, type Path } from './check.js';
import type { PanelSpec, PromptFile } from './schema.js';
import { DEFAULT_PACING, type Job, type PromptBook } from './types.js';

interface PanelAt {
  chapter: string;
  strip: string;
  panel: PanelSpec;
  path: Path;
  /** The chapter's aspect, if it sets one. */
  chapterAspect?: Aspect;
}

/** One line, no runs of spaces: a chat composer may treat a newline as "send". */
const squash = (s: string) => s.replace(/\s+/g, ' ').trim();
/** Drops trailing `.`/`,`/`;`/`:` so clauses can be joined without doubled punctuation. */
const clause = (s: string) => squash(s).replace(/[\s.,;:]+$/, '');
const sentence = (s: string) => (/[.!?…。！？]$/.test(s) ? s : `${s}.`);

export interface Bubble {
  locale?: string;
  text: string;
}

/**
 * The prompt sent to the site:
 * `<prompt>, <modifier>, <modifier>. Speech bubble text (<locale>): "<text>". Aspect ratio <ratio> (<shape>). Style: <style>.`
 * Character references are already expanded in `prompt` and `modifiers`; the bubble, aspect and
 * style sentences are left out when the panel has no text, no aspect (or `auto`), or the file no
 * style. The aspect sentence keeps the literal ratio (`9:16`), which sites read.
 */
export function composePrompt(prompt: string, modifiers: readonly string[], bubble: Bubble | undefined, style: string, aspect?: Aspect): string {
  const sentences = [[prompt, ...modifiers].map(clause).filter(Boolean).join(', ')];
  if (bubble) sentences.push(`Speech bubble text${bubble.locale ? ` (${bubble.locale})` : ''}: "${squash(bubble.text)}"`);
  if (aspect && aspect !== 'auto') sentences.push(`Aspect ratio ${describeAspect(aspect)}`);
  if (clause(style)) sentences.push(`Style: ${clause(style)}`);
  return sentences.map(sentence).join(' ');
}

/**
 * The aspect is hashed on its own as well as in the final prompt: `auto` adds nothing to the text
 * but is still a different request from no aspect (the page's aspect control is set), and it keeps
 * hashes of panels without an aspect what they were before aspects existed (JSON drops undefined).
 */
export function hashPrompt(finalPrompt: string, provider: string, locale?: string, variant?: string, aspect?: Aspect): string {
  return createHash('sha256').update(JSON.stringify({ finalPrompt, provider, locale, variant, aspect })).digest('hex');
}

function panelsOf(data: PromptFile): PanelAt[] {
  if (data.prompts) {
    return data.prompts.map((prompt, i) => ({ chapter: 'ch1', strip: 's1', panel: { id: `p${i + 1}`, prompt }, path: ['prompts', i] }));
  }
  return (data.chapters ?? []).flatMap((chapter, c) =>
    chapter.strips.flatMap((strip, s) =>
      strip.panels.map((panel, p) => ({
        chapter: chapter.id,
        strip: strip.id,
        panel,
        path: ['chapters', c, 'strips', s, 'panels', p],
        chapterAspect: chapter.aspect,
      })),
    ),
  );
}

/** A panel without text gives one job; a text map gives one per locale it has, in `locales` order. */
function bubblesOf(panel: PanelSpec, locales: readonly string[]): (Bubble | undefined)[] {
  const { text } = panel;
  if (text === undefined) return [undefined];
  if (typeof text === 'string') return [{ text }];
  return locales.filter((locale) => locale in text).map((locale) => ({ locale, text: text[locale] }));
}

function variantsOf(panel: PanelSpec): (string | undefined)[] {
  const { variants } = panel;
  if (variants === undefined) return [undefined];
  if (typeof variants === 'number') return Array.from({ length: variants }, (_, i) => String(i + 1));
  return variants;
}

export function expandPromptFile(data: PromptFile, file: string, lineOf: (path: Path) => number): PromptBook {
  const provider = data.provider ?? 'chatgpt';
  const style = data.style ?? '';
  const characters = data.characters ?? {};
  const expand = (s: string) => s.replace(REFERENCE, (_, name: string) => clause(characters[name]));
  const jobs: Job[] = [];
  for (const { chapter, strip, panel, path, chapterAspect } of panelsOf(data)) {
    const modifiers = (panel.modifiers ?? []).map(expand);
    const source = { file, line: lineOf(path) };
    // The nearest level that says wins: panel, then chapter, then book.
    const aspect = panel.aspect ?? chapterAspect ?? data.aspect;
    for (const bubble of bubblesOf(panel, data.locales ?? [])) {
      const finalPrompt = composePrompt(expand(panel.prompt), modifiers, bubble, style, aspect);
      for (const variant of variantsOf(panel)) {
        const locale = bubble?.locale;
        const id = `${chapter}/${strip}/${panel.id}${locale ? `.${locale}` : ''}${variant ? `~${variant}` : ''}`;
        jobs.push({
          id,
          order: jobs.length,
          chapter,
          strip,
          panel: panel.id,
          ...(locale ? { locale } : {}),
          ...(variant ? { variant } : {}),
          ...(aspect ? { aspect } : {}),
          prompt: panel.prompt,
          finalPrompt,
          promptHash: hashPrompt(finalPrompt, provider, locale, variant, aspect),
          outputPath: `${id}.png`,
          source,
        });
      }
    }
  }
  return { book: data.book, provider, style, pacing: { ...DEFAULT_PACING, ...data.pacing }, file, jobs };
}
