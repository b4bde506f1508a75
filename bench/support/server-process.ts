// A Vigil server in its own process for benchmarks (so the load generator does not share its event loop).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The bootstrap admin's token in benchmark servers. */
export const BENCH_TOKEN = 'vigil-bench-admin-token-0123456789abcdef';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The built server, as `npm start` runs it (no TypeScript loader in the process measured). */
const MAIN = fileURLToPath(new URL('../../packages/server/dist/main.js', import.meta.url));

let built = false;

/** Builds the workspace (`tsc -b`, incremental) once per benchmark process, so the server measured is the code. */
function build(): void {
  if (built) return;
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-b'], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('tsc -b failed: the benchmark needs the built server');
  built = true;
}

export interface ServerProcess {
  readonly url: string;
  readonly pid: number;
  /** Bytes the server wrote to stdout after start-up (its log). */
  logged(): number;
  stop(): Promise<void>;
}

/**
 * Builds, then starts the built server (`packages/server/dist/main.js`) on a free port with `env` over the benchmark defaults (log level warn: a
 * line per request would measure the logger). BENCH_PROFILE=1 writes a CPU profile to /tmp/srvprof;
 * BENCH_VERBOSE=1 shows the server's output; BENCH_NODE_ARGS (space-separated) adds Node options to the server's
 * command line, including those NODE_OPTIONS refuses (`--trace-gc`).
 */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  build();
  const child = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_PROFILE
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR ?? '/tmp/srvprof'}`]
        : []),
      ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      MAIN,
    ],
    {
      env: {
        ...process.env,
        VIGIL_PORT: '0',
        VIGIL_BOOTSTRAP_TOKEN: BENCH_TOKEN,
        VIGIL_LOG_ORIGIN: 'bench.vigil',
        VIGIL_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/\S+) /.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  child.stdout.removeAllListeners('data');
  let logged = 0;
  child.stdout.on('data', (chunk: Buffer) => (logged += chunk.length));
  if (process.env.BENCH_VERBOSE) child.stdout.pipe(process.stderr);
  return {
    url,
    pid: child.pid!,
    logged: () => logged,
    stop: () => new Promise<void>((r) => (child.on('exit', () => r()), child.kill('SIGTERM'))),
  };
}

/** CPU seconds the process has used (user + system, every thread), from /proc; undefined off Linux. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}
