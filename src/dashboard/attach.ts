// The dashboard as the CLI attaches it to a run (src/run/run-book.ts `attach`): the run owns the
// store and the control; this wires the server, thumbnails and rejections to them.
import { ThumbnailCache } from '../report/thumbnails.js';
import type { RunAttachment } from '../run/run-book.js';
import { rejectImage } from '../store/rejection.js';
import { startDashboard } from './server.js';

/** Starts the dashboard for `run`, says its URL (with its token) as a note, and returns what closes it. */
export async function attachDashboard(run: RunAttachment, port?: number): Promise<() => Promise<void>> {
  const thumbnails = await ThumbnailCache.open(run.bookDir);
  const dashboard = await startDashboard({
    book: run.book,
    store: run.store,
    events: run.events,
    control: run.control,
    bookDir: run.bookDir,
    port,
    thumbnail: async (png) => {
      const thumb = await thumbnails.thumbnailFor(png);
      if (thumb.made) await thumbnails.save();
      return thumb.file;
    },
    reject: async (job, reason) => {
      await rejectImage(run.store, { id: job.id, bookDir: run.bookDir, outputPath: job.outputPath, reason });
    },
  });
  // After run-start, so the note follows the run's first line as it always did.
  const onStart = (event: { type: string }) => {
    if (event.type !== 'run-start') return;
    run.events.off('event', onStart);
    run.events.emitEvent({ type: 'note', message: `dashboard: ${dashboard.url}` });
  };
  run.events.on('event', onStart);
  return async () => {
    run.events.off('event', onStart);
    await dashboard.close();
  };
}
