/** Test helpers: consume streams. */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

/** Reads a stream to the end; returns its byte count and sha256 digest, and how many chunks it handed on. */
export async function consume(stream: Readable): Promise<{ size: number; digest: string; chunks: number }> {
  const h = createHash('sha256');
  let size = 0;
  let chunks = 0;
  for await (const c of stream as AsyncIterable<Buffer>) {
    h.update(c);
    size += c.length;
    chunks++;
  }
  return { size, digest: `sha256:${h.digest('hex')}`, chunks };
}
