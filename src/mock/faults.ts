// Fault injection for the mock site: `--mock-faults "error@2,cooldown:0.1"` decides, per prompt the
// site receives, which single fault (if any) that prompt meets. Seeded, so a failing run replays.
import { UsageError } from '../protocol/errors.js';

export const MOCK_FAULT_KINDS = [
  'cooldown', // "You're generating images too quickly…" in the answer
  'quota', // the plan's usage cap, with "resets in …"; every prompt until the reset meets it too
  'policy', // a content-policy refusal
  'error', // "Something went wrong" in the answer plus an error toast
  'timeout', // the image never finishes (stop button stays)
  'network', // the send fails: HTTP 502 and "Message delivery timed out"
  'blank', // the finished image is a uniform grey picture
  'corrupt', // the bytes fetched for the image are truncated (the page shows it whole)
  'partial', // the first fetch of the image returns the blurred partial (the page shows the final)
  'login', // the page turns into a login wall until someone clicks "Log in"
  'challenge', // a "Just a moment… Verify you are human" page until someone clicks through
  'reload', // the page reloads itself mid-generation; the image still arrives in the conversation
  'stale', // the page shows the previous prompt's image as this one's
  'swap', // the bytes behind the image's URL are another picture than the one displayed
] as const;
export type MockFaultKind = (typeof MOCK_FAULT_KINDS)[number];

export type FaultRule =
  | { kind: MockFaultKind; at: number }
  | { kind: MockFaultKind; probability: number };

/** Parses a fault spec; a bad item is a UsageError that names it. */
export function parseFaultSpec(spec: string | undefined, option = '--mock-faults'): FaultRule[] {
  if (!spec || !spec.trim()) return [];
  return spec.split(',').map((raw) => {
    const item = raw.trim();
    const match = /^([a-z]+)(?:(@)(\d+)|(:)([0-9]*\.?[0-9]+))$/.exec(item);
    if (!match) {
      throw new UsageError(`${option}: "${item}" is not kind:probability or kind@n (e.g. "error:0.1" or "quota@3")`);
    }
    const kind = match[1] as MockFaultKind;
    if (!MOCK_FAULT_KINDS.includes(kind)) {
      throw new UsageError(`${option}: unknown fault kind "${match[1]}" in "${item}" (kinds: ${MOCK_FAULT_KINDS.join(', ')})`);
    }
    if (match[2]) {
      const at = Number(match[3]);
      if (at < 1) throw new UsageError(`${option}: "${item}": the prompt number starts at 1`);
      return { kind, at };
    }
    const probability = Number(match[5]);
    if (!(probability >= 0 && probability <= 1)) throw new UsageError(`${option}: "${item}": the probability must be between 0 and 1`);
    return { kind, probability };
  });
}

/** mulberry32: small, fast, good enough to make fault sequences reproducible from a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks at most one fault per prompt: `@n` rules first, then probabilities in the order given. */
export class FaultPlan {
  private readonly random: () => number;
  constructor(private readonly rules: FaultRule[], seed = 1) {
    this.random = seededRandom(seed);
  }

  forPrompt(n: number): MockFaultKind | undefined {
    // Roll every probability rule on every prompt so the sequence does not depend on which hit.
    const rolls = this.rules.map((rule) => ('probability' in rule ? this.random() : 1));
    for (const rule of this.rules) if ('at' in rule && rule.at === n) return rule.kind;
    for (const [i, rule] of this.rules.entries()) if ('probability' in rule && rolls[i] < rule.probability) return rule.kind;
    return undefined;
  }
}

/** "10 hours and 25 minutes", "5 seconds", "1 minute" → milliseconds. */
export function parseDuration(text: string, option = '--mock-quota-reset'): number {
  const units: Record<string, number> = { hour: 3_600_000, minute: 60_000, second: 1000 };
  let total = 0;
  let found = false;
  for (const match of text.matchAll(/(\d+)\s*(hour|minute|second)s?/gi)) {
    total += Number(match[1]) * units[match[2].toLowerCase()];
    found = true;
  }
  if (!found) throw new UsageError(`${option}: "${text}" names no duration (e.g. "2 minutes" or "10 hours and 25 minutes")`);
  return total;
}
