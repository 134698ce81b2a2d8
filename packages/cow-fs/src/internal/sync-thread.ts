/**
 * The body of the syncfs thread (see sync-group.ts): runs syncfs(2) for each
 * requested path, or a durable file replace (metadata), one at a time, and
 * answers with the outcome.
 */
import { parentPort } from 'node:worker_threads';
import { syncfs } from '@berth/namespaces';
import { writeFileDurably } from './metadata.js';

/** A request from the main thread: syncfs of `path`, or, with `text`, replace the file at `path` durably. */
export interface SyncRequest { id: number; path: string; text?: string }
/** The answer: `error` carries the native error's fields when syncfs failed. */
export interface SyncReply { id: number; error?: { message: string; code?: string; errnoCode?: string; syscall?: string; path?: string } }

parentPort?.on('message', (m: SyncRequest) => {
  try {
    if (m.text === undefined) syncfs(m.path);
    else writeFileDurably(m.path, m.text);
    parentPort!.postMessage({ id: m.id } satisfies SyncReply);
  } catch (e) {
    const x = e as { message?: string; code?: string; errnoCode?: string; syscall?: string; path?: string };
    parentPort!.postMessage({
      id: m.id,
      error: { message: String(x.message ?? e), ...(x.code ? { code: x.code } : {}), ...(x.errnoCode ? { errnoCode: x.errnoCode } : {}), ...(x.syscall ? { syscall: x.syscall } : {}), ...(x.path ? { path: x.path } : {}) },
    } satisfies SyncReply);
  }
});
