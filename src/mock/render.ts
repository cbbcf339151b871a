// The mock's "image model": a real PNG per prompt, deterministic from the prompt and visibly
// different per panel (large shapes placed from the prompt's hash, so even a 32×32 thumbnail of two
// panels differs), plus the partial and blank variants the page shows or a fault serves.
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { seededRandom } from './faults.js';

export type RenderVariant = 'final' | 'partial' | 'blank';

function seedOf(prompt: string): number {
  return createHash('sha256').update(prompt).digest().readUInt32BE(0);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An SVG "panel" of `width`×`height`: sky gradient, horizon, sun, a few bold shapes and the prompt's first words. */
export function panelSvg(prompt: string, width: number, height = width): string {
  const random = seededRandom(seedOf(prompt));
  const pick = (min: number, max: number) => min + random() * (max - min);
  // Shapes are placed in a unit square mapped onto the picture, so a prompt looks alike at any shape.
  const unit = Math.min(width, height);
  const hue = Math.floor(pick(0, 360));
  const horizon = pick(0.35, 0.7) * height;
  const shapes: string[] = [];
  for (let i = 0; i < 7; i++) {
    const x = pick(0, width);
    const y = pick(0, height);
    const r = pick(0.06, 0.2) * unit;
    const light = Math.floor(pick(8, 92));
    const colour = `hsl(${(hue + Math.floor(pick(0, 180))) % 360},${Math.floor(pick(30, 90))}%,${light}%)`;
    if (i % 3 === 0) shapes.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${r.toFixed(1)}" fill="${colour}"/>`);
    else if (i % 3 === 1) shapes.push(`<rect x="${(x - r).toFixed(1)}" y="${(y - r / 2).toFixed(1)}" width="${(2 * r).toFixed(1)}" height="${r.toFixed(1)}" fill="${colour}" transform="rotate(${Math.floor(pick(-40, 40))} ${x.toFixed(1)} ${y.toFixed(1)})"/>`);
    else shapes.push(`<path d="M${x.toFixed(1)} ${y.toFixed(1)} l${(r * 1.5).toFixed(1)} ${(r * 2).toFixed(1)} l${(-r * 3).toFixed(1)} 0 z" fill="${colour}"/>`);
  }
  const words = escapeXml(prompt.split(/\s+/).slice(0, 6).join(' ').slice(0, 48));
  const font = Math.round(unit / 24);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
  <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
    <stop offset="0" stop-color="hsl(${hue},60%,${Math.floor(pick(15, 45))}%)"/>
    <stop offset="1" stop-color="hsl(${(hue + 40) % 360},70%,${Math.floor(pick(55, 85))}%)"/></linearGradient></defs>
  <rect width="${width}" height="${height}" fill="url(#sky)"/>
  <rect y="${horizon.toFixed(1)}" width="${width}" height="${(height - horizon).toFixed(1)}" fill="hsl(${(hue + 200) % 360},35%,${Math.floor(pick(10, 40))}%)"/>
  <circle cx="${pick(0.15, 0.85) * width}" cy="${pick(0.1, 0.3) * height}" r="${unit / 12}" fill="#fff6d5"/>
  ${shapes.join('\n  ')}
  <rect x="0" y="${height - font * 2}" width="${width}" height="${font * 2}" fill="rgba(0,0,0,0.55)"/>
  <text x="${font / 2}" y="${height - font * 0.6}" font-family="sans-serif" font-size="${font}" fill="#fff">${words}</text>
</svg>`;
}

/** A PNG for `prompt`, `size` wide and `height` high (square by default): the same bytes for the same arguments. */
export async function renderPanelPng(prompt: string, size = 512, variant: RenderVariant = 'final', height = size): Promise<Buffer> {
  if (variant === 'blank') {
    return sharp({ create: { width: size, height, channels: 3, background: '#d8d8d8' } }).png().toBuffer();
  }
  if (variant === 'final') return sharp(Buffer.from(panelSvg(prompt, size, height))).png({ compressionLevel: 6 }).toBuffer();
  return partialOf(await renderPanelPng(prompt, size, 'final', height));
}

/** A partial, as the site streams it: half resolution (same shape), the top blurred, the bottom not there yet. */
export async function partialOf(finalPng: Buffer): Promise<Buffer> {
  const meta = await sharp(finalPng).metadata();
  const width = Math.round((meta.width ?? 512) / 2);
  const height = Math.round((meta.height ?? 512) / 2);
  const { data, info } = await sharp(finalPng).resize(width, height).blur(Math.min(width, height) / 24).raw().toBuffer({ resolveWithObject: true });
  const rowBytes = info.width * info.channels;
  data.fill(128, Math.floor(info.height / 2) * rowBytes);
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).png().toBuffer();
}
