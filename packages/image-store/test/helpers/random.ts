/** Deterministic pseudo-random byte streams (AES-256-CTR of zeros), fast enough for 100 MB blobs. */
import { createCipheriv, createHash } from 'node:crypto';
import { parseDigest, type Digest } from '@berth/oci-spec';

/** Yields `size` deterministic bytes for `seed`, in chunks of `chunk` bytes. */
export function* randomChunks(size: number, seed: string, chunk = 1 << 20): Generator<Buffer> {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(chunk);
  for (let left = size; left > 0; left -= chunk) {
    yield cipher.update(left >= chunk ? zeros : zeros.subarray(0, left));
  }
}

/** An async iterable version of {@link randomChunks}. */
export async function* randomStream(size: number, seed: string, chunk = 1 << 20): AsyncGenerator<Buffer> {
  yield* randomChunks(size, seed, chunk);
}

/** The sha256 digest and size of {@link randomChunks}. */
export function randomDigest(size: number, seed: string): Digest {
  const h = createHash('sha256');
  for (const c of randomChunks(size, seed)) h.update(c);
  return parseDigest(`sha256:${h.digest('hex')}`);
}

/** `sha256:<hex>` of bytes. */
export function sha256(b: Uint8Array | string): Digest {
  return parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`);
}
