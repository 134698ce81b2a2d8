/** Helpers both stores share: label filters and updates, lease ids. */
import { Writable } from 'node:stream';
import { StoreInvalidRefError } from '../errors.js';
import type { WalkFilter } from '../content.js';

/** Does `labels` satisfy the filter's labels? */
export function matchesFilter(labels: Record<string, string>, filter: WalkFilter): boolean {
  for (const [k, v] of Object.entries(filter.labels ?? {})) {
    if (!(k in labels)) return false;
    if (v !== '' && labels[k] !== v) return false;
  }
  return true;
}

/**
 * Applies a label update: no fieldpaths replaces all labels; `labels` replaces
 * all; `labels.<key>` sets (or, with an empty or absent value, deletes) one.
 */
export function updateLabels(current: Record<string, string>, next: Record<string, string>, fieldpaths?: string[]): Record<string, string> {
  if (!fieldpaths || fieldpaths.length === 0 || fieldpaths.includes('labels')) {
    return Object.fromEntries(Object.entries(next).filter(([, v]) => v !== ''));
  }
  const out = { ...current };
  for (const fp of fieldpaths) {
    if (!fp.startsWith('labels.')) continue;
    const key = fp.slice('labels.'.length);
    const v = next[key];
    if (v === undefined || v === '') delete out[key];
    else out[key] = v;
  }
  return out;
}

/** Checks a lease id: 1–128 of `[A-Za-z0-9._-]`. */
export function validLeaseId(id: string): void {
  if (typeof id !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(id)) throw new StoreInvalidRefError(String(id), 'bad lease id');
}

/** A Writable over a writer's `write` (batches of chunks become one call each). */
export function writerWritable(
  write: (chunks: Uint8Array[], signal?: AbortSignal) => Promise<void>, signal?: AbortSignal, flush?: () => Promise<void>,
): Writable {
  return new Writable({
    highWaterMark: 4 << 20,
    final(cb) {
      (flush ? flush() : Promise.resolve()).then(() => cb(), cb);
    },
    writev(chunks, cb) {
      write(chunks.map((c) => c.chunk as Uint8Array), signal).then(() => cb(), cb);
    },
    write(chunk, _enc, cb) {
      write([chunk as Uint8Array], signal).then(() => cb(), cb);
    },
  });
}
