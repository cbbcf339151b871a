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

  /** Images already verified (from the checkpoint) belong to their jobs for good. */
  constructor(verified: Iterable<{ id: string; fileId?: string; sha256?: string }> = []) {
    for (const record of verified) {
      if (record.fileId) this.#byFileId.set(record.fileId, record.id);
      if (record.sha256) this.#bySha.set(record.sha256, record.id);
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
