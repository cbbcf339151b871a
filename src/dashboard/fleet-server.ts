// The fleet's live dashboard (`semantest-run dashboard <file> --redis URL`, issue 17): the local
// dashboard's page, address and defences (shell.ts, ARCHITECTURE §12: 127.0.0.1 only, a token in
// every path, its own Host names only, commands JSON from its own Origin, capped event streams,
// fixed error texts), fed from the fleet's Redis (fleet-source.ts) instead of a run. Redis is polled
// every POLL_MS while a page is open; a change tells the page (server-sent `run`), which then reads
// /state, as it does during a run. Commands: pause and resume (all, or one profile), retry, reject.
import type http from 'node:http';
import { openInside } from '../inside.js';
import { checkCommand, MAX_STREAMS, readJson, Refusal, reply, send, sendFile, startShell, TEXT, type Dashboard } from './shell.js';
import { FleetActionError, type FleetSource } from './fleet-source.js';

export const POLL_MS = 1_500;

export interface FleetDashboardOptions {
  readonly source: FleetSource;
  /** `<out>/<book>` on this machine, and what makes (once) the thumbnail of an image under it: for images of workers on this host. */
  readonly bookDir?: string;
  readonly thumbnail?: (png: string, sha256: string) => Promise<string>;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default POLL_MS */
  readonly pollMs?: number;
  /** @default MAX_STREAMS */
  readonly maxStreams?: number;
}

export async function startFleetDashboard(opts: FleetDashboardOptions): Promise<Dashboard> {
  const { source } = opts;
  const down = () => new Refusal(503, "the fleet's Redis does not answer; the dashboard tries again");

  const shell = await startShell({
    title: source.slug,
    state: () => source.snapshot().catch(() => Promise.reject(down())),
    route,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    maxStreams: opts.maxStreams ?? MAX_STREAMS,
    onClose: () => clearInterval(poll),
  });

  // What the page last could have seen; a different snapshot tells it to read /state again.
  let last = '';
  let polling = false;
  const poll = setInterval(() => {
    if (polling || shell.streams() === 0) return;
    polling = true;
    source
      .snapshot()
      .then((snapshot) => {
        const text = JSON.stringify({ ...snapshot, profiles: snapshot.profiles.map(({ seen: _seen, ...p }) => p) });
        if (text !== last) shell.broadcast('run', { type: 'fleet' });
        last = text;
      })
      .catch(() => shell.broadcast('run', { type: 'note', message: "the fleet's Redis does not answer" }))
      .finally(() => (polling = false));
  }, opts.pollMs ?? POLL_MS);

  /** The fleet's own routes, after the shell's page, /state and /events. */
  async function route(req: http.IncomingMessage, res: http.ServerResponse, route: string): Promise<void | 'unanswered'> {
    const thumb = /^GET \/thumb\/(.+)$/.exec(route);
    if (thumb) {
      const { bookDir, thumbnail } = opts;
      const image = bookDir && thumbnail ? await source.image(decodeURIComponent(thumb[1])).catch(() => Promise.reject(down())) : undefined;
      if (!image || !bookDir || !thumbnail) return send(res, 404, TEXT, 'no image on this machine');
      // As the local dashboard: the image and its thumbnail both must really be in the book folder.
      const opened = await openInside(bookDir, image.file);
      if (!opened) return send(res, 404, TEXT, 'no such image');
      await opened.handle.close();
      const file = await thumbnail(image.file, image.sha256).catch(() => undefined);
      if (!file) return send(res, 404, TEXT, 'no thumbnail');
      return sendFile(res, bookDir, file, 'image/jpeg');
    }
    if (req.method === 'POST') {
      checkCommand(req);
      const body = await readJson(req);
      const profile = body.profile === undefined ? undefined : String(body.profile);
      try {
        switch (route.slice('POST '.length)) {
          case '/pause':
            return reply(res, { pause: await source.pause(profile) });
          case '/resume':
            return reply(res, { pause: await source.resume(profile) });
          case '/retry':
            return reply(res, { retrying: await source.retry(body.id) });
          case '/reject': {
            const reason = typeof body.reason === 'string' && body.reason.trim() ? body.reason.trim().slice(0, 500) : "rejected from the fleet's dashboard";
            const rejection = await source.reject(body.id, reason);
            return reply(res, { rejected: rejection.panel });
          }
        }
      } catch (error) {
        // Our own words about the fleet's state (not verified, has not failed), for the page's alert.
        if (error instanceof FleetActionError) return reply(res, { error: error.message }, error.status);
        throw isConnectionError(error) ? down() : error;
      } finally {
        // Every page redraws at once, not at the next poll.
        shell.broadcast('control', {});
      }
    }
    return 'unanswered';
  }

  return { url: shell.url, close: shell.close };
}

function isConnectionError(error: unknown): boolean {
  return /ECONNREFUSED|ECONNRESET|EPIPE|Connection is closed|Stream isn't writeable|enableOfflineQueue|ETIMEDOUT|Socket closed|MaxRetriesPerRequest/i.test(String((error as Error)?.message ?? error));
}
