// Fault injection for the mock site: `--mock-faults "error@2,cooldown:0.1,reload+policy@3"` decides,
// per prompt the site receives, which single fault (if any) that prompt meets; `reload+KIND` is one
// fault that reloads the page mid-generation and then ends as KIND. Seeded, so a failing run replays.
import { UsageError } from '../protocol/errors.js';

export const MOCK_FAULT_KINDS = [
  'cooldown', // "You're generating images too quickly…" in the answer
  'quota', // the plan's usage cap, with "resets in …"; every prompt until the reset meets it too
  'policy', // a content-policy refusal
  'policy-long', // a 400 KB refusal whose policy words come only at its end (text is capped, head and tail)
  'policy-escape', // a refusal carrying terminal escapes: a fake "✓ verified" line and a window title
  'error', // "Something went wrong" in the answer plus an error toast
  'timeout', // the image never finishes (stop button stays)
  'network', // the send fails: HTTP 502 and "Message delivery timed out"
  'blank', // the finished image is a uniform grey picture
  'corrupt', // the bytes fetched for the image are truncated (the page shows it whole)
  'partial', // the first fetch of the image returns the blurred partial (the page shows the final)
  'login', // the page turns into a login wall until someone clicks "Log in"
  'challenge', // a "Just a moment… Verify you are human" page until someone clicks through
  'reload', // the page reloads itself mid-generation; the image still arrives in the conversation
  'stale', // the page shows the previous prompt's image (its bytes) as this one's, under a new file id
  'stale-id', // the finished turn shows the previous image turn's image under its SAME file id (same src)
  'swap', // the bytes behind the image's URL are another picture than the one displayed
  'text', // the answer is a text reply (a sentence about the scene), whatever was asked
  'ignore-aspect', // the image comes back square (512×512) whatever shape was asked for
  'busy', // "We are experiencing heavy server load…" as a toast; the answer never comes
  'too-many', // the send fails: HTTP 429 "Too many requests. Please slow down." as a toast
  'unusual', // the send fails: HTTP 403 "Unusual activity has been detected from your device…" as a toast
  'account', // the send fails: a "We couldn't load your account. Reload" banner; the page works again once reloaded
  'two-images', // 2026: "Which image do you like more?" with two images until one is chosen; a reload swaps them
  'code-image', // the answer is Python output: code in an "Analyzed" block and the chart it drew, no image tool
  'no-tool', // the answer says "image generation isn't available in this chat"
  'slow-final', // 2026: the final image's bytes come late and it fades in over the blurred previews stacked under it
  // Upload faults: numbered by upload (`upload-fail@2` is the site's second file upload), not by prompt.
  'upload-fail', // the banner "Failed upload to files.oaiusercontent.com", the file's tile removed
  'upload-stuck', // the upload never finishes: its tile stays busy, Send stays disabled
  'upload-drop', // the page silently drops the file: no tile ever appears for it
] as const;
export type MockFaultKind = (typeof MOCK_FAULT_KINDS)[number];

/** Kinds that end the send itself (no generation starts), so there is nothing to reload before them. */
export const SEND_FAULTS: readonly MockFaultKind[] = ['network', 'login', 'challenge', 'too-many', 'unusual', 'account'];

/** Kinds that hit a file upload rather than a prompt; `@n` counts uploads for them. */
export const UPLOAD_FAULTS: readonly MockFaultKind[] = ['upload-fail', 'upload-stuck', 'upload-drop'];

/** What a prompt meets: one kind, or `reload+KIND` (reload mid-generation, then end as KIND). */
export type MockFault = MockFaultKind | `reload+${MockFaultKind}`;

export type FaultRule =
  | { kind: MockFault; at: number }
  | { kind: MockFault; probability: number };

/** The parts of a fault: whether the page reloads mid-generation, and how the turn ends. */
export function faultParts(fault: MockFault | undefined): { reload: boolean; ending: MockFaultKind | undefined } {
  if (fault === undefined) return { reload: false, ending: undefined };
  if (fault === 'reload') return { reload: true, ending: undefined };
  if (fault.startsWith('reload+')) return { reload: true, ending: fault.slice('reload+'.length) as MockFaultKind };
  return { reload: false, ending: fault as MockFaultKind };
}

/** The kinds a fault counts as in the stats: `reload+policy` is one reload and one policy. */
export function faultKinds(fault: MockFault): MockFaultKind[] {
  return fault.split('+') as MockFaultKind[];
}

/** Parses a fault spec; a bad item is a UsageError that names it. */
export function parseFaultSpec(spec: string | undefined, option = '--mock-faults'): FaultRule[] {
  if (!spec || !spec.trim()) return [];
  return spec.split(',').map((raw) => {
    const item = raw.trim();
    const match = /^([a-z]+(?:-[a-z]+)*)(?:\+([a-z]+(?:-[a-z]+)*))?(?:(@)(\d+)|(:)([0-9]*\.?[0-9]+))$/.exec(item);
    if (!match) {
      throw new UsageError(
        `${option}: "${item}" is not kind:probability or kind@n (e.g. "error:0.1", "quota@3" or "reload+policy@3")`,
      );
    }
    for (const name of [match[1], match[2]]) {
      if (name !== undefined && !(MOCK_FAULT_KINDS as readonly string[]).includes(name)) {
        throw new UsageError(`${option}: unknown fault kind "${name}" in "${item}" (kinds: ${MOCK_FAULT_KINDS.join(', ')})`);
      }
    }
    let kind: MockFault = match[1] as MockFaultKind;
    if (match[2] !== undefined) {
      const ending = match[2] as MockFaultKind;
      if (match[1] !== 'reload' || ending === 'reload') {
        throw new UsageError(`${option}: "${item}": only reload+KIND combines two kinds (e.g. "reload+policy@3")`);
      }
      if (UPLOAD_FAULTS.includes(ending)) {
        throw new UsageError(`${option}: "${item}": ${ending} hits an upload, not a generation, so there is nothing to reload`);
      }
      if (SEND_FAULTS.includes(ending)) {
        throw new UsageError(`${option}: "${item}": ${ending} ends the send before anything generates, so there is nothing to reload`);
      }
      kind = `reload+${ending}`;
    }
    if (match[3]) {
      const at = Number(match[4]);
      if (at < 1) throw new UsageError(`${option}: "${item}": the prompt number starts at 1`);
      return { kind, at };
    }
    const probability = Number(match[6]);
    if (!(probability >= 0 && probability <= 1)) throw new UsageError(`${option}: "${item}": the probability must be between 0 and 1`);
    return { kind, probability };
  });
}

/** The rules for prompts and the rules for uploads (`upload-*`), each counted on its own. */
export function splitFaultRules(rules: FaultRule[]): { prompts: FaultRule[]; uploads: FaultRule[] } {
  const isUpload = (rule: FaultRule) => UPLOAD_FAULTS.includes(rule.kind as MockFaultKind);
  return { prompts: rules.filter((r) => !isUpload(r)), uploads: rules.filter(isUpload) };
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

  forPrompt(n: number): MockFault | undefined {
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
