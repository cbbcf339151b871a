// Shapes of the journal lines the store reads back: the files are a boundary, checked once on load.
// (snapshot.json is checked by hand in snapshot-shape.ts: zod took 250 ms of a 100k-job load.)
import { z } from 'zod';
import type { JournalLine } from './types.js';

const jobState = z.enum(['pending', 'started', 'submitted', 'downloaded', 'verified', 'failed', 'rejected']);
const failure = z.object({ kind: z.string(), message: z.string(), evidence: z.array(z.string()).optional(), final: z.boolean().optional() });
const rejection = z.object({ reason: z.string(), at: z.string(), keptAs: z.string().min(1), sha256: z.string() });
const pacing = z.object({
  lastStartAt: z.number().optional(),
  startsSinceCooldown: z.number(),
  pauseUntil: z.number().optional(),
  pauseReason: z.string().optional(),
});
const seq = z.number().int().positive();
const at = z.string();

export const JournalLineSchema = z.discriminatedUnion('t', [
  z.object({
    seq,
    at,
    t: z.literal('job'),
    id: z.string().min(1),
    state: jobState,
    promptHash: z.string().optional(),
    attempt: z.number().int().nonnegative().optional(),
    conversationUrl: z.string().optional(),
    profile: z.string().optional(),
    fileId: z.string().optional(),
    path: z.string().optional(),
    sha256: z.string().optional(),
    failure: failure.optional(),
    rejection: rejection.optional(),
  }),
  z.object({ seq, at, t: z.literal('pacing'), pacing }),
  z.object({ seq, at, t: z.literal('run'), event: z.enum(['start', 'stop']), pid: z.number().int(), argv: z.array(z.string()).optional(), reason: z.string().optional() }),
  /** First line of a segment begun by compaction: snapshot.json holds everything up to `seq`. */
  z.object({ seq: z.number().int().nonnegative(), at, t: z.literal('segment') }),
]);

export type SegmentHeader = { seq: number; at: string; t: 'segment' };
export type ParsedLine = JournalLine | SegmentHeader;

/** The first problem zod found, in one line: "jobs.p1.state: Invalid option…". */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue.path.join('.') || 'top level'}: ${issue.message}`;
}

// Compile-time guard: the schemas must produce exactly the declared types.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _lines: Same<z.infer<typeof JournalLineSchema>, ParsedLine> = true;
void _lines;
