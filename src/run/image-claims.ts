// Which job an image belongs to, across every job in flight and every verified one: a file id or a
// sha256 is claimed by one job only. The check and the claim are one synchronous step, so two jobs
// whose pages show the same picture cannot both pass; the loser's attempt is a stale `verify` failure.

export interface ImageKey {
  readonly fileId: string;
  readonly sha256: string;
}

export class ImageClaims {
  readonly #byFileId = new Map<string, string>();
  readonly #bySha = new Map<string, string>();

  /**
   * Images already verified (from the checkpoint) belong to their jobs for good; a rejected image
   * belongs to nobody who may take it again, its own panel included.
   */
  constructor(records: Iterable<{ id: string; state?: string; fileId?: string; sha256?: string; rejection?: { sha256?: string } }> = []) {
    for (const record of records) {
      if (record.state === 'verified') {
        if (record.fileId) this.#byFileId.set(record.fileId, record.id);
        if (record.sha256) this.#bySha.set(record.sha256, record.id);
      } else if (record.rejection) {
        const owner = retired(record.id);
        // Once the panel is being redone, the record's file id may already be the new image's.
        if (record.state === 'rejected' && record.fileId) this.#byFileId.set(record.fileId, owner);
        if (record.rejection.sha256) this.#bySha.set(record.rejection.sha256, owner);
      }
    }
  }

  /** The job's image was rejected: it keeps no claim it could take again, and nobody else may take it. */
  retire(jobId: string): void {
    for (const map of [this.#byFileId, this.#bySha]) {
      for (const [key, owner] of map) if (owner === jobId) map.set(key, retired(jobId));
    }
  }

  /** Claims the image for `jobId`; names the job that owns it already (and by what), or undefined when the claim holds. */
  claim(jobId: string, key: ImageKey): { owner: string; by: 'file id' | 'bytes' } | undefined {
    const byFileId = this.#byFileId.get(key.fileId);
    if (byFileId !== undefined && byFileId !== jobId) return { owner: byFileId, by: 'file id' };
    const bySha = this.#bySha.get(key.sha256);
    if (bySha !== undefined && bySha !== jobId) return { owner: bySha, by: 'bytes' };
    this.#byFileId.set(key.fileId, jobId);
    this.#bySha.set(key.sha256, jobId);
    return undefined;
  }

  /** Gives up a claim whose image turned out not to be the job's (it failed verification). */
  release(jobId: string, key: ImageKey): void {
    if (this.#byFileId.get(key.fileId) === jobId) this.#byFileId.delete(key.fileId);
    if (this.#bySha.get(key.sha256) === jobId) this.#bySha.delete(key.sha256);
  }

  /** File ids other jobs hold: a page showing only these shows an old image. */
  fileIdsNotOf(jobId: string): string[] {
    const ids: string[] = [];
    for (const [fileId, owner] of this.#byFileId) if (owner !== jobId) ids.push(fileId);
    return ids;
  }
}

/** The owner of a rejected image: no job has this name, so no job passes a claim on it. */
function retired(jobId: string): string {
  return `${jobId} (rejected)`;
}
