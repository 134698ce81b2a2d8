/**
 * Random bytes from the kernel (`/dev/urandom`, the source `getrandom(2)` and
 * `crypto.randomBytes` draw from) without loading `node:crypto`: in a short
 * CLI process that module's load (~6.5 ms here) was paid for a container id
 * and a few temporary names.
 */
import { closeSync, openSync, readSync } from 'node:fs';

let fd: number | undefined;

/** `n` random bytes. */
export function randomBytesLite(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 65536) throw new RangeError(`random byte count ${n} is out of range`);
  const out = Buffer.allocUnsafe(n);
  fd ??= openSync('/dev/urandom', 'r');
  let got = 0;
  try {
    while (got < n) got += readSync(fd, out, got, n - got, null);
  } catch (e) {
    try { closeSync(fd); } catch { /* gone */ }
    fd = undefined;
    throw e;
  }
  return out;
}

/** `n` random bytes as `2n` lowercase hex digits (ids, temporary names). */
export function randomHex(n: number): string {
  return randomBytesLite(n).toString('hex');
}

/** A uniformly random integer in `[0, max)`, `max` at most 2^32. */
export function randomBelow(max: number): number {
  if (!Number.isInteger(max) || max < 1 || max > 2 ** 32) throw new RangeError(`random bound ${max} is out of range`);
  // Rejection sampling: no modulo bias.
  const limit = 2 ** 32 - (2 ** 32 % max);
  for (;;) {
    const v = randomBytesLite(4).readUInt32LE(0);
    if (v < limit) return v % max;
  }
}
