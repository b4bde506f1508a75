import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How often the checkpointer copies the write-ahead log into the database (a passive checkpoint). */
export const CHECKPOINT_INTERVAL_MS = 100;
/**
 * The writer's own automatic checkpoint, as a fallback only: far above what the checkpointer lets the log reach,
 * so that commits never pay for a checkpoint unless the checkpointer has stopped.
 */
export const WRITER_AUTOCHECKPOINT_PAGES = 20_000;

/**
 * SQLite checkpoints off the event loop. With automatic checkpoints, the commit that crosses the threshold copies
 * the whole log into the database and syncs both files inside the COMMIT — a stall of milliseconds on the only
 * thread, every few hundred commits (the p99 of a lone writer). Here a worker thread holds a connection of its own
 * and runs a PASSIVE checkpoint every `CHECKPOINT_INTERVAL_MS`: it never blocks the writer or readers (frames
 * still in use are left for the next round), and its syncs happen on its own thread.
 *
 * The worker is plain JavaScript (evaluated, so it needs no TypeScript loader) and loads better-sqlite3 from the
 * path this module resolves.
 */
export class Checkpointer {
  private readonly worker: Worker;
  /** Settles when the thread has ended: stopped, or failed (at start, say), whichever comes first. */
  private readonly exited: Promise<void>;
  private stopping = false;

  constructor(path: string, intervalMs = CHECKPOINT_INTERVAL_MS) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER, { eval: true, workerData: { module, path, intervalMs } });
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    // A checkpointer that fails leaves the writer's fallback checkpoint in charge; it must not end the process.
    this.worker.on('error', () => {});
    this.worker.unref();
  }

  /** Stops checkpointing and closes the worker's connection. */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      // Unreferenced while it runs (it must not keep a process alive); referenced while it stops, or a process
      // with nothing else to do would exit with this promise, and everything awaiting it, still pending.
      this.worker.ref();
      this.worker.postMessage('stop');
    }
    return this.exited;
  }
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 0');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or locked: the next round tries again.
  }
}, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;
