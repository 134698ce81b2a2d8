/**
 * The body of the syncfs thread (see sync-group.ts): runs syncfs(2) for each
 * requested path, one at a time, and answers with the outcome.
 */
import { parentPort } from 'node:worker_threads';
import { syncfs } from '@berth/namespaces';

/** A request from the main thread. */
export interface SyncRequest { id: number; path: string }
/** The answer: `error` carries the native error's fields when syncfs failed. */
export interface SyncReply { id: number; error?: { message: string; code?: string; errnoCode?: string; syscall?: string; path?: string } }

parentPort?.on('message', (m: SyncRequest) => {
  try {
    syncfs(m.path);
    parentPort!.postMessage({ id: m.id } satisfies SyncReply);
  } catch (e) {
    const x = e as { message?: string; code?: string; errnoCode?: string; syscall?: string; path?: string };
    parentPort!.postMessage({
      id: m.id,
      error: { message: String(x.message ?? e), ...(x.code ? { code: x.code } : {}), ...(x.errnoCode ? { errnoCode: x.errnoCode } : {}), ...(x.syscall ? { syscall: x.syscall } : {}), ...(x.path ? { path: x.path } : {}) },
    } satisfies SyncReply);
  }
});
