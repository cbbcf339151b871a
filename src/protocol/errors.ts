// Every failure that crosses a boundary (page → extension → hub → runner) is one of these classes.
// The class decides what the scheduler does (DESIGN §5), never string matching on messages.
// Serialised as {name, message, kind, ...details} and rebuilt by name on the other side.

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
] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

export interface SerializedError {
  name: string;
  message: string;
  kind: FailureKind;
  /** Milliseconds until the site says the limit resets (quota). */
  resetInMs?: number;
}

/** Base of every typed failure; `kind` names the action table row in DESIGN §5. */
export class SemantestError extends Error {
  readonly kind: FailureKind = 'transient';
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A retryable hiccup: error text on the page, network, fetch 5xx. */
export class TransientError extends SemantestError {
  override readonly kind = 'transient' as const;
}
/** The generation did not finish before its deadline. */
export class GenerationTimeoutError extends SemantestError {
  override readonly kind = 'timeout' as const;
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
/** The site refused the prompt; never retried. */
export class PolicyError extends SemantestError {
  override readonly kind = 'policy' as const;
}
/** The site shows a login wall; a human must log in. */
export class LoginRequiredError extends SemantestError {
  override readonly kind = 'login' as const;
}
/** The site shows a bot challenge; a human must solve it. */
export class ChallengeError extends SemantestError {
  override readonly kind = 'challenge' as const;
}
/** The extension, its tab or the browser went away mid-request. */
export class DisconnectError extends SemantestError {
  override readonly kind = 'disconnect' as const;
}
/** The saved bytes are not provably the image the page showed. */
export class VerificationError extends SemantestError {
  override readonly kind = 'verify' as const;
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
 * contract (a minified bundle renames classes); the name only refines it within the same kind.
 */
export function deserializeError(data: SerializedError): SemantestError {
  if (data.kind === 'quota') return new QuotaError(data.message, data.resetInMs);
  const named = CLASSES[data.name as keyof typeof CLASSES] as (new (message: string) => SemantestError) | undefined;
  const Class = named && new named('').kind === data.kind ? named : classForKind(data.kind);
  return new Class(data.message);
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
    default: return TransientError;
  }
}

/** Human-needed kinds stop a headless run with exit code 3. */
export function needsHuman(error: unknown): boolean {
  return error instanceof LoginRequiredError || error instanceof ChallengeError;
}
