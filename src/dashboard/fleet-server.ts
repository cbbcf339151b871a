// The fleet's live dashboard (`semantest-run dashboard <file> --redis URL`, issue 17): the local
// dashboard's page, address and defences (server.ts, ARCHITECTURE §12: 127.0.0.1 only, a token in
// every path, its own Host names only, commands JSON from its own Origin, capped event streams,
// fixed error texts), fed from the fleet's Redis (fleet-source.ts) instead of a run. Redis is polled
// every POLL_MS while a page is open; a change tells the page (server-sent `run`), which then reads
// /state, as it does during a run. Commands: pause and resume (all, or one profile), retry, reject.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dashboardPage } from './page.js';
import { openInside } from '../inside.js';
import { checkCommand, checkHost, hasToken, MAX_STREAMS, readJson, Refusal, refuse, reply, send, sendFile, TEXT, type Dashboard } from './server.js';
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
  const token = randomBytes(24).toString('base64url');
  const base = `/${token}/`;
  const clients = new Set<http.ServerResponse>();
  const maxStreams = opts.maxStreams ?? MAX_STREAMS;
  let hosts = new Set<string>();
  const down = () => new Refusal(503, "the fleet's Redis does not answer; the dashboard tries again");

  function broadcast(type: string, data: unknown): void {
    const frame = `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const client of clients) client.write(frame);
  }

  // What the page last could have seen; a different snapshot tells it to read /state again.
  let last = '';
  let polling = false;
  const poll = setInterval(() => {
    if (polling || clients.size === 0) return;
    polling = true;
    source
      .snapshot()
      .then((snapshot) => {
        const text = JSON.stringify({ ...snapshot, profiles: snapshot.profiles.map(({ seen: _seen, ...p }) => p) });
        if (text !== last) broadcast('run', { type: 'fleet' });
        last = text;
      })
      .catch(() => broadcast('run', { type: 'note', message: "the fleet's Redis does not answer" }))
      .finally(() => (polling = false));
  }, opts.pollMs ?? POLL_MS);

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (error instanceof Refusal) return refuse(req, res, error);
      if (error instanceof URIError) return send(res, 400, TEXT, 'bad request');
      send(res, 500, TEXT, 'internal error');
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    checkHost(req, hosts);
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (!hasToken(url.pathname, base)) return send(res, 404, TEXT, 'not found');
    const route = `${req.method} ${url.pathname.slice(base.length - 1)}`;
    if (route === 'GET /') return send(res, 200, 'text/html; charset=utf-8', dashboardPage(source.slug));
    if (route === 'GET /state') {
      const snapshot = await source.snapshot().catch(() => Promise.reject(down()));
      return send(res, 200, 'application/json', JSON.stringify(snapshot));
    }
    if (route === 'GET /events') {
      if (clients.size >= maxStreams) return send(res, 503, TEXT, 'too many dashboards open: close one and reload');
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`event: hello\ndata: {}\n\n`);
      clients.add(res);
      req.on('close', () => clients.delete(res));
      return;
    }
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
        switch (url.pathname.slice(base.length - 1)) {
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
        broadcast('control', {});
      }
    }
    return send(res, 404, TEXT, 'not found');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const heartbeat = setInterval(() => broadcast('ping', {}), 15_000);
  heartbeat.unref();
  return {
    url: `http://127.0.0.1:${port}${base}`,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(heartbeat);
        clearInterval(poll);
        for (const client of clients) client.end();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function isConnectionError(error: unknown): boolean {
  return /ECONNREFUSED|ECONNRESET|EPIPE|Connection is closed|Stream isn't writeable|enableOfflineQueue|ETIMEDOUT|Socket closed|MaxRetriesPerRequest/i.test(String((error as Error)?.message ?? error));
}
