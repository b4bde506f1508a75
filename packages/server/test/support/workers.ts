import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestDatabase } from './databases.js';

const WORKER = fileURLToPath(new URL('../fixtures/append-worker.ts', import.meta.url));

export interface Worker {
  readonly child: ChildProcess;
  /** Acknowledged appends so far: index → leaf hash (hex). */
  readonly acks: Map<number, string>;
  readonly exited: Promise<number | null>;
}

/** Starts an append worker process against the test database (TypeScript through tsx, sources via vigil-source). */
export function startWorker(
  db: TestDatabase,
  options: { count?: number; concurrency?: number; name: string },
): Worker {
  const child = spawn(process.execPath, ['--conditions=vigil-source', '--import', 'tsx', WORKER], {
    env: {
      ...process.env,
      WORKER_DATABASE_URL: db.databaseUrl ?? '',
      WORKER_DATA_DIR: db.dataDir,
      WORKER_SCHEMA: db.schema ?? '',
      WORKER_COUNT: String(options.count ?? 'Infinity'),
      WORKER_CONCURRENCY: String(options.concurrency ?? 16),
      WORKER_NAME: options.name,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acks = new Map<number, string>();
  let buffer = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) {
      const m = /^ack (\d+) ([0-9a-f]{64})$/.exec(line);
      if (m) acks.set(Number(m[1]), m[2]!);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) console.error(`worker ${options.name} exited ${code}: ${stderr}`);
      resolve(code);
    }),
  );
  return { child, acks, exited };
}
