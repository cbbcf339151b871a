// A provider is data: ordered selector lists, text patterns and timings, validated here and sent to
// the extension per run, so a changed site needs a new descriptor, not a new extension build.
import { z } from 'zod';
import { flagsProblem, patternProblem } from './text-patterns.js';

const selectors = z.array(z.string().min(1)).min(1);
/** A role a page may not have at all (the image tool, an aspect control): none is fine. */
const optionalSelectors = z.array(z.string().min(1)).default([]);
/**
 * A pattern run on page text: it must compile, carry only the flags i, m, s, u, and have none of the
 * shapes that backtrack exponentially (text-patterns.ts); each refusal names `<field>.source` or `.flags`.
 */
const pattern = z
  .object({ source: z.string().min(1), flags: z.string().default('i') })
  .strict()
  .superRefine((p, ctx) => {
    const flags = flagsProblem(p.flags);
    if (flags) return ctx.addIssue({ code: 'custom', path: ['flags'], message: flags });
    try {
      new RegExp(p.source, p.flags);
    } catch (error) {
      return ctx.addIssue({ code: 'custom', path: ['source'], message: (error as Error).message });
    }
    const problem = patternProblem(p.source);
    if (problem) ctx.addIssue({ code: 'custom', path: ['source'], message: problem });
  });

export const ProviderDescriptorSchema = z
  .object({
    name: z.string().min(1),
    /** Where the runner opens the site: http or https only (a file: or data: page is no site). */
    baseUrl: z
      .string()
      .url()
      .refine((url) => /^https?:$/.test(new URL(url).protocol), { message: 'must be an http: or https: URL' }),
    selectors: z
      .object({
        composer: selectors,
        send: selectors,
        stop: selectors,
        /** Conversation turns (user and assistant); the answer to a prompt is the turns after its user message. */
        turn: selectors,
        /** The element holding one user message (its text is the prompt that was sent). */
        userMessage: selectors,
        image: selectors,
        download: selectors,
        newChat: selectors,
        login: selectors,
        error: selectors,
        /** Live regions (status, aria-live) whose text is read for the failure wordings only. */
        notice: optionalSelectors,
        /** The composer's "+" button that opens the tools menu. */
        plusButton: optionalSelectors,
        /** The "Create image" entry of that menu. */
        imageToolItem: optionalSelectors,
        /** Shown in the composer while the image tool is on (the pill). */
        imageToolOn: optionalSelectors,
        /** "Choose image aspect ratio" and its choices (each choice's text names its ratio, e.g. "Story 9:16"). */
        aspectControl: optionalSelectors,
        aspectOption: optionalSelectors,
        /** The container of one generated image (its id names the image when the src does not). */
        imageContainer: optionalSelectors,
        /** The composer's form: file inputs are only ever looked for inside it (ones outside drop files). */
        composerForm: optionalSelectors,
        /** File inputs inside the composer form, in order of preference. */
        fileInput: optionalSelectors,
        /** One attached file's tile in the composer; its button and "Remove …" labels name the file. */
        attachmentTile: optionalSelectors,
        /** Matched on a tile or inside it while its file is still uploading. */
        attachmentBusy: optionalSelectors,
      })
      .strict(),
    /** Put before the prompt when the image tool cannot be turned on, so the answer is an image. */
    imagePrefix: z.string().default('Create an image: '),
    /** Group 1 of the image container's id is the file id when the src carries none (blob: and data: srcs). */
    imageContainerId: pattern.default({ source: '^image-([A-Za-z0-9_-]+)$', flags: '' }),
    /** The `src` of a generated image must match this; group 1 is the file id. */
    imageSrc: pattern,
    /** The path of one conversation's page (where a late image can be looked for). */
    conversationPath: pattern,
    text: z
      .object({
        generating: pattern,
        done: pattern,
        cooldown: pattern,
        quota: pattern,
        /** Group 1 hours, group 2 minutes, group 3 seconds (any may be absent). */
        quotaReset: pattern,
        policy: pattern,
        error: pattern,
        login: pattern,
        challenge: pattern,
        /** The text of the tools menu entry that turns image generation on. */
        imageTool: pattern.default({ source: '^\\s*Create image', flags: 'i' }),
        /** The banner of an upload that failed (read in the composer form, alerts and live regions). */
        uploadFailed: pattern.default({ source: 'Failed upload', flags: 'i' }),
        /**
         * A button of the two-image question ("Which image do you like more?"): "Image 1 is better",
         * "Image 2 is better"; group 1 is the image's number (1 is the first shown). Labels are localized:
         * a `--provider-file` may give the account's wording.
         */
        choiceButton: pattern.default({ source: '^\\s*Image\\s+(\\d{1,2})\\s+is\\s+better\\s*$', flags: 'i' }),
      })
      .strict(),
    timings: z
      .object({
        pollMs: z.number().int().positive(),
        readyTimeoutMs: z.number().int().positive(),
        sendTimeoutMs: z.number().int().positive(),
        minImageWidth: z.number().int().positive(),
        /** A page with less visible text than this and a login button is a login wall. */
        loginMaxTextLength: z.number().int().positive(),
        /** An answer that stops changing this long with no stop button, no image and no known wording has ended.
         * @default 1500 */
        settleMs: z.number().int().positive().default(1500),
        /** Attached files each show a tile within this, else the page dropped one. @default 10000 */
        tileTimeoutMs: z.number().int().positive().default(10_000),
        /** Every upload done (no tile busy, Send enabled) within this, counted from the attach; 5–30 s
         * are reported, so twice the worst. @default 60000 */
        uploadTimeoutMs: z.number().int().positive().default(60_000),
        /** Send must stay enabled, nothing busy, this long before it is pressed. @default 500 */
        sendSteadyMs: z.number().int().nonnegative().default(500),
      })
      .strict(),
  })
  .strict();

export type ProviderDescriptor = z.infer<typeof ProviderDescriptorSchema>;
export type TextPattern = z.infer<typeof pattern>;

export function toRegExp(p: TextPattern): RegExp {
  return new RegExp(p.source, p.flags);
}

/** Whether `url` is one conversation's page on this provider's site (where a late image can be). */
export function isConversationUrl(url: string, provider: ProviderDescriptor): boolean {
  try {
    const parsed = new URL(url);
    return parsed.origin === new URL(provider.baseUrl).origin && toRegExp(provider.conversationPath).test(parsed.pathname);
  } catch {
    return false;
  }
}
