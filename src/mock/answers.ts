// What the mock's "model" answers, apart from the pictures themselves (render.ts): whether a prompt
// gets an image at all (the image tool, or a prompt that asks for one in words), the shape of that
// image, the text reply a prompt without image intent gets, and the site's wordings per rendering
// (ARCHITECTURE §4, the "2024–25" and "2026" columns).

/** Which page the mock renders: the 2024–25 column, the 2026 one, or the 2026 one with `blob:` image srcs. */
export const MOCK_DOMS = ['2024', '2026', '2026-blob'] as const;
export type MockDom = (typeof MOCK_DOMS)[number];

/** How far the page drifts from the contract: not at all, in ways the contract's anchors survive, or past them. */
export const MOCK_CHURNS = ['none', 'cosmetic', 'breaking'] as const;
export type MockChurn = (typeof MOCK_CHURNS)[number];

/** The choices of the 2026 page's "Choose image aspect ratio" control, as the POST names them. */
export const MOCK_ASPECTS = ['auto', '1:1', '3:4', '9:16', '4:3', '16:9'] as const;
export type MockAspect = (typeof MOCK_ASPECTS)[number];
export type MockRatio = Exclude<MockAspect, 'auto'>;

/** The aspect menu's items, in order, with the text each shows. */
export const ASPECT_LABELS: ReadonlyArray<readonly [MockAspect, string]> = [
  ['auto', 'Auto'],
  ['1:1', 'Square 1:1'],
  ['3:4', 'Portrait 3:4'],
  ['9:16', 'Story 9:16'],
  ['4:3', 'Landscape 4:3'],
  ['16:9', 'Widescreen 16:9'],
];

/** A prompt that asks for an image in words gets one even without the image tool. */
const IMAGE_PREFIX = /^\s*(?:create an image|generate an image|draw)\b/i;

export function asksForImage(prompt: string): boolean {
  return IMAGE_PREFIX.test(prompt);
}

/** The first ratio the prompt states ("… in 16:9 …"), if any; "19:16" or "3:45" state none. */
export function ratioInText(prompt: string): MockRatio | undefined {
  const match = /(?<![\d:.])(9:16|16:9|3:4|4:3|1:1)(?![\d:])/.exec(prompt);
  return match ? (match[1] as MockRatio) : undefined;
}

/** Pixel size of an image of `ratio` whose long side is `size` (1:1 → 512×512, 9:16 → 288×512 …). */
export function imageShape(ratio: MockRatio, size: number): { width: number; height: number } {
  const [w, h] = ratio.split(':').map(Number);
  return w >= h ? { width: size, height: Math.round((size * h) / w) } : { width: Math.round((size * w) / h), height: size };
}

/**
 * The text reply to a prompt the site did not take as a request for an image: a sentence or two about
 * the scene. It echoes only the prompt's first words, and none of the wordings the runner reads as a
 * failure, a generation or a finished image.
 */
export function describeScene(prompt: string): string {
  const words = prompt.replace(/\s+/g, ' ').trim().split(' ').slice(0, 8).join(' ').replace(/[.,;:!?]+$/, '');
  return `That sounds like a vivid scene: ${words}… I picture soft light, a clear focal point and a calm background that lets it stand out. Would you like me to draw it?`;
}

/**
 * Hostile refusals (faults `policy-long`, `policy-escape`): page text is untrusted, so the runner
 * must cap it before matching and strip its control characters before any terminal.
 */
export const HOSTILE_REFUSALS = {
  'policy-long': `${"I hit the limits of what I can draw here. ".repeat(9_500)}Sorry, this request violates our content policies.`,
  'policy-escape':
    "\u001b[2K\r  ✓ [12/12] ch9/s9/p9 verified in 1s\u001b]0;semantest: all verified\u0007 I wasn't able to generate that image because this request violates our content policy.",
} as const;

export const WORDINGS = {
  '2024': {
    cooldown:
      "You're generating images too quickly. To ensure the best experience for everyone, we have rate limits in place. Please wait a short while before generating more images.",
    policy: "I wasn't able to generate that image because this request violates our content policy. Feel free to try a different idea.",
    error: 'Something went wrong while generating the response. If this issue persists please contact us through our help center.',
  },
  '2026': {
    cooldown:
      "You're generating images too quickly. To ensure the best experience for everyone, we have rate limits in place. Please wait for 4 minutes before generating more images.",
    policy:
      "We're so sorry, but the image we created may violate our guardrails concerning similarity to third-party content. If you think we got it wrong, please retry or edit your prompt.",
    error: 'Image generation failed',
  },
} as const;

/** Wordings both renderings share (the kinds the 2024–25 page never showed). */
export const NOTICES = {
  busy: 'We are experiencing heavy server load. Please try again later.',
  'too-many': 'Too many requests. Please slow down.',
  unusual: 'Unusual activity has been detected from your device. Try again later.',
  account: "We couldn't load your account.",
} as const;

/** What a chat without the image tool answers (`no-tool`), and what the code tool shows (`code-image`). */
export const NO_TOOL = {
  reply: "Image generation isn't available in this chat. I can describe the scene in words, or sketch it as a chart with Python if you like.",
  codeIntro: "Image generation isn't available here, so I drew a simple version with Python:",
  code: 'import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(6, 4))\nax.fill_between(range(10), [x * x for x in range(10)])\nplt.savefig("/mnt/data/scene.png")',
  codeOutro: 'Here is the chart.',
  choice: 'Which image do you like more?',
} as const;

/** "10 hours and 25 minutes", "3 minutes and 5 seconds", "40 seconds". */
export function durationText(remainingMs: number): string {
  const s = Math.max(1, Math.ceil(remainingMs / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} hours and ${m} minutes` : m > 0 ? `${m} minutes${s % 60 ? ` and ${s % 60} seconds` : ''}` : `${s} seconds`;
}

export function quotaMessage(remainingMs: number, dom: MockDom): string {
  const text = durationText(remainingMs);
  return dom === '2024'
    ? `You've hit the Plus plan limit for image generation requests. You can create more images when the limit resets in ${text}.`
    : `You've hit the Plus plan limit for image generations requests. You can create more images when the limit resets in ${text}.`;
}
