/**
 * The body of the diff thread (see diff.ts `thread`): walks the trees and
 * writes the tar (diff-walk.ts) off the main thread, so the main thread is
 * free to compress, hash, store and apply what it receives. Chunks move to
 * the main thread (their memory is transferred, not copied), at most
 * {@link DIFF_THREAD_WINDOW} ahead of what the main thread has taken.
 */
import { parentPort } from 'node:worker_threads';
import { tarChunks } from './diff-walk.js';

/** Chunks the thread may send before the main thread takes one. */
export const DIFF_THREAD_WINDOW = 4;

/** A request from the main thread. */
export type DiffThreadRequest =
  | { type: 'start'; id: number; lower?: string; upper: string; overlay: boolean }
  | { type: 'ack'; id: number }
  | { type: 'cancel'; id: number };

/** What the thread sends: chunks, then the end or an error with the native error's fields. */
export type DiffThreadReply =
  | { type: 'chunk'; id: number; chunk: Uint8Array }
  | { type: 'end'; id: number }
  | { type: 'error'; id: number; error: { message: string; code?: string; errno?: number; syscall?: string; path?: string } };

interface Job { credit: number; cancelled: boolean; wake?: () => void }
const jobs = new Map<number, Job>();

async function run(m: Extract<DiffThreadRequest, { type: 'start' }>): Promise<void> {
  const job: Job = { credit: DIFF_THREAD_WINDOW, cancelled: false };
  jobs.set(m.id, job);
  const gen = tarChunks(m.lower, m.upper, m.overlay);
  try {
    for (const c of gen) {
      while (job.credit === 0 && !job.cancelled) await new Promise<void>((resolve) => { job.wake = resolve; });
      if (job.cancelled) return;
      job.credit--;
      // A chunk owns its whole ArrayBuffer (never pooled): hand it over without a copy.
      const owned = c.byteOffset === 0 && c.buffer.byteLength >= c.byteLength && c.buffer instanceof ArrayBuffer;
      parentPort!.postMessage({ type: 'chunk', id: m.id, chunk: c } satisfies DiffThreadReply, owned ? [c.buffer as ArrayBuffer] : []);
    }
    parentPort!.postMessage({ type: 'end', id: m.id } satisfies DiffThreadReply);
  } catch (e) {
    const x = e as { message?: string; code?: string; errno?: number; syscall?: string; path?: string };
    parentPort!.postMessage({
      type: 'error', id: m.id,
      error: {
        message: String(x.message ?? e), ...(typeof x.code === 'string' ? { code: x.code } : {}), ...(typeof x.errno === 'number' ? { errno: x.errno } : {}),
        ...(x.syscall ? { syscall: x.syscall } : {}), ...(x.path ? { path: x.path } : {}),
      },
    } satisfies DiffThreadReply);
  } finally {
    gen.return(undefined);
    jobs.delete(m.id);
  }
}

parentPort?.on('message', (m: DiffThreadRequest) => {
  if (m.type === 'start') { void run(m); return; }
  const job = jobs.get(m.id);
  if (job === undefined) return;
  if (m.type === 'ack') job.credit++;
  else job.cancelled = true;
  const wake = job.wake;
  job.wake = undefined;
  wake?.();
});
