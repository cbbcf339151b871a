// A job or book read from the fleet's Redis is input from outside: one that `enqueue` could not have
// written is refused with a reason, before a worker writes a file or sends a prompt for it.
import { describe, expect, it } from 'vitest';
import { fleetJobProblem, parseBook } from './enqueue.js';

const HASH = 'a'.repeat(64);
const good = { id: 'ch1/s1/p1', order: 0, chapter: 'ch1', strip: 's1', panel: 'p1', prompt: 'x', finalPrompt: 'a cat. Style: ink.', promptHash: HASH, outputPath: 'ch1/s1/p1.png', source: { file: 'b.yaml', line: 3 } };

describe('fleetJobProblem', () => {
  it('accepts the jobs enqueue writes, with locale and variant', () => {
    expect(fleetJobProblem(good)).toBeUndefined();
    expect(fleetJobProblem({ ...good, id: 'ch1/s1/p1.pt-BR~b', outputPath: 'ch1/s1/p1.pt-BR~b.png' })).toBeUndefined();
  });

  it('refuses a path that climbs out, an output path not its own, a bad hash, an oversized prompt, a bad reference', () => {
    expect(fleetJobProblem({ ...good, id: '../../etc/passwd', outputPath: '../../etc/passwd.png' })).toMatch(/is not chapter\/strip\/panel/);
    expect(fleetJobProblem({ ...good, id: 'ch1/s1/..', outputPath: 'ch1/s1/...png' })).toMatch(/is not chapter\/strip\/panel/);
    expect(fleetJobProblem({ ...good, outputPath: '../../x.png' })).toMatch(/output path is not ch1\/s1\/p1\.png/);
    expect(fleetJobProblem({ ...good, promptHash: 'zz' })).toMatch(/prompt hash/);
    expect(fleetJobProblem({ ...good, finalPrompt: 'x'.repeat(32_001) })).toMatch(/longer than 32000/);
    expect(fleetJobProblem({ ...good, refs: [{ sha256: '../x', name: 'a.png' }] })).toMatch(/reference/);
    expect(fleetJobProblem(null)).toMatch(/not an object/);
  });
});

describe('parseBook', () => {
  const book = { version: 1, file: '/b.yaml', enqueuedAt: 1, book: { book: 'b', provider: 'chatgpt', style: 's', pacing: {} }, jobs: [good] };

  it('is undefined when there is none, the book when it is whole', () => {
    expect(parseBook(null, 'b')).toBeUndefined();
    expect(parseBook(JSON.stringify(book), 'b')?.jobs).toHaveLength(1);
  });

  it('names the book and the reason when it cannot be used', () => {
    expect(() => parseBook('{', 'b')).toThrow(/the fleet's book "b" in Redis is not JSON/);
    expect(() => parseBook(JSON.stringify({ ...book, book: { ...book.book, book: '../x' } }), 'b')).toThrow(/is not a book slug/);
    expect(() => parseBook(JSON.stringify({ ...book, jobs: [{ ...good, outputPath: '/etc/x.png' }] }), 'b')).toThrow(/cannot be used: ch1\/s1\/p1: its output path/);
  });
});
