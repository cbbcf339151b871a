// The validation batch's report: how the sample went and, plainly, whether the book can scale up.
import type { ValidationResult } from '../run/validation.js';
import { formatDuration } from './console.js';
import { safeLine } from '../protocol/text.js';

/** `90 %`, `89.4 %` (rounded down, so a rate under the bar never reads as the bar). */
export function formatPercent(part: number, whole: number): string {
  if (whole === 0) return '0 %';
  const exact = (part * 100) / whole;
  const shown = Number.isInteger(exact) ? exact : Math.floor(exact * 10) / 10;
  return `${shown} %`;
}

function perImage(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : formatDuration(ms);
}

/** The report's lines: the sample, then the verdict with each failure (kind and reason) under it. */
export function formatValidationReport(r: ValidationResult): string {
  if (r.sampled === 0) {
    return `validation: nothing to sample: no job is left that is not verified${r.verifiedEarlier ? ` (${r.verifiedEarlier} verified earlier)` : ''}; nothing was measured`;
  }
  const lines = [
    `validation sample: ${r.sampled} of the ${r.candidates} jobs not yet verified, over ${r.spread}${r.verifiedEarlier ? ` (the ${r.verifiedEarlier} verified earlier are not part of it)` : ''}`,
  ];
  const figures = [
    `${r.verified}/${r.sampled} verified (${formatPercent(r.verified, r.sampled)})`,
    `${r.firstTry} on the first try (${formatPercent(r.firstTry, r.sampled)})`,
    r.meanMs !== undefined ? `${perImage(r.meanMs)} per image on average` : 'no image verified',
  ].join(', ');
  // A failure's message is the page's words: one line, no control characters.
  const failures = r.failures.map((f) => `  ${f.id} ${f.kind === 'not run' ? 'not run' : `failed (${f.kind})`}: ${safeLine(f.message)}`);
  if (r.interrupted) {
    lines.push(`validation: ${figures} — the run stopped before the sample was done, so it says nothing about the ${r.bar} % bar; run it again with --resume --validate`);
    if (failures.length) lines.push(...failures);
  } else if (r.clears) {
    lines.push(`validation: ${figures} — clears the ${r.bar} % bar${failures.length ? `; failed:` : ''}`, ...failures);
  } else {
    lines.push(`validation: ${figures} — does not clear the ${r.bar} % bar: scale up only after fixing:`, ...failures);
  }
  return lines.join('\n');
}
