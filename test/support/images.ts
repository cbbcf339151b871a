// Shared by the verify tests: synthetic comic panels, their look-alike variants, and real Chromium
// screenshots of them shown in an <img>, which is exactly what the runner compares against.
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { chromium } from 'playwright';

const PAPER = '#f7f3e8';
const INK = '#141414';
const SIZE = 1024;

function svg(body: string, size = SIZE, background = PAPER): Buffer {
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 1024 1024">` +
      `<rect width="1024" height="1024" fill="${background}"/>` +
      `<g fill="none" stroke="${INK}" stroke-width="8" stroke-linecap="round" font-family="sans-serif">${body}</g></svg>`,
  );
}

// Same paper, same frame, same ink: only what is drawn where differs, like panels of one comic.
const FRAME = '<rect x="24" y="24" width="976" height="976" stroke-width="12"/>';
const PANEL_BODIES: Record<string, string> = {
  boom: `${FRAME}<circle cx="300" cy="320" r="190"/><rect x="560" y="600" width="340" height="300" fill="#d9d2c0"/>
    <text x="110" y="880" font-size="150" font-weight="bold" fill="${INK}" stroke="none">BOOM!</text>`,
  talk: `${FRAME}<ellipse cx="690" cy="220" rx="250" ry="130"/><path d="M610 340 L560 440 L680 345"/>
    <text x="520" y="240" font-size="60" fill="${INK}" stroke="none">Hello there</text>
    <circle cx="260" cy="520" r="70"/><path d="M260 590 V800 M260 650 L170 730 M260 650 L350 730 M260 800 L190 950 M260 800 L330 950"/>`,
  house: `${FRAME}<rect x="380" y="480" width="420" height="380"/><path d="M340 500 L590 260 L840 500 Z"/>
    <rect x="540" y="660" width="100" height="200" fill="${INK}"/><path d="M40 880 L980 880"/>
    <circle cx="170" cy="170" r="70" fill="#e8c45a"/>`,
  sun: `${FRAME}<circle cx="512" cy="300" r="120"/>
    <path d="M512 120 V60 M512 480 V540 M332 300 H272 M692 300 H752 M385 173 L343 131 M639 173 L681 131 M385 427 L343 469 M639 427 L681 469"/>
    <path d="M24 760 Q260 560 512 760 T1000 760" fill="#cfd8c0"/><path d="M24 880 Q300 780 620 880 T1000 860"/>`,
  grid: `${FRAME}<path d="M512 24 V1000 M24 512 H1000" stroke-width="12"/>
    <circle cx="268" cy="268" r="120"/><rect x="630" y="150" width="260" height="240" fill="#d9d2c0"/>
    <path d="M120 900 L420 620 M120 620 L420 900"/><text x="600" y="800" font-size="110" fill="${INK}" stroke="none">ZAP</text>`,
  text: `${FRAME}<rect x="90" y="90" width="844" height="200" fill="#ffffff"/>
    <text x="130" y="170" font-size="54" fill="${INK}" stroke="none">Meanwhile, far across</text>
    <text x="130" y="250" font-size="54" fill="${INK}" stroke="none">the sleeping city...</text>
    <path d="M120 420 H900 M120 520 H700 M120 620 H860 M120 720 H640 M120 820 H800"/>`,
  face: `${FRAME}<circle cx="512" cy="540" r="330"/><circle cx="400" cy="460" r="45" fill="${INK}"/>
    <circle cx="624" cy="460" r="45" fill="${INK}"/><path d="M370 660 Q512 780 654 660"/><path d="M300 250 Q512 120 724 250"/>`,
  rain: `${FRAME}<path d="M150 120 L110 260 M300 160 L260 300 M450 110 L410 250 M600 170 L560 310 M750 120 L710 260 M880 180 L840 320
    M200 420 L160 560 M380 450 L340 590 M560 400 L520 540 M740 460 L700 600 M900 420 L860 560"/>
    <path d="M360 940 V760 Q512 600 664 760 V940" fill="#d9d2c0"/>`,
  // The same character re-drawn a little to the left with another expression: a "second take".
  face2: `${FRAME}<circle cx="470" cy="560" r="320"/><circle cx="370" cy="490" r="40" fill="${INK}"/>
    <circle cx="570" cy="490" r="40" fill="${INK}"/><path d="M360 700 Q470 640 580 700"/><path d="M260 280 Q470 170 680 280"/>`,
  // Painted texture instead of line art, two different seeds of the same recipe.
  clouds: `<filter id="t"><feTurbulence type="fractalNoise" baseFrequency="0.006" numOctaves="4" seed="3"/>
    <feColorMatrix values="0 0 0 0.6 0.2  0 0 0 0.7 0.2  0 0 0 0.9 0.3  0 0 0 0 1"/></filter>
    <rect width="1024" height="1024" filter="url(#t)" stroke="none"/>`,
  clouds2: `<filter id="t"><feTurbulence type="fractalNoise" baseFrequency="0.006" numOctaves="4" seed="11"/>
    <feColorMatrix values="0 0 0 0.6 0.2  0 0 0 0.7 0.2  0 0 0 0.9 0.3  0 0 0 0 1"/></filter>
    <rect width="1024" height="1024" filter="url(#t)" stroke="none"/>`,
};
// A mirrored twin has the very same strokes and tones, only placed differently: the hardest swap.
const MIRRORED = 'boom';

export interface Panel {
  name: string;
  png: Buffer;
}

/** 12 distinct 1024×1024 panels: the 11 bodies above plus one mirror image. */
export async function makePanels(): Promise<Panel[]> {
  const panels = await Promise.all(
    Object.entries(PANEL_BODIES).map(async ([name, body]) => ({ name, png: await sharp(svg(body)).png().toBuffer() })),
  );
  const original = panels.find((p) => p.name === MIRRORED)!;
  panels.push({ name: `${MIRRORED}-mirrored`, png: await sharp(original.png).flop().png().toBuffer() });
  return panels;
}

/** A dark but detailed drawing (night scene): low brightness, yet plenty of structure. */
export function darkDrawing(): Promise<Buffer> {
  const body = `<g stroke="#3a3f55"><circle cx="760" cy="220" r="90" fill="#2b2f44"/>
    <path d="M0 800 Q250 650 512 780 T1024 740"/><rect x="200" y="520" width="220" height="260" fill="#1b1d2a"/>
    <path d="M240 560 h60 v60 h-60 Z M330 560 h60 v60 h-60 Z" fill="#4a4a30"/></g>`;
  return sharp(svg(body, 768, '#0d0e16')).png().toBuffer();
}

/** A sparse black-ink sketch on pure white: over 98% of its pixels are background. */
export function inkSketch(): Promise<Buffer> {
  const body = `<g stroke="#000" stroke-width="4"><circle cx="400" cy="420" r="150"/><path d="M400 570 V820 M300 1000 L400 820 L500 1000"/>
    <path d="M250 650 L550 650"/></g>`;
  return sharp(svg(body, 1024, '#ffffff')).png().toBuffer();
}

/** The picture with its bottom `fraction` still flat grey, the rest sharp, at `size` px. */
export async function bottomStillLoading(png: Buffer, fraction: number, size = 384): Promise<Buffer> {
  const height = Math.round(size * (1 - fraction));
  const top = await sharp(png).resize(size, size).extract({ left: 0, top: 0, width: size, height }).png().toBuffer();
  return sharp({ create: { width: size, height: size, channels: 3, background: '#9a9a9a' } })
    .composite([{ input: top, left: 0, top: 0 }])
    .png()
    .toBuffer();
}

/** Same picture as the page might show it while still loading: top half heavily blurred, bottom half flat grey. */
export async function partiallyLoaded(png: Buffer, size = 384): Promise<Buffer> {
  const half = Math.round(size / 2);
  const top = await sharp(png).resize(size, size).blur(12).extract({ left: 0, top: 0, width: size, height: half }).png().toBuffer();
  return sharp({ create: { width: size, height: size, channels: 3, background: '#9a9a9a' } })
    .composite([{ input: top, left: 0, top: 0 }])
    .png()
    .toBuffer();
}

/** Look-alikes produced without a browser: what re-encoding and colour management do to the same picture. */
export async function reencodedVariants(png: Buffer): Promise<Array<{ how: string; bytes: Buffer }>> {
  return [
    { how: 'resized 384', bytes: await sharp(png).resize(384, 384).png().toBuffer() },
    { how: 'resized 256', bytes: await sharp(png).resize(256, 256).png().toBuffer() },
    { how: 'brightness ×1.05', bytes: await sharp(png).linear(1.05, 0).png().toBuffer() },
    { how: 'brightness ×0.95', bytes: await sharp(png).linear(0.95, 0).png().toBuffer() },
    { how: 'gamma 1.1', bytes: await withGamma(png, 1.1) },
    { how: 'gamma 1/1.1', bytes: await withGamma(png, 1 / 1.1) },
    { how: 'jpeg q80', bytes: await sharp(png).jpeg({ quality: 80 }).toBuffer() },
    { how: 'jpeg q80 at 384', bytes: await sharp(png).resize(384, 384).jpeg({ quality: 80 }).toBuffer() },
  ];
}

/** out = 255·(in/255)^gamma on every channel, as a colour-profile mismatch would shift tones. */
async function withGamma(png: Buffer, gamma: number): Promise<Buffer> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const lut = Array.from({ length: 256 }, (_, v) => Math.round(255 * (v / 255) ** gamma));
  for (let i = 0; i < data.length; i++) data[i] = lut[data[i]];
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).png().toBuffer();
}

export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`no Chromium found (tried ${candidates.join(', ')}); set CHROMIUM_PATH`);
  return found;
}

export interface ScreenshotSetup {
  how: string;
  cssWidth: number;
  scale: number;
  /** Extra CSS on the <img>, e.g. the rounded corners chat UIs put on generated images. */
  style?: string;
}

export const SCREENSHOT_SETUPS: ScreenshotSetup[] = [
  { how: 'browser 384px ×1', cssWidth: 384, scale: 1 },
  { how: 'browser 384px ×2', cssWidth: 384, scale: 2 },
  { how: 'browser 200px ×1', cssWidth: 200, scale: 1 },
  { how: 'browser 384px ×2 rounded', cssWidth: 384, scale: 2, style: 'border-radius:16px' },
];

/**
 * Shows every image in a real Chromium `<img>` (data: URL, CSS width as given) and takes the same
 * element screenshot the runner takes. Returns shots[setup][image].
 */
export async function browserScreenshots(images: Buffer[], setups = SCREENSHOT_SETUPS): Promise<Buffer[][]> {
  const browser = await chromium.launch({ executablePath: chromiumPath(), headless: true });
  try {
    const result: Buffer[][] = [];
    for (const setup of setups) {
      const context = await browser.newContext({ deviceScaleFactor: setup.scale, viewport: { width: 800, height: 800 } });
      const page = await context.newPage();
      const shots: Buffer[] = [];
      for (const image of images) {
        const format = (await sharp(image).metadata()).format;
        const url = `data:image/${format};base64,${image.toString('base64')}`;
        await page.setContent(`<body style="margin:20px;background:#fff"><img src="${url}" style="width:${setup.cssWidth}px;display:block;${setup.style ?? ''}"></body>`);
        await page.locator('img').evaluate((img: HTMLImageElement) => img.decode());
        shots.push(await page.locator('img').screenshot());
      }
      await context.close();
      result.push(shots);
    }
    return result;
  } finally {
    await browser.close();
  }
}

export interface MeasuredPair {
  what: string;
  distance: number;
  /** The worst band's difference, when the comparison reports one. */
  band?: number;
}

export interface Calibration {
  same: MeasuredPair[];
  different: MeasuredPair[];
  partial: MeasuredPair[];
}

/**
 * Every pair the threshold must separate: same picture (real browser screenshots and re-encodes),
 * different panels (file of one vs screenshot of another) and still-loading screenshots.
 */
export async function calibrateCompare(
  compare: (file: Buffer, shot: Buffer) => Promise<{ distance: number; detail?: { worstBand?: number } }>,
): Promise<Calibration> {
  const panels = await makePanels();
  const shots = await browserScreenshots(panels.map((p) => p.png));
  const result: Calibration = { same: [], different: [], partial: [] };
  const measure = async (list: MeasuredPair[], what: string, file: Buffer, shot: Buffer) => {
    const result = await compare(file, shot);
    list.push({ what, distance: result.distance, band: result.detail?.worstBand });
  };
  for (const [i, panel] of panels.entries()) {
    const jpeg = await sharp(panel.png).jpeg({ quality: 80 }).toBuffer();
    for (const [s, setup] of SCREENSHOT_SETUPS.entries()) {
      await measure(result.same, `${panel.name}: ${setup.how}`, panel.png, shots[s][i]);
      await measure(result.same, `${panel.name} as jpeg q80: ${setup.how}`, jpeg, shots[s][i]);
      for (const [j, other] of panels.entries()) {
        if (j !== i) await measure(result.different, `${panel.name} vs ${other.name}: ${setup.how}`, panel.png, shots[s][j]);
      }
    }
    for (const variant of await reencodedVariants(panel.png)) {
      await measure(result.same, `${panel.name}: ${variant.how}`, panel.png, variant.bytes);
    }
    for (const size of [384, 768]) {
      await measure(result.partial, `${panel.name}: loading at ${size}px`, panel.png, await partiallyLoaded(panel.png, size));
    }
  }
  return result;
}

export function extreme(pairs: MeasuredPair[], pick: 'max' | 'min'): MeasuredPair {
  return pairs.reduce((best, p) => ((pick === 'max' ? p.distance > best.distance : p.distance < best.distance) ? p : best));
}
