// `semantest-run status <file> --redis URL` (issue 17, "Watching a fleet"): where the book stands
// across every worker, read from the fleet's Redis (src/fleet/view.ts). The prompt file gives only
// the book's name (and says when it has changed since it was enqueued); the panels are the fleet's.
import { loadBookFor } from '../prompts/index.js';
import type { PromptBook } from '../prompts/types.js';
import { safeLine } from '../protocol/text.js';
import { fleetJobId } from '../fleet/keys.js';
import { connectRedis, parseRedisUrl } from '../fleet/redis.js';
import { FLEET_STATES, readFleetView, type FleetPanelState, type FleetProfile, type FleetView } from '../fleet/view.js';
import { formatDuration } from '../report/console.js';
import { clockTimeFrom } from '../report/format.js';

const STATE_WORDS: Record<FleetPanelState, string> = { verified: 'verified', failed: 'failed', 'in-flight': 'in flight', stale: 'stale', queued: 'queued' };

export async function printFleetStatus(file: string, redisUrl: string, out: (s: string) => unknown = (s) => process.stdout.write(`${s}\n`)): Promise<number> {
  // Failure messages, pause reasons and worker names come from other machines: one clean line each.
  const write = (line: string) => out(safeLine(line));
  const target = parseRedisUrl(redisUrl);
  const book = await loadBookFor(file);
  const redis = await connectRedis(target);
  try {
    const view = await readFleetView(redis, target, book.book);
    if (!view) {
      write(`${book.book}: not enqueued on ${target.display} (${book.jobs.length} job${book.jobs.length === 1 ? '' : 's'} in the file; semantest-run enqueue ${file} --redis URL makes them known to the fleet)`);
      return 0;
    }
    for (const line of fleetStatusLines(view, target.display, book)) write(line);
    return 0;
  } finally {
    redis.disconnect();
  }
}

/** The status lines of a fleet's book; `fileBook` (the prompt file as it is now) adds a line when it differs from the book enqueued. */
export function fleetStatusLines(view: FleetView, display: string, fileBook?: PromptBook): string[] {
  const { counts, now } = view;
  const lines: string[] = [];
  const shown = FLEET_STATES.filter((s) => counts[s]).map((s) => `${counts[s]} ${STATE_WORDS[s]}`);
  lines.push(`${view.book}: ${view.panels.length} jobs — ${shown.join(', ') || 'none'} (fleet on ${display})`);
  if (fileBook) {
    const enqueued = new Set(view.panels.map((p) => p.jobId));
    const changed = fileBook.jobs.filter((job) => !enqueued.has(fleetJobId(job))).length;
    if (changed) lines.push(`  the prompt file has ${changed} panel${changed === 1 ? '' : 's'} the fleet does not have (new or changed since it was enqueued ${clockTimeFrom(view.fleetBook.enqueuedAt, now)}): enqueue it again to make them`);
  }
  for (const profile of view.profiles) lines.push(profileLine(profile, now));
  if (counts.stale) lines.push(`  ${counts.stale} panel${counts.stale === 1 ? ' has' : 's have'} only an image of an older prompt: the changed prompt is queued`);
  for (const panel of view.panels) {
    if (panel.state === 'failed') lines.push(`  ${panel.job.id} failed: ${panel.failedReason || 'no reason given'} (retry it from the fleet's dashboard)`);
    if (panel.rejection) lines.push(`  ${panel.job.id} rejected from the dashboard, being made again (${STATE_WORDS[panel.state]}): ${panel.rejection.reason || 'no reason given'}`);
  }
  for (const refused of view.refused) {
    lines.push(`  ${refused.panel}: a second result by profile ${refused.profile} on ${refused.worker} was refused (${refused.keptResultOf} verified it first); its image stays on ${refused.host} at ${refused.file}`);
  }
  for (const maker of view.makers) lines.push(`  made by profile ${maker.profile} on ${maker.worker}: ${maker.panels} panel${maker.panels === 1 ? '' : 's'}`);
  return lines;
}

/** `  profile a (host#pid): working, 2 in flight (ch1/p1, ch1/p2), 31 verified`, or paused until, or gone since. */
function profileLine(profile: FleetProfile, now: number): string {
  const { beat } = profile;
  const parts: string[] = [];
  if (profile.gone) {
    parts.push(`gone since ${clockTimeFrom(beat.seen, now)} (no beat for ${formatDuration(profile.ageMs)})`);
    if (profile.pinned) parts.push(`${profile.pinned} started panel${profile.pinned === 1 ? '' : 's'} wait${profile.pinned === 1 ? 's' : ''} for it`);
  } else if (beat.state === 'stopped' || beat.state === 'finished') {
    parts.push(`${beat.state} at ${clockTimeFrom(beat.seen, now)}`);
  } else {
    parts.push(beat.until !== undefined && beat.until > now ? `paused until ${clockTimeFrom(beat.until, now)} (${beat.reason || 'no reason given'})` : beat.state);
    const doing = beat.doing;
    if (doing.length) parts.push(`${doing.length} in flight (${doing.slice(0, 3).join(', ')}${doing.length > 3 ? ', …' : ''})`);
  }
  parts.push(`${profile.verified} verified`);
  return `  profile ${beat.profile} (${beat.worker}): ${parts.join(', ')}`;
}
