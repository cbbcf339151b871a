// Journal costs (ARCHITECTURE §6): append (write + fdatasync) per event as the journal grows, and load
// time for books of 1k/10k/100k jobs (~5 events each), from snapshot + short tail and, as the worst
// case, from the journal alone. Goal: a 100k-job book loads in under 1 s.
// Run: npm run bench:journal  (node scripts/run-ts.mjs bench/journal.ts)
import { mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openJobStore, type JournalEvent } from '../src/store/index.js';

const SIZES = [1_000, 10_000, 100_000];
const BATCHES = 15;
const BATCH = 40;
const TAIL = 250;
const NEVER = Number.MAX_SAFE_INTEGER;

const work = await mkdtemp(path.join(tmpdir(), 'semantest-bench-journal-'));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const mb = async (file: string) => `${((await stat(file)).size / 1e6).toFixed(1)} MB`;

/** The five lines a job leaves in a day-long run: started, pacing, submitted, downloaded, verified. */
function eventsOf(i: number): JournalEvent[] {
  const id = `ch${Math.floor(i / 1000) + 1}/s${Math.floor(i / 10) % 100 + 1}/p${(i % 10) + 1}`;
  const sha256 = i.toString(16).padStart(64, '0');
  return [
    { t: 'job', id, state: 'started', attempt: 1, promptHash: sha256.replace(/0/g, 'a') },
    { t: 'pacing', pacing: { lastStartAt: 1_760_000_000_000 + i * 9_000, startsSinceCooldown: i % 25 } },
    { t: 'job', id, state: 'submitted', conversationUrl: `https://chatgpt.com/c/68f0${i.toString(16).padStart(8, '0')}-1234-8000-9abc-def012345678` },
    { t: 'job', id, state: 'downloaded', path: `/home/user/output/the-lighthouse/${id}.png.part`, sha256, fileId: `file_00000000${i.toString(16).padStart(8, '0')}` },
    { t: 'job', id, state: 'verified', path: `/home/user/output/the-lighthouse/${id}.png`, sha256 },
  ];
}

/** Writes a journal as the store would, without paying an fsync per line to build it. */
async function writeJournal(dir: string, events: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const lines: string[] = [];
  const at = new Date(1_760_000_000_000).toISOString();
  for (let i = 0; lines.length < events; i++) {
    for (const event of eventsOf(i)) if (lines.length < events) lines.push(JSON.stringify({ seq: lines.length + 1, at, ...event }));
  }
  await writeFile(path.join(dir, 'journal.jsonl'), `${lines.join('\n')}\n`);
}

async function timeLoad(dir: string, runs = 3): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const store = await openJobStore(dir, { compactEvery: NEVER });
    times.push(performance.now() - t0);
    await store.close();
  }
  return median(times);
}

/** The disk's own price for one line, to tell the store's overhead from the fsync. */
async function rawAppendMicros(): Promise<number> {
  const handle = await open(path.join(work, 'raw.jsonl'), 'w');
  const line = Buffer.from(`${JSON.stringify({ seq: 1, at: new Date().toISOString(), ...eventsOf(1)[3] })}\n`);
  const perEvent: number[] = [];
  for (let b = 0, at = 0; b < BATCHES; b++) {
    const t0 = performance.now();
    for (let i = 0; i < BATCH; i++, at += line.length) {
      await handle.write(line, 0, line.length, at);
      await handle.datasync();
    }
    perEvent.push(((performance.now() - t0) * 1000) / BATCH);
  }
  await handle.close();
  return median(perEvent);
}

console.log(`append: one write + fdatasync per event, median of ${BATCHES} batches of ${BATCH}`);
console.log(`  bare write + fdatasync on this disk:  ${(await rawAppendMicros()).toFixed(0).padStart(5)} µs/event`);
for (const size of SIZES) {
  const dir = path.join(work, `append-${size}`);
  await writeJournal(dir, size);
  const store = await openJobStore(dir, { compactEvery: NEVER });
  await store.record({ t: 'run', event: 'start', pid: process.pid });
  const perEvent: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const events = eventsOf(size + b);
    const t0 = performance.now();
    for (let i = 0; i < BATCH; i++) await store.record(events[i % events.length]);
    perEvent.push(((performance.now() - t0) * 1000) / BATCH);
  }
  await store.close();
  console.log(`  journal of ${String(size).padStart(7)} events: ${median(perEvent).toFixed(0).padStart(5)} µs/event (batches ${Math.min(...perEvent).toFixed(0)}–${Math.max(...perEvent).toFixed(0)} µs)`);
  await rm(dir, { recursive: true });
}

console.log(`load: jobs × 5 events; snapshot + ${TAIL}-event tail, and journal-only replay (median of 3)`);
for (const jobs of SIZES) {
  const dir = path.join(work, `load-${jobs}`);
  await writeJournal(dir, jobs * 5);
  const journalSize = await mb(path.join(dir, 'journal.jsonl'));
  const replayMs = await timeLoad(dir);

  const store = await openJobStore(dir, { compactEvery: NEVER });
  const t0 = performance.now();
  await store.compact();
  const compactMs = performance.now() - t0;
  for (let i = 0; i < TAIL; i++) await store.record(eventsOf(jobs + Math.floor(i / 5))[i % 5]);
  await store.close();
  const snapshotMs = await timeLoad(dir);
  console.log(
    `  ${String(jobs).padStart(7)} jobs: snapshot+tail ${snapshotMs.toFixed(0).padStart(5)} ms (snapshot ${await mb(path.join(dir, 'snapshot.json'))}), ` +
      `journal-only ${replayMs.toFixed(0).padStart(5)} ms (${journalSize}), compaction ${compactMs.toFixed(0)} ms`,
  );
  await rm(dir, { recursive: true });
}
await rm(work, { recursive: true, force: true });
