// The live dashboard (issue 11): served by the runner on 127.0.0.1 at a path carrying the run's
// token; without the token nothing is served. It shows progress, the profile's state, every panel
// in book order (thumbnails made once per image), failures with their evidence, and takes four
// commands: pause, resume, retry a failed panel, reject a verified one. Updates go out as
// server-sent events; every command is a POST whose Origin must be the dashboard's own.
// Hardened for a day on the user's own machine (ARCHITECTURE §12): only its own Host names are
// answered (a DNS-rebinding page cannot reach it), commands must be JSON, event streams are capped,
// files are served only if their real path is inside the book folder, and errors never repeat the request.
// The server, its defences and helpers are shell.ts's, shared with the fleet's dashboard (fleet-server.ts).
import type http from 'node:http';
import type { Job, PromptBook } from '../prompts/types.js';
import type { RunEvent, RunEvents } from '../report/events.js';
import type { JobStore } from '../store/index.js';
import { NotRejectableError } from '../store/rejection.js';
import type { RunControl } from '../run/run-control.js';
import { openInside } from '../inside.js';
import { checkCommand, readJson, reply, send, sendFile, startShell, TEXT, type Dashboard, type Shell } from './shell.js';

export { MAX_BODY, MAX_STREAMS, type Dashboard } from './shell.js';

export interface DashboardOptions {
  readonly book: PromptBook;
  readonly store: JobStore;
  readonly events: RunEvents;
  readonly control: RunControl;
  /** `<out>/<book>`: images, thumbnails and evidence are served from under it only. */
  readonly bookDir: string;
  /** Makes (once) and returns the thumbnail file of an image. */
  readonly thumbnail: (png: string) => Promise<string>;
  /** Rejects a verified panel (journalled, file kept aside); the runner then generates it again. */
  readonly reject: (job: Job, reason: string) => Promise<void>;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** How many event streams may be open at once; more get 503. @default 16 */
  readonly maxStreams?: number;
}

/** What the page needs to draw itself; sent on load and whenever a job changes. */
interface Snapshot {
  book: string;
  paused: boolean;
  profile: { state: string; until?: number; reason?: string };
  /** Each profile (account) of the run, in the order given, with what it is doing and what it made. */
  profiles: Array<{ name: string; state: string; until?: number; reason?: string; verified: number }>;
  progress: { verified: number; failed: number; total: number; inFlight: string[]; etaMs?: number };
  panels: Array<{
    id: string;
    chapter: string;
    strip: string;
    panel: string;
    label: string;
    state: string;
    attempts: number;
    kind?: string;
    message?: string;
    evidence?: number[];
    thumb?: boolean;
    /** The profile whose attempt this is (the journal's), when known. */
    profile?: string;
  }>;
}

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const byId = new Map(opts.book.jobs.map((job) => [job.id, job]));
  const profile: Snapshot['profile'] = { state: 'starting' };
  /** Per profile: its state from `profile-state` and `pause` events, and its verified images this run. */
  const profiles = new Map<string, Snapshot['profiles'][number]>();
  const profileOf = (name: string) => {
    let entry = profiles.get(name);
    if (!entry) profiles.set(name, (entry = { name, state: 'working', verified: 0 }));
    return entry;
  };
  const inFlight = new Set<string>();
  let etaMs: number | undefined;
  // Listening from the start, so what happens while the server opens is in the first snapshot.
  let shell: Shell | undefined;
  const onEvent = (event: RunEvent) => {
    update(event);
    shell?.broadcast('run', event);
  };
  const onControl = () => {
    if (opts.control.paused) Object.assign(profile, { state: 'paused', reason: 'paused from the dashboard: no new prompt starts' });
    else if (profile.state === 'paused') Object.assign(profile, { state: 'working', reason: undefined });
    shell?.broadcast('control', { paused: opts.control.paused });
  };
  const stopListening = () => {
    opts.events.off('event', onEvent);
    opts.control.off('change', onControl);
  };
  opts.events.on('event', onEvent);
  opts.control.on('change', onControl);
  try {
    shell = await startShell({
      title: opts.book.book,
      state: snapshot,
      route,
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.maxStreams !== undefined ? { maxStreams: opts.maxStreams } : {}),
      onClose: stopListening,
    });
  } catch (error) {
    stopListening();
    throw error;
  }

  function update(event: RunEvent): void {
    switch (event.type) {
      case 'run-start':
        for (const name of event.profiles ?? [event.profile]) profileOf(name);
        break;
      case 'profile-state':
        Object.assign(profileOf(event.profile), { state: event.state, until: event.until, reason: event.reason });
        break;
      case 'job-start':
        inFlight.add(event.id);
        if (profile.state !== 'paused') Object.assign(profile, { state: 'working', until: undefined, reason: undefined });
        break;
      case 'job-verified':
        inFlight.delete(event.id);
        etaMs = event.etaMs;
        if (event.profile) profileOf(event.profile).verified += 1;
        break;
      case 'job-failed':
      case 'job-retry':
        inFlight.delete(event.id);
        break;
      case 'pause':
        if (event.profile) Object.assign(profileOf(event.profile), { state: 'paused', until: event.until, reason: event.reason });
        // With several profiles a pause is one profile's (its chip says so); the run goes on.
        if (!(event.profile && profiles.size > 1)) Object.assign(profile, { state: /usage cap/.test(event.reason) ? 'quota' : 'cooling down', until: event.until, reason: event.reason });
        break;
      case 'human-needed':
        if (!(event.profile && profiles.size > 1)) Object.assign(profile, { state: 'waiting for a login', until: undefined, reason: event.message });
        break;
      case 'run-end':
        Object.assign(profile, { state: 'finished', until: undefined, reason: undefined });
        // How each profile ended, and what it made, as the summary counted them from the store.
        for (const p of event.summary.profiles ?? []) Object.assign(profileOf(p.name), { state: p.state, until: undefined, reason: p.reason, verified: p.verified });
        inFlight.clear();
        break;
    }
  }

  function snapshot(): Snapshot {
    let verified = 0;
    let failed = 0;
    const panels = opts.book.jobs.map((job) => {
      const record = opts.store.get(job.id);
      const state = record?.state ?? 'pending';
      if (state === 'verified') verified += 1;
      if (state === 'failed' && record?.failure?.final !== false) failed += 1;
      const evidence = (record?.failure?.evidence ?? []).map((file, i) => (file.endsWith('.png') ? i : -1)).filter((i) => i >= 0);
      return {
        id: job.id,
        chapter: job.chapter,
        strip: job.strip,
        panel: job.panel,
        label: `${job.panel}${job.locale ? `.${job.locale}` : ''}${job.variant ? `~${job.variant}` : ''}`,
        state: inFlight.has(job.id) && state !== 'verified' ? 'in flight' : state,
        attempts: record?.attempts ?? 0,
        ...(record?.failure ? { kind: record.failure.kind, message: record.failure.message } : {}),
        ...(evidence.length ? { evidence } : {}),
        ...(state === 'verified' && record?.path ? { thumb: true } : {}),
        ...(record?.profile ? { profile: record.profile } : {}),
      };
    });
    return {
      book: opts.book.book,
      paused: opts.control.paused,
      profile: { ...profile },
      profiles: [...profiles.values()].map((p) => ({ ...p })),
      progress: { verified, failed, total: opts.book.jobs.length, inFlight: [...inFlight], ...(etaMs !== undefined ? { etaMs } : {}) },
      panels,
    };
  }

  /** The run's own routes, after the shell's page, /state and /events. */
  async function route(req: http.IncomingMessage, res: http.ServerResponse, route: string): Promise<void | 'unanswered'> {
    const thumb = /^GET \/thumb\/(.+)$/.exec(route);
    if (thumb) {
      const record = opts.store.get(decodeURIComponent(thumb[1]));
      if (record?.state !== 'verified' || !record.path) return send(res, 404, TEXT, 'no image yet');
      // The image and its thumbnail both must really be in the book folder: a link planted there that
      // points elsewhere would otherwise be read (and shown, shrunk) or served.
      const image = await openInside(opts.bookDir, record.path);
      if (!image) return send(res, 404, TEXT, 'no such image');
      await image.handle.close();
      // An image that cannot be decoded, or a thumbnail folder that leads out of the book: no picture.
      const file = await opts.thumbnail(record.path).catch(() => undefined);
      if (!file) return send(res, 404, TEXT, 'no thumbnail');
      return sendFile(res, opts.bookDir, file, 'image/jpeg');
    }
    const shot = /^GET \/evidence\/(.+)\/(\d+)$/.exec(route);
    if (shot) {
      const file = opts.store.get(decodeURIComponent(shot[1]))?.failure?.evidence?.[Number(shot[2])];
      // Only files the journal lists as evidence, and only under the book's folder.
      if (!file || !file.endsWith('.png')) return send(res, 404, TEXT, 'no such evidence');
      return sendFile(res, opts.bookDir, file, 'image/png');
    }
    if (req.method === 'POST') {
      checkCommand(req);
      const body = await readJson(req);
      const job = typeof body.id === 'string' ? byId.get(body.id) : undefined;
      switch (route.slice('POST '.length)) {
        case '/pause':
          opts.control.pause();
          return reply(res, { paused: true });
        case '/resume':
          opts.control.resume();
          return reply(res, { paused: false });
        case '/retry': {
          if (!job) return reply(res, { error: 'no such panel' }, 400);
          if (opts.store.get(job.id)?.state !== 'failed') return reply(res, { error: `${job.id} has not failed` }, 409);
          opts.control.requeue(job.id);
          return reply(res, { retrying: job.id });
        }
        case '/reject': {
          if (!job) return reply(res, { error: 'no such panel' }, 400);
          if (opts.store.get(job.id)?.state !== 'verified') return reply(res, { error: `${job.id} is not verified` }, 409);
          const reason = typeof body.reason === 'string' && body.reason.trim() ? body.reason.trim().slice(0, 500) : 'rejected from the dashboard';
          try {
            await opts.reject(job, reason);
          } catch (error) {
            // Our own words about our own files (e.g. the image is missing), for the page's alert.
            if (error instanceof NotRejectableError) return reply(res, { error: error.message }, 409);
            throw error;
          }
          opts.control.requeue(job.id);
          shell?.broadcast('run', { type: 'note', message: `${job.id} rejected: ${reason}` });
          return reply(res, { rejected: job.id });
        }
      }
    }
    return 'unanswered';
  }

  return { url: shell.url, close: shell.close };
}

