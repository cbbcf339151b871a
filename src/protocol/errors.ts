// The one error hierarchy of Semantest. Every error carries two things: `kind`, what the runner does
// next (ARCHITECTURE §5, docs/ARCHITECTURE.md "Failure kinds"), and `exitCode`, what the command line ends
// with (ARCHITECTURE §9). Job failures cross the wire (page → extension → hub → runner) serialised as
// {name, message, kind, ...details} and are rebuilt by kind on the other side, so `instanceof` works.
// Imports nothing from Node: esbuild bundles this file into the extension.
import { MAX_MESSAGE_CHARS, capText, cleanText } from './text.js';

export const FAILURE_KINDS = [
  'transient',
  'cooldown',
  'quota',
  'policy',
  'login',
  'challenge',
  'disconnect',
  'verify',
  'timeout',
  /** The answer to the prompt ended with text and no image. */
  'no-image',
  /** The page no longer matches the provider descriptor (a role is not found): the run stops. */
  'drift',
  /** A reference image did not upload: the page's banner, an upload that never finished, or a file
   * the page dropped (no tile). Nothing was sent. */
  'upload',
  /** A reference image cannot be sent as it is: too many, too large, unreadable or changed since the
   * prompt file was loaded. Checked before anything is sent; no retry can fix it. */
  'attachment',
  /** Not a job's failure: bad input, a missing browser, a lock; the run stops with a sentence. */
  'fatal',
] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

export interface SerializedError {
  name: string;
  message: string;
  kind: FailureKind;
  /** Milliseconds until the site says the limit resets (quota). */
  resetInMs?: number;
}

/** Base of every error Semantest throws on purpose; its message is a sentence for the user. */
export class SemantestError extends Error {
  readonly kind: FailureKind = 'transient';
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

// ── Job failures: what happened to one attempt; the retry policy reads `kind`. ──

/** A retryable hiccup: error text on the page, network, fetch 5xx. */
export class TransientError extends SemantestError {
  override readonly kind = 'transient' as const;
}
/** The generation did not finish before its deadline. */
export class GenerationTimeoutError extends SemantestError {
  override readonly kind = 'timeout' as const;
}
/** The answer ended with text and no image (the site answered in words); retried. */
export class NoImageError extends SemantestError {
  override readonly kind = 'no-image' as const;
}
/** The site asks us to slow down; the whole profile pauses. */
export class CooldownError extends SemantestError {
  override readonly kind = 'cooldown' as const;
}
/** The plan's image limit is reached; the profile pauses until the reset time. */
export class QuotaError extends SemantestError {
  override readonly kind = 'quota' as const;
  constructor(message: string, readonly resetInMs?: number) {
    super(message);
  }
}
/** The site refused the prompt; never retried (a second send is a second strike on the account). */
export class PolicyError extends SemantestError {
  override readonly kind = 'policy' as const;
}
/** The site shows a login wall; a human must log in. */
export class LoginRequiredError extends SemantestError {
  override readonly kind = 'login' as const;
  override readonly exitCode = 3;
}
/** The site shows a bot challenge; a human must solve it. */
export class ChallengeError extends SemantestError {
  override readonly kind = 'challenge' as const;
  override readonly exitCode = 3;
}
/** The extension, its tab or the browser went away mid-request. */
export class DisconnectError extends SemantestError {
  override readonly kind = 'disconnect' as const;
}
/** The saved bytes are not provably this panel's image (stale, swapped, blank, truncated, partial). */
export class VerificationError extends SemantestError {
  override readonly kind = 'verify' as const;
}
/** The answer shows an image another panel owns: that conversation's answer is spent, send afresh. */
export class StaleImageError extends VerificationError {}

/** The page no longer matches the descriptor; the message names the role and the selectors tried. */
export class DriftError extends SemantestError {
  override readonly kind = 'drift' as const;
}

/** A reference image did not upload (banner, never finished, dropped); the message names the file. */
export class UploadError extends SemantestError {
  override readonly kind = 'upload' as const;
}
/** A reference image cannot be sent as it is (too many, too large, unreadable, changed since load). */
export class AttachmentError extends SemantestError {
  override readonly kind = 'attachment' as const;
}

// ── Run-level errors: the run (or the command) stops with a sentence and an exit code. ──

/** A problem the user must fix before the run can go on. */
export class FatalError extends SemantestError {
  override readonly kind = 'fatal' as const;
}
/** Bad command line or option value. */
export class UsageError extends FatalError {
  override readonly exitCode = 2;
}
/** The prompt file is unreadable or invalid; the message names file, line and column. */
export class PromptFileError extends FatalError {
  override readonly exitCode = 2;
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}:${column}: ${detail}`);
  }
}
/** Checkpoint files exist but cannot be read or written; they are left untouched. */
export class CheckpointError extends FatalError {
  override readonly exitCode = 2;
}
/** The disk (or the user's quota) filled up while writing `file`; what was verified is kept, the run stops. */
export class DiskFullError extends CheckpointError {
  constructor(
    readonly file: string,
    options?: { cause?: unknown },
  ) {
    super(`disk full while writing ${file}: free space and run again with --resume`, options);
  }
}
/** The file-system codes of a full disk (ENOSPC) or an exhausted quota (EDQUOT). */
export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
/** No usable Chromium was found. */
export class BrowserNotFoundError extends FatalError {
  override readonly exitCode = 2;
}
/** A headful run was asked for on a machine without a display. */
export class NoDisplayError extends FatalError {
  override readonly exitCode = 2;
}
/** Another process holds the profile or the book. */
export class LockedError extends FatalError {
  override readonly exitCode = 2;
  constructor(message: string, readonly pid?: number) {
    super(message);
  }
}
/** A login wall or challenge needs a person and the run cannot wait for one (headless): exit 3. */
export class HumanNeededError extends FatalError {
  override readonly exitCode = 3;
}
/** The user interrupted the run; state is saved. */
export class InterruptedError extends FatalError {
  override readonly exitCode = 130;
}

const CLASSES = {
  SemantestError,
  TransientError,
  GenerationTimeoutError,
  CooldownError,
  QuotaError,
  PolicyError,
  LoginRequiredError,
  ChallengeError,
  DisconnectError,
  VerificationError,
  StaleImageError,
  NoImageError,
  DriftError,
  UploadError,
  AttachmentError,
  FatalError,
} as const;

export function serializeError(error: unknown): SerializedError {
  if (error instanceof SemantestError) {
    const out: SerializedError = { name: error.name, message: error.message, kind: error.kind };
    if (error instanceof QuotaError && error.resetInMs !== undefined) out.resetInMs = error.resetInMs;
    return out;
  }
  const message = error instanceof Error ? error.message : String(error);
  return { name: 'TransientError', message, kind: 'transient' };
}

/**
 * Rebuilds the class that was thrown on the other side, so `instanceof` works. The kind is the
 * contract (a minified bundle renames classes); the name only refines it within the same kind, and
 * only when it is one of CLASSES' own keys (`toString`, `__proto__`, `constructor` are not).
 * The message is page text: control characters go, and it is capped (head and tail).
 */
export function deserializeError(data: SerializedError): SemantestError {
  const message = capText(cleanText(String(data.message)), MAX_MESSAGE_CHARS);
  if (data.kind === 'quota') return new QuotaError(message, data.resetInMs);
  const named = Object.hasOwn(CLASSES, data.name) ? (CLASSES[data.name as keyof typeof CLASSES] as new (message: string) => SemantestError) : undefined;
  const Class = named && new named('').kind === data.kind ? named : classForKind(data.kind);
  return new Class(message);
}

function classForKind(kind: FailureKind): new (message: string) => SemantestError {
  switch (kind) {
    case 'cooldown': return CooldownError;
    case 'policy': return PolicyError;
    case 'login': return LoginRequiredError;
    case 'challenge': return ChallengeError;
    case 'disconnect': return DisconnectError;
    case 'verify': return VerificationError;
    case 'timeout': return GenerationTimeoutError;
    case 'no-image': return NoImageError;
    case 'drift': return DriftError;
    case 'upload': return UploadError;
    case 'attachment': return AttachmentError;
    case 'fatal': return FatalError;
    default: return TransientError;
  }
}

/** Human-needed kinds: a headful run waits for the person, a headless one stops with exit code 3. */
export function needsHuman(error: unknown): boolean {
  return error instanceof LoginRequiredError || error instanceof ChallengeError;
}
