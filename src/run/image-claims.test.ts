import { describe, expect, it } from 'vitest';
import { ImageClaims } from './image-claims.js';

describe('image claims', () => {
  it('gives an image to the first job that claims it; the second learns whose it is and by what', () => {
    const claims = new ImageClaims();
    expect(claims.claim('p1', { fileId: 'file_a', sha256: 'x' })).toBeUndefined();
    expect(claims.claim('p2', { fileId: 'file_a', sha256: 'y' })).toEqual({ owner: 'p1', by: 'file id' });
    expect(claims.claim('p2', { fileId: 'file_b', sha256: 'x' })).toEqual({ owner: 'p1', by: 'bytes' });
    expect(claims.claim('p1', { fileId: 'file_a', sha256: 'x' })).toBeUndefined();
  });

  it('starts with the images verified in the checkpoint', () => {
    const claims = new ImageClaims([{ id: 'p1', state: 'verified', fileId: 'file_a', sha256: 'x' }]);
    expect(claims.claim('p2', { fileId: 'file_z', sha256: 'x' })).toEqual({ owner: 'p1', by: 'bytes' });
    expect(claims.fileIdsNotOf('p2')).toEqual(['file_a']);
    expect(claims.fileIdsNotOf('p1')).toEqual([]);
  });

  it('frees a released claim for another job', () => {
    const claims = new ImageClaims();
    claims.claim('p1', { fileId: 'file_a', sha256: 'x' });
    claims.release('p2', { fileId: 'file_a', sha256: 'x' });
    expect(claims.claim('p2', { fileId: 'file_a', sha256: 'x' })).toEqual({ owner: 'p1', by: 'file id' });
    claims.release('p1', { fileId: 'file_a', sha256: 'x' });
    expect(claims.claim('p2', { fileId: 'file_a', sha256: 'x' })).toBeUndefined();
  });

  it('never gives a rejected image back, to another panel or to its own', () => {
    const fromCheckpoint = new ImageClaims([{ id: 'p1', state: 'rejected', fileId: 'file_a', sha256: 'new', rejection: { sha256: 'old' } }]);
    expect(fromCheckpoint.claim('p1', { fileId: 'file_a', sha256: 'z' })).toEqual({ owner: 'p1 (rejected)', by: 'file id' });
    expect(fromCheckpoint.claim('p1', { fileId: 'file_b', sha256: 'old' })).toEqual({ owner: 'p1 (rejected)', by: 'bytes' });
    // Being redone, its record's file id is the new image's (downloaded before a crash): claimable.
    const redoing = new ImageClaims([{ id: 'p1', state: 'downloaded', fileId: 'file_new', sha256: 'new', rejection: { sha256: 'old' } }]);
    expect(redoing.claim('p1', { fileId: 'file_new', sha256: 'new' })).toBeUndefined();
    expect(redoing.claim('p1', { fileId: 'file_c', sha256: 'old' })).toEqual({ owner: 'p1 (rejected)', by: 'bytes' });
    const live = new ImageClaims();
    live.claim('p1', { fileId: 'file_a', sha256: 'x' });
    live.retire('p1');
    expect(live.claim('p1', { fileId: 'file_a', sha256: 'x' })).toEqual({ owner: 'p1 (rejected)', by: 'file id' });
    expect(live.fileIdsNotOf('p1')).toEqual(['file_a']);
  });
});
