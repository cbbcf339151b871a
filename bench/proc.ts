// Readers of /proc for the benches (Linux): a Chromium's process tree by its profile folder, PSS,
// open file descriptors and CPU time (docs/ARCHITECTURE.md "Long runs").
import { readFileSync, readdirSync } from 'node:fs';

const TICK_S = 0.01; // USER_HZ is 100 on Linux

/**
 * Every process of one Chromium: the browser (its command line carries this exact user-data-dir)
 * and all its descendants (zygotes, renderers, GPU, utility; renderers do not repeat the flag).
 */
export function chromiumPids(profileDir: string): Array<{ pid: number; renderer: boolean }> {
  const wanted = `--user-data-dir=${profileDir}`;
  const children = new Map<number, number[]>();
  // Chromium rewrites its process title: the arguments may be one space-joined string, not NUL-separated.
  const argvOf = new Map<number, string>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      argvOf.set(Number(name), ` ${readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ')} `);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      continue; // exited meanwhile
    }
  }
  const roots = [...argvOf].filter(([, argv]) => argv.includes(` ${wanted} `) && !argv.includes(' --type=')).map(([pid]) => pid);
  const found: Array<{ pid: number; renderer: boolean }> = [];
  const queue = [...roots];
  while (queue.length) {
    const pid = queue.shift()!;
    found.push({ pid, renderer: (argvOf.get(pid) ?? '').includes(' --type=renderer ') });
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

export function pssKb(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export function fdCount(pid: number | 'self'): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** utime+stime in seconds and the start time (to tell a reused pid from the process seen before). */
export function cpuOf(pid: number | 'self'): { cpu: number; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is field 3, so utime (14) is index 11, stime 12, starttime (22) 19.
    return { cpu: (Number(fields[11]) + Number(fields[12])) * TICK_S, start: fields[19] };
  } catch {
    return undefined;
  }
}

/**
 * CPU of every process of one Chromium, including those that exited (a recycled tab's renderer):
 * each process's last reading is kept, so the total never loses what an exited one used.
 */
export class BrowserCpu {
  readonly #last = new Map<string, number>();
  sample(pids: number[]): number {
    for (const pid of pids) {
      const c = cpuOf(pid);
      if (c) this.#last.set(`${pid}@${c.start}`, c.cpu);
    }
    let sum = 0;
    for (const v of this.#last.values()) sum += v;
    return sum;
  }
}

