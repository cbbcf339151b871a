// The prompt file as written (ARCHITECTURE §8, v1). Messages are phrased to follow "<field path>: ",
// so every schema-specific message reads as the end of a sentence.
import { z } from 'zod';
import { ASPECTS, MAX_ATTACHMENTS } from '../protocol/messages.js';

/** Book slugs name output and checkpoint folders. */
export const SLUG = /^[a-z0-9][a-z0-9-]{0,63}$/;
/**
 * Ids and variant names become path segments; `.` and `~` separate locale and variant in job ids.
 * A leading letter or digit keeps an id from reading as a command-line option (`reject -p1`), and
 * 64 characters keep every path well under the platforms' limits before any image is paid for.
 */
export const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** A BCP 47-like tag (`en`, `ja`, `pt-BR`, `zh-Hant`): it appears in file names. */
export const LOCALE = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,3}$/;
/** Windows opens these as devices whatever the extension (`con.png`, `NUL.ja.png`), on any drive. */
export const DEVICE_NAME = /^(?:con|prn|aux|nul|com[1-9]|lpt[1-9])(?:\.|$)/i;

const ID_RULE = 'must start with a letter or digit and use only letters, digits, "-" and "_", at most 64 characters (it becomes part of a file path)';
const DEVICE_RULE = 'is a name Windows reserves for a device (CON, PRN, AUX, NUL, COM1-9, LPT1-9) and cannot name a file: choose another';
/** Only once the id rule holds, so one bad id gets one message. */
const notDevice = (s: string) => !ID.test(s) || !DEVICE_NAME.test(s);

function strict<T extends z.ZodRawShape>(what: string, shape: T) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown key (${what} takes ${known})` : undefined),
  });
}

// Not `.trim().min(1)`: that would change the text the user wrote, which jobs keep verbatim.
const Text = z.string().refine((s) => s.trim() !== '', 'is empty');
const Id = z
  .string({ error: (iss) => (typeof iss.input === 'number' ? `must be text such as p${iss.input}; quote a bare number ("${iss.input}") so YAML keeps it as written` : undefined) })
  .regex(ID, ID_RULE)
  .refine(notDevice, DEVICE_RULE);
const Seconds = z.number().min(0).optional();

/** `16x9`, `9/16`, `9 : 16`, `Auto` → the allowed spelling, when a slip is that close to one. */
function aspectSpelling(input: unknown): string | undefined {
  if (typeof input !== 'string') return undefined;
  const spelt = input.trim().toLowerCase().replace(/\s*[x×/]\s*|\s*:\s*/g, ':');
  return (ASPECTS as readonly string[]).includes(spelt) ? spelt : undefined;
}

/** A panel's shape; `auto` lets the site choose. Absent = say nothing about the shape. */
const AspectField = z
  .enum(ASPECTS, {
    error: (iss) => {
      const allowed = `must be one of ${ASPECTS.join(', ')}`;
      if (iss.input === undefined) return undefined;
      if (iss.input === null) return `is empty (expected one of ${ASPECTS.join(', ')}, or leave aspect out)`;
      if (typeof iss.input === 'number') return `${allowed}, not the number ${iss.input} (write a ratio such as 16:9)`;
      const spelt = aspectSpelling(iss.input);
      if (spelt) return `${allowed}, not ${describeValue(iss.input)} (write ${spelt})`;
      return `${allowed}, not ${describeValue(iss.input)}`;
    },
  })
  .optional();

/** Each variant is a paid image; a typo such as 1000000 would otherwise build a million jobs. */
export const MAX_VARIANTS = 100;

const Panel = strict('a panel', {
  id: Id,
  prompt: Text,
  modifiers: z.array(Text).optional(),
  text: z
    .union([Text, z.record(z.string(), Text)], {
      error: 'must be a string or a map of locale to text, e.g. { en: "Not tonight.", ja: "今夜はだめ。" }',
    })
    .optional(),
  variants: z
    .union([z.number().int().min(1), z.array(z.string().regex(ID, ID_RULE).refine(notDevice, DEVICE_RULE)).min(1)], {
      error: `must be a whole number from 1 to ${MAX_VARIANTS} or a list of variant names`,
    })
    .optional(),
  aspect: AspectField,
});

const Strip = strict('a strip', { id: Id, title: z.string().optional(), panels: z.array(Panel).min(1) });
const Chapter = strict('a chapter', { id: Id, title: z.string().optional(), aspect: AspectField, strips: z.array(Strip).min(1) });

const PacingFields = strict('pacing', {
  concurrency: z.number().int().min(1).optional(),
  minGapSeconds: Seconds,
  jitterSeconds: Seconds,
  cooldownEvery: z.number().int().min(0).optional(),
  cooldownSeconds: Seconds,
});

/** The page takes at most this many images with one message, so no character may need more. */
export const MAX_CHARACTER_REFS = MAX_ATTACHMENTS;

/**
 * `refs: sheet` (the character's sheet made by `semantest-run characters`) or a list of image
 * paths relative to the prompt file's folder. The files themselves are checked in refs.ts.
 */
const Refs = z.union(
  [
    z.literal('sheet'),
    z
      .array(Text)
      .min(1)
      .max(MAX_CHARACTER_REFS, `lists too many reference images: at most ${MAX_CHARACTER_REFS} per character (the page takes ${MAX_ATTACHMENTS} per message)`),
  ],
  { error: 'must be sheet (the character\'s sheet from `semantest-run characters`) or a list of image paths, e.g. [refs/mara-front.png]' },
);

/** A description (`{name}` expands to it), or a description with reference images. */
const Character = z.union([Text, strict('a character', { description: Text, refs: Refs.optional() })], {
  error: 'must be a description, or { description: "…", refs: [image paths] } (or refs: sheet)',
});

/** A profile name names a folder under profiles/: nothing that climbs out of it (the same rule as --profile). */
export const PROFILE_NAME = /^(?!\.\.?$)[A-Za-z0-9._-]{1,64}$/;

const QuotaFields = strict('quota', {
  images: z.number().int().min(1),
  hours: z.number().positive().max(24 * 31),
});

export const PromptFileSchema = strict('a prompt file', {
  book: z
    .string()
    .regex(SLUG, 'must be a slug: lowercase letters, digits and "-", not starting with "-", at most 64 characters (it names folders)')
    .refine(notDevice, DEVICE_RULE),
  provider: z.string().regex(SLUG, 'must be a provider name such as chatgpt').optional(),
  style: z.string().optional(),
  aspect: AspectField,
  // The same rule as ids: it also refuses `__proto__`, which plain objects treat specially.
  characters: z.record(z.string().regex(ID, 'must be a character name that starts with a letter or digit, then letters, digits, "-" and "_", at most 64 characters (used as {name})'), Character).optional(),
  locales: z.array(z.string().regex(LOCALE, 'must be a locale code such as en, ja or pt-BR')).min(1).optional(),
  pacing: PacingFields.optional(),
  profiles: z
    .array(z.string().regex(PROFILE_NAME, 'must be a profile name: letters, digits, ".", "_" and "-", at most 64 (it names a folder under profiles/)'))
    .min(1)
    .refine((names) => new Set(names).size === names.length, 'names a profile twice; each profile is one browser and runs once')
    .optional(),
  quota: QuotaFields.optional(),
  chapters: z.array(Chapter).min(1).optional(),
  prompts: z.array(Text).min(1).optional(),
});

export type PromptFile = z.infer<typeof PromptFileSchema>;
export type PanelSpec = z.infer<typeof Panel>;
export type CharacterSpec = z.infer<typeof Character>;

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping (key: value lines)',
  record: 'a mapping (key: value lines)',
};

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value !== null && typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}

/** `prompt: {mara}` unquoted is a YAML flow mapping `{ mara: null }`, not the text the user meant. */
function unquotedReference(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const entries = Object.entries(value);
  return entries.length === 1 && entries[0][1] === null ? entries[0][0] : undefined;
}

/** Words for zod's generic issues; schema-specific messages above take precedence. */
export function issueSentence(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type': {
      const expected = EXPECTED[iss.expected] ?? iss.expected;
      if (iss.input === undefined) return 'is required';
      if (iss.input === null) return `is empty (expected ${expected})`;
      const ref = unquotedReference(iss.input);
      if (ref && expected === 'a string') return `must be a string, but YAML read {${ref}} as a mapping: quote the text, e.g. "{${ref}} …"`;
      return `must be ${expected}, not ${describeValue(iss.input)}`;
    }
    case 'too_small':
      if (iss.origin === 'array') return `must list at least ${iss.minimum} item${iss.minimum === 1 ? '' : 's'}`;
      if (iss.origin === 'string') return 'is empty';
      return `must be ${iss.inclusive ? 'at least' : 'more than'} ${iss.minimum}`;
    case 'too_big':
      return `must be ${iss.inclusive ? 'at most' : 'less than'} ${iss.maximum}`;
    case 'invalid_key':
      return iss.issues[0]?.message;
    default:
      return undefined;
  }
}
