/**
 * Iterating a Readable chunk by chunk. Node's own async iterator over a
 * byte stream calls `read()`, which returns everything buffered as one new
 * Buffer: when the consumer is slower than the socket (a pull's main thread
 * is busy), each turn concatenated several 64 KiB chunks, and a pull of the
 * multilayer fixture copied its ~23 MB once more on the main thread (~20 ms)
 * and doubled the ArrayBuffers the garbage collector had to account for.
 */
import type { Readable } from 'node:stream';
import { finished } from 'node:stream';

/**
 * Yields the chunks `stream` emits, as they are (no copy). Pauses the stream
 * while more than `highWaterMark` bytes wait; ends when it ends, throws its
 * error (or a premature close), and destroys it when the caller stops early.
 */
export async function* readableChunks(stream: Readable, highWaterMark = 1 << 20): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let head = 0;
  let queued = 0;
  let ended = false;
  let error: unknown;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (c: Buffer): void => {
    queue.push(c);
    queued += c.length;
    if (queued > highWaterMark) stream.pause();
    notify();
  };
  stream.on('data', onData);
  const cleanup = finished(stream, { writable: false }, (e) => {
    if (e) error = e;
    else ended = true;
    notify();
  });
  try {
    for (;;) {
      if (head < queue.length) {
        const c = queue[head]!;
        queue[head++] = undefined as unknown as Buffer;
        if (head === queue.length) { queue.length = 0; head = 0; }
        queued -= c.length;
        if (queued <= highWaterMark && stream.isPaused() && !ended) stream.resume();
        yield c;
        continue;
      }
      if (error !== undefined) throw error;
      if (ended) return;
      await new Promise<void>((resolve) => { wake = resolve; });
    }
  } finally {
    stream.off('data', onData);
    cleanup();
    if (!ended) stream.destroy();
  }
}
