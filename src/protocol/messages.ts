// The runner ⇄ extension protocol: one discriminated union on `type`, shared by both sides and
// validated on receive. Imports nothing from Node: esbuild bundles it into the extension.
import { z } from 'zod';
import { FAILURE_KINDS } from './errors.js';
import { ProviderDescriptorSchema } from './provider.js';
import { MAX_MESSAGE_CHARS, capText } from './text.js';

export const PROTOCOL_VERSION = 1;
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
export const HEARTBEAT_MS = 20_000;
/** The longest prompt a job sends; the prompt loader refuses longer final prompts up front. */
export const MAX_PROMPT_CHARS = 32_000;

/** WebSocket close codes the hub uses to refuse a client, with the reason sent along. */
export const CLOSE = {
  badMessage: 4000,
  badToken: 4001,
  badVersion: 4002,
  badOrigin: 4003,
  helloTimeout: 4008,
  alreadyConnected: 4009,
  shutdown: 4010,
} as const;

const id = z.string().min(1).max(64);

/**
 * The longest strings the extension may send the runner (ARCHITECTURE §3, "Bounds"). Everything in
 * them comes from a web page; a message over a bound is invalid, so the worker cuts what it forwards
 * first (src/protocol/bounds.ts, called by extension/src/background.ts).
 */
export const LIMITS = {
  /** An http(s) image address the runner fetches (signed 2026 srcs are a few hundred characters). */
  src: 4096,
  /** A blob:/data: src (`inPage`): only its start is sent, the bytes are read in the page (§4). */
  inPageSrc: 200,
  /** Page and conversation addresses. */
  url: 4096,
  fileId: 512,
  /** Page-derived prose: alt text, titles, error, log and `invalid` messages. */
  text: MAX_MESSAGE_CHARS,
  /** Error class names, role names, tokens, extension ids. */
  name: 128,
  /** A job id is three prompt-file ids joined by `/`. */
  jobId: 256,
  selector: 1000,
  /** Entries of a list (selectors tried, roles probed, fallbacks matched). */
  list: 64,
  /** Milliseconds: a quota reset further away than 31 days is not a reset time. */
  resetInMs: 31 * 24 * 3600_000,
} as const;

const text = z.string().max(LIMITS.text);
const name = z.string().max(LIMITS.name);
export const ROLE_NAME = /^[A-Za-z][A-Za-z0-9]{0,63}$/;
const roleName = z.string().regex(ROLE_NAME);

/** A failure as the page and the worker serialise it (worker ⇄ content script: same browser, not bounded). */
export const SerializedErrorSchema = z.object({
  name: z.string(),
  message: z.string(),
  kind: z.enum(FAILURE_KINDS),
  resetInMs: z.number().nonnegative().optional(),
});
/** A failure as it crosses the hub: bounded; a reset more than 31 days away is not a reset time. */
export const WireErrorSchema = SerializedErrorSchema.extend({
  name,
  message: text,
  resetInMs: z.number().nonnegative().max(LIMITS.resetInMs).optional(),
});

/** A panel's shape (ARCHITECTURE §8). */
export const ASPECTS = ['auto', '1:1', '3:4', '9:16', '4:3', '16:9'] as const;
export type Aspect = (typeof ASPECTS)[number];

/** How the prompt asks for an image: the page's image tool when it offers one, else a prefix; or both. */
export const IMAGE_INTENTS = ['tool-or-prefix', 'tool-and-prefix'] as const;
export type ImageIntent = (typeof IMAGE_INTENTS)[number];

/** What the content script reports for a finished image. */
export const ImageFoundSchema = z.object({
  /** An http(s) URL the runner may fetch; `blob:`/`data:` (or `inPage`) means only the page can read the bytes. */
  src: z.string().min(1).max(LIMITS.src),
  /** Read the bytes inside the page, from the marked element (blob: and data: sources, never sent over the hub). */
  inPage: z.boolean().optional(),
  fileId: z.string().min(1).max(LIMITS.fileId),
  naturalWidth: z.number().int().positive(),
  naturalHeight: z.number().int().positive(),
  alt: text,
  conversationUrl: z.string().max(LIMITS.url).url(),
  /** The value of the `data-semantest-image` attribute the content script put on the chosen <img>,
   * so the runner screenshots that element and not a copy of it elsewhere on the page. */
  marker: z.string().max(64).optional(),
  /** How the image was asked for. */
  intent: z.enum(['tool', 'prefix', 'tool+prefix']).optional(),
  /** Roles the page matched only by a fallback selector: role → index in its list (0 = first). */
  matched: z
    .record(roleName, z.number().int().nonnegative())
    .refine((m) => Object.keys(m).length <= LIMITS.list, `at most ${LIMITS.list} roles`)
    .optional(),
});

/** One role of the descriptor looked up on the live page (doctor). */
export const RoleProbeSchema = z.object({
  role: roleName,
  found: z.boolean(),
  /** Which selector matched (0 = the first of its list). */
  index: z.number().int().nonnegative().optional(),
  selector: z.string().max(LIMITS.selector).optional(),
  tried: z.array(z.string().max(LIMITS.selector)).max(LIMITS.list),
});
export const ProbeResultSchema = z.object({
  url: z.string().max(LIMITS.url),
  title: text,
  page: z.enum(['ready', 'login', 'challenge', 'no-composer']),
  roles: z.array(RoleProbeSchema).max(LIMITS.list),
  imageTool: z.enum(['offered', 'absent']),
});
export type ProbeResult = z.infer<typeof ProbeResultSchema>;
export type ImageFound = z.infer<typeof ImageFoundSchema>;

/** The page's limits on reference images (DESIGN §4 "attachments"): per image, and per message. */
export const MAX_ATTACHMENTS = 10;
export const MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024;
/**
 * All of one prompt's attachments together. The request reaches the page through
 * chrome.tabs.sendMessage, whose JSON may be at most 64 MiB; 40 MiB of bytes is 53.3 MiB of base64,
 * leaving room for the descriptor and the prompt. (Runner → extension only: the hub's 1 MiB bound is
 * on what it receives, ARCHITECTURE §3 "Bounds".)
 */
export const MAX_ATTACHMENTS_TOTAL_BYTES = 40 * 1024 * 1024;
export const ATTACHMENT_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const;

/** Base64 with no whitespace; decoded length from its length and padding, without decoding. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
export function base64Bytes(base64: string): number {
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return Math.floor((base64.length * 3) / 4) - padding;
}

/** One reference image to attach: a plain file name (the page shows it), its type and its bytes. */
export const AttachmentSchema = z.object({
  name: z
    .string()
    .min(1)
    .max(255)
    .refine((n) => !/[\\/\u0000-\u001f]/.test(n) && n !== '.' && n !== '..', 'must be a plain file name'),
  type: z.enum(ATTACHMENT_TYPES),
  base64: z
    .string()
    .max(Math.ceil(MAX_ATTACHMENT_BYTES / 3) * 4)
    .refine((b) => b.length % 4 === 0 && BASE64.test(b), 'must be base64')
    .refine((b) => base64Bytes(b) > 0 && base64Bytes(b) <= MAX_ATTACHMENT_BYTES, `must decode to 1 byte … ${MAX_ATTACHMENT_BYTES / 1024 / 1024} MiB`),
});
export type Attachment = z.infer<typeof AttachmentSchema>;

export const GenerateRequestSchema = z.object({
  jobId: z.string().min(1),
  prompt: z.string().min(1).max(MAX_PROMPT_CHARS),
  timeoutMs: z.number().int().positive(),
  /** No two prompts leave this browser closer together than this, whatever the tabs' load times. */
  sendGapMs: z.number().int().nonnegative().default(0),
  /** File ids other panels have claimed: an answer showing only these is stale, failed at once. */
  excludeFileIds: z.array(z.string()).default([]),
  imageIntent: z.enum(IMAGE_INTENTS).default('tool-or-prefix'),
  /** Chosen in the page's aspect control when it has one; absent = leave the page's default. */
  aspect: z.enum(ASPECTS).optional(),
  /** The panel's reference images, attached in the composer before the prompt is typed (ARCHITECTURE §4, "Attachments"). */
  attachments: z
    .array(AttachmentSchema)
    .max(MAX_ATTACHMENTS)
    .refine((list) => list.reduce((sum, a) => sum + base64Bytes(a.base64), 0) <= MAX_ATTACHMENTS_TOTAL_BYTES, `at most ${MAX_ATTACHMENTS_TOTAL_BYTES / 1024 / 1024} MiB in all`)
    .optional(),
});

/** Phases the content script reports for the job in flight; `conversation` carries the page's new URL. */
export const PROGRESS_PHASES = ['attached', 'filled', 'sent', 'conversation', 'generating', 'image-loaded'] as const;

// Extension → runner
export const ExtensionMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('hello'), v: z.number().int(), token: name, extensionId: name }),
  /** `data` is checked against `ReplySchemas[request type]` once the id names the request. */
  z.object({ type: z.literal('reply'), id, data: z.unknown() }),
  z.object({ type: z.literal('fail'), id, error: WireErrorSchema }),
  z.object({
    type: z.literal('progress'),
    tabId: z.number().int(),
    jobId: z.string().max(LIMITS.jobId),
    phase: z.enum(PROGRESS_PHASES),
    conversationUrl: z.string().max(LIMITS.url).optional(),
  }),
  z.object({ type: z.literal('heartbeat'), t: z.number() }),
  z.object({ type: z.literal('log'), level: z.enum(['debug', 'info', 'warn', 'error']), message: text }),
  z.object({ type: z.literal('invalid'), id: id.optional(), message: text }),
]);
export type ExtensionMessage = z.infer<typeof ExtensionMessageSchema>;

// Runner → extension
export const RunnerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('welcome'), v: z.number().int(), provider: ProviderDescriptorSchema }),
  /** `replaceTabId`: open the new tab in that tab's window (a replacement; the runner then closes the old tab). */
  z.object({ type: z.literal('open-tab'), id, url: z.string().url(), replaceTabId: z.number().int().optional() }),
  z.object({ type: z.literal('generate'), id, tabId: z.number().int() }).merge(GenerateRequestSchema),
  z.object({
    type: z.literal('find-image'),
    id,
    tabId: z.number().int(),
    jobId: z.string().min(1),
    /** The prompt this job sent: only the answer to the user message carrying it counts. */
    prompt: z.string().min(1).max(MAX_PROMPT_CHARS),
    /** File ids already taken by other jobs: a match must be none of these. */
    excludeFileIds: z.array(z.string()),
    timeoutMs: z.number().int().positive(),
  }),
  /** Looks up every role of the descriptor on the tab's page without sending anything (doctor). */
  z.object({ type: z.literal('probe'), id, tabId: z.number().int() }),
  z.object({ type: z.literal('heartbeat-ack'), t: z.number() }),
  z.object({ type: z.literal('invalid'), id: id.optional(), message: z.string() }),
]);
export type RunnerMessage = z.infer<typeof RunnerMessageSchema>;

/** Result schemas of the runner's requests, checked when the reply arrives. */
export const ReplySchemas = {
  'open-tab': z.object({ tabId: z.number().int() }),
  generate: ImageFoundSchema,
  'find-image': ImageFoundSchema.nullable(),
  probe: ProbeResultSchema,
} as const;
export type RequestType = keyof typeof ReplySchemas;

// Service worker ⇄ content script (chrome.runtime messaging, same validation rule).
export const ContentCommandSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('cs-generate'), provider: ProviderDescriptorSchema }).merge(GenerateRequestSchema),
  z.object({
    type: z.literal('cs-find-image'),
    provider: ProviderDescriptorSchema,
    jobId: z.string().min(1),
    prompt: z.string().min(1).max(MAX_PROMPT_CHARS),
    excludeFileIds: z.array(z.string()),
    timeoutMs: z.number().int().positive(),
  }),
  z.object({ type: z.literal('cs-probe'), provider: ProviderDescriptorSchema }),
  z.object({ type: z.literal('cs-ping') }),
]);
export type ContentCommand = z.infer<typeof ContentCommandSchema>;

export const ContentReplySchema = z.union([
  z.object({ ok: z.literal(true), data: z.unknown() }),
  z.object({ ok: z.literal(false), error: SerializedErrorSchema }),
]);
export type ContentReply = z.infer<typeof ContentReplySchema>;

export const ContentEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('cs-ready'), url: z.string() }),
  /** Asked right before the send button is clicked; answered when the send gap allows it. */
  z.object({ type: z.literal('cs-send-permit'), sendGapMs: z.number().int().nonnegative() }),
  z.object({
    type: z.literal('cs-progress'),
    jobId: z.string(),
    phase: z.enum(PROGRESS_PHASES),
    conversationUrl: z.string().optional(),
  }),
]);
export type ContentEvent = z.infer<typeof ContentEventSchema>;

/**
 * Formats a zod failure as "path: message" lines so a log names the offending field. Capped: the
 * input may be a hostile message with thousands of bad entries, and this text is logged and sent back.
 */
export function describeIssues(error: z.ZodError, max: number = 2000): string {
  const issues = error.issues.slice(0, 20).map((i) => `${capText(i.path.map(String).join('.'), 200) || '(root)'}: ${capText(i.message, 300)}`);
  const more = error.issues.length > 20 ? `; and ${error.issues.length - 20} more` : '';
  return capText(issues.join('; ') + more, max);
}
