/**
 * Group syncfs: commits that wait for the disk at the same time share one
 * syncfs(2), and it runs on a thread of its own, so the main thread keeps
 * unpacking (or downloading) while the kernel writes back.
 *
 * A request is satisfied only by a syncfs that *starts* after it was made
 * (data written before the request is then on disk): while one runs, new
 * requests join the next one, which starts when it ends.
 *
 * The thread is one Worker per process, started by {@link warmSyncThread}
 * (a concurrent unpack, whose commits come in a batch, starts it while the
 * layers are applied) and unref'd while idle (it never keeps the process
 * alive). Until it is online — a process that commits one snapshot never
 * pays for starting a thread — or where no worker can be started, syncfs
 * runs on the main thread as before.
 */
import { Worker } from 'node:worker_threads';
import { syncfs } from './sys.js';
import type { SyncReply } from './sync-thread.js';

let worker: Worker | undefined;
let workerOnline = false;
let workerFailed = false;
let seq = 0;
const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

function failAll(e: Error): void {
  for (const p of pending.values()) p.reject(e);
  pending.clear();
}

function theWorker(): Worker | undefined {
  if (worker !== undefined || workerFailed) return worker;
  try {
    const w = new Worker(new URL('./sync-thread.js', import.meta.url));
    w.on('message', (r: SyncReply) => {
      const p = pending.get(r.id);
      if (p === undefined) return;
      pending.delete(r.id);
      if (pending.size === 0) w.unref();
      if (r.error === undefined) p.resolve();
      else p.reject(Object.assign(new Error(r.error.message), r.error));
    });
    w.once('online', () => { if (worker === w) workerOnline = true; });
    w.on('error', (e) => { worker = undefined; workerOnline = false; workerFailed = true; failAll(e); });
    w.on('exit', () => { if (worker === w) { worker = undefined; workerOnline = false; } failAll(new Error('syncfs thread exited')); });
    // After the listeners: adding a 'message' listener refs the worker's port again, which would keep the process alive.
    w.unref();
    worker = w;
  } catch {
    workerFailed = true;
  }
  return worker;
}

/** Starts the syncfs thread ahead of its first use (it takes tens of milliseconds to load). */
export function warmSyncThread(): void {
  theWorker();
}

/** syncfs(2) of the filesystem holding `path`, on the syncfs thread when it is online (else inline). */
export function syncfsOffThread(path: string): Promise<void> {
  const w = workerOnline ? worker : undefined;
  if (w === undefined) {
    try {
      syncfs(path);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }
  const id = ++seq;
  w.ref();
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.postMessage({ id, path });
  });
}

/**
 * Replaces the file at `path` with `text` durably (see metadata.ts's
 * writeFileDurably) on the syncfs thread, when it is online; undefined
 * otherwise (the caller writes another way).
 */
export function writeDurablyOffThread(path: string, text: string): Promise<void> | undefined {
  const w = workerOnline ? worker : undefined;
  if (w === undefined) return undefined;
  const id = ++seq;
  w.ref();
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.postMessage({ id, path, text });
  });
}

/** One filesystem's group syncfs; see the module comment. */
export class SyncGroup {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly path: string) {}

  /** Resolves once a syncfs that started after this call has completed. */
  sync(): Promise<void> {
    if (this.running === undefined) return this.start();
    this.next ??= this.running.then(() => undefined, () => undefined).then(() => {
      this.next = undefined;
      return this.start();
    });
    return this.next;
  }

  private start(): Promise<void> {
    const run = syncfsOffThread(this.path);
    this.running = run;
    const clear = (): void => { if (this.running === run) this.running = undefined; };
    run.then(clear, clear);
    return run;
  }
}
