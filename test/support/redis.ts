// A real Debian redis-server for the fleet tests (BullMQ on Redis, issue 17): one per test file, on a free
// loopback port, with its own data dir so a SIGKILL and a restart show what survives a crash (AOF, fsync always).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const REDIS_SERVER_BIN = '/usr/bin/redis-server';
const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const PORT_ATTEMPTS = 5;

export interface RedisServer {
  readonly port: number;
  readonly url: string; // redis://127.0.0.1:<port>
  readonly dir: string; // its data dir (AOF lives here)
  readonly pid: number | undefined;
  /** SIGKILL the server (a crash), resolves once the process is gone. */
  kill(): Promise<void>;
  /** Start again on the same port and dir (same data, from the AOF); resolves once it answers PING.
   *  If the server is still running it is SIGKILLed first, as a crash would. */
  restart(): Promise<void>;
  /** Stop for good (SIGTERM, then SIGKILL after 5 s) and remove the dir unless keepDir. */
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** Data dir; default a fresh mkdtemp under os.tmpdir() (prefix semantest-redis-). */
  dir?: string;
  /** Fixed port; default a free one (and another one if redis cannot bind it). */
  port?: number;
  /** Leave the dir behind on stop(); default true when `dir` was given (it is the caller's), false otherwise. */
  keepDir?: boolean;
}

// Every child still running, so that a failed test (or a forgotten stop()) never leaves a redis behind.
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  if (!existsSync(REDIS_SERVER_BIN)) {
    throw new Error(`redis-server is not installed (apt-get install -y redis-server; .ci/run does this): ${REDIS_SERVER_BIN} is missing`);
  }
  installExitHook();
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(path.join(tmpdir(), 'semantest-redis-')));
  const keepDir = opts.keepDir ?? !ownDir;
  const logFile = path.join(dir, 'redis.log');

  let child: ChildProcess | undefined;
  let port = opts.port ?? 0;
  try {
    if (opts.port !== undefined) {
      child = await launch(dir, logFile, opts.port);
    } else {
      // The free port can be taken between our probe and redis' bind; a few fresh ports make that race harmless.
      for (let attempt = 1; ; attempt++) {
        port = await freePort();
        try {
          child = await launch(dir, logFile, port);
          break;
        } catch (err) {
          if (!(err instanceof BindError) || attempt >= PORT_ATTEMPTS) throw err;
        }
      }
    }
  } catch (err) {
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const kill = async (): Promise<void> => {
    if (child) await killAndWait(child, 'SIGKILL');
  };

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get pid() {
      return child && isRunning(child) ? child.pid : undefined;
    },
    kill,
    async restart() {
      await kill();
      child = await launch(dir, logFile, port);
    },
    async stop() {
      if (child) {
        const c = child;
        const escalate = setTimeout(() => c.kill('SIGKILL'), STOP_GRACE_MS);
        try {
          await killAndWait(c, 'SIGTERM');
        } finally {
          clearTimeout(escalate);
        }
      }
      if (!keepDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Redis could not listen on the port (taken since we picked it); worth another port. */
class BindError extends Error {}

/** Spawns redis-server (no shell) and resolves once it is this very process that answers PING on `port`. */
async function launch(dir: string, logFile: string, port: number): Promise<ChildProcess> {
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--protected-mode', 'yes',
    '--dir', dir,
    '--logfile', logFile,
    '--appendonly', 'yes',
    '--appendfsync', 'always',
    '--save', '',
    '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no',
  ];
  const child = spawn(REDIS_SERVER_BIN, args, { stdio: 'ignore' });
  running.add(child);
  child.once('exit', () => running.delete(child));

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  child.once('exit', (code, signal) => (exited = { code, signal }));
  child.once('error', (err) => (spawnError = err));

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (spawnError) throw new Error(`${REDIS_SERVER_BIN} could not be started: ${spawnError.message}`);
    if (exited) {
      const tail = await logTail(logFile);
      const msg =
        `${REDIS_SERVER_BIN} --port ${port} --dir ${dir} exited (code ${exited.code}, signal ${exited.signal}) ` +
        `before answering PING; last lines of ${logFile}:\n${tail}`;
      throw /Address already in use|Could not create server TCP listening socket/.test(tail) ? new BindError(msg) : new Error(msg);
    }
    // Another server may already hold the port, so the answer must come from our child's pid, not just any redis.
    const answeredBy = await probe(port);
    if (answeredBy !== undefined && answeredBy === child.pid) return child;
    if (Date.now() >= deadline) {
      await killAndWait(child, 'SIGKILL');
      throw new Error(
        `${REDIS_SERVER_BIN} on 127.0.0.1:${port} did not answer PING within ${READY_TIMEOUT_MS / 1000} s` +
          (answeredBy !== undefined ? ` (pid ${answeredBy} answered instead of ${child.pid})` : '') +
          `; last lines of ${logFile}:\n${await logTail(logFile)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** One raw RESP round trip: PING must give +PONG; INFO server then says which process answered. */
function probe(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    let buf = '';
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (pid: number | undefined): void => {
      socket.destroy();
      resolve(pid);
    };
    socket.setTimeout(1_000, () => done(undefined));
    socket.once('error', () => done(undefined));
    socket.once('close', () => done(undefined));
    socket.once('connect', () => socket.write('PING\r\nINFO server\r\n'));
    socket.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      if (buf.length >= 5 && !buf.startsWith('+PONG\r\n')) return done(undefined); // e.g. -LOADING while reading the AOF
      const m = /\r\nprocess_id:(\d+)\r\n/.exec(buf);
      if (m) done(Number(m[1]));
    });
  });
}

/** A port the OS just handed out on 127.0.0.1 and that we closed again: free, barring a race (hence the retries). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Sends `signal` and waits for the exit event itself, so the port and AOF are free when this resolves. */
async function killAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (!isRunning(child)) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await gone;
}

async function logTail(logFile: string, lines = 20): Promise<string> {
  try {
    return (await readFile(logFile, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(no log: ${(err as Error).message})`;
  }
}
