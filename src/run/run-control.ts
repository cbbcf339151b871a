// How a person steers a run while it goes (the dashboard's buttons): pause (no new prompt starts;
// the ones in flight finish), resume, and jobs to run again (a failed panel retried, a verified one
// rejected). The job runner reads it; nothing here touches the journal.
import { EventEmitter } from 'node:events';

export class RunControl extends EventEmitter<{ change: []; requeue: [jobId: string] }> {
  #paused = false;

  get paused(): boolean {
    return this.#paused;
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.emit('change');
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.emit('change');
  }

  /** Asks the runner to run this job again (it must already be journalled as ready to run). */
  requeue(jobId: string): void {
    this.emit('requeue', jobId);
  }

  /** Resolves at once when not paused, else on resume; rejects when `signal` aborts first. */
  whenRunning(signal: AbortSignal): Promise<void> {
    if (!this.#paused) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onChange = () => {
        if (this.#paused) return;
        done();
        resolve();
      };
      const onAbort = () => {
        done();
        reject(signal.reason);
      };
      const done = () => {
        this.off('change', onChange);
        signal.removeEventListener('abort', onAbort);
      };
      if (signal.aborted) return onAbort();
      this.on('change', onChange);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
