/**
 * WAL checkpoints on a worker thread. In WAL mode SQLite copies the log back into the database
 * file (and syncs it) inside whichever commit crosses `wal_autocheckpoint` pages: on a server
 * that logs impressions that commit runs on the event loop, and with 16 KiB pages scattered over
 * a large file it held the loop for up to ~100 ms (bench/serve.ts: the p99 of every request).
 * Here the serving connection never checkpoints; a thread with its own connection runs a
 * PASSIVE checkpoint every `intervalMs` (it waits for no reader or writer). When the thread
 * fails, the connection checkpoints by itself again.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
const run = () => { try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} };
const timer = setInterval(run, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'close') return;
  clearInterval(timer);
  run();
  db.close();
  parentPort.postMessage('closed');
});
`;

export class BackgroundCheckpointer {
  private readonly worker: Worker;
  private stopped = false;

  constructor(private readonly db: Database.Database, path: string, private readonly autocheckpoint: number, intervalMs = 1000) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER, { eval: true, workerData: { path, intervalMs, driver } });
    this.worker.unref();
    db.pragma('wal_autocheckpoint = 0');
    const fallback = () => {
      if (this.stopped) return;
      this.stopped = true;
      try {
        db.pragma(`wal_autocheckpoint = ${autocheckpoint}`);
      } catch {
        /* closed */
      }
    };
    this.worker.on('error', fallback);
    this.worker.on('exit', fallback);
  }

  /** Runs a last checkpoint and ends the thread (the connection checkpoints by itself again). */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      this.db.pragma(`wal_autocheckpoint = ${this.autocheckpoint}`);
    } catch {
      /* closed */
    }
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      this.worker.once('message', done);
      this.worker.once('exit', done);
      this.worker.postMessage('close');
    });
    await this.worker.terminate();
  }
}
