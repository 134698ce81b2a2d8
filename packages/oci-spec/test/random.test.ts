import test from 'ava';
import { createHash } from 'node:crypto';
import { EMPTY_SHA256, digestOf, randomBelow, randomBytesLite, randomHex } from '@berth/oci-spec';

test('EMPTY_SHA256 is the sha256 of no bytes', (t) => {
  t.is(EMPTY_SHA256, digestOf(new Uint8Array(0)));
  t.is(EMPTY_SHA256 as string, `sha256:${createHash('sha256').digest('hex')}`);
});

test('randomHex and randomBytesLite: the asked length, lowercase hex, no repeats over many draws; bad counts are refused', (t) => {
  t.regex(randomHex(32), /^[0-9a-f]{64}$/);
  t.is(randomBytesLite(0).length, 0);
  t.is(randomBytesLite(65536).length, 65536);
  const seen = new Set(Array.from({ length: 2000 }, () => randomHex(8)));
  t.is(seen.size, 2000);
  // Every byte value turns up in 64 KiB of output (a constant or short-period source would not).
  t.is(new Set(randomBytesLite(65536)).size, 256);
  t.throws(() => randomHex(-1), { instanceOf: RangeError });
  t.throws(() => randomBytesLite(1.5), { instanceOf: RangeError });
});

test('randomBelow covers [0, max) evenly enough and never reaches max', (t) => {
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < 20000; i++) {
    const v = randomBelow(10);
    t.true(v >= 0 && v < 10);
    counts[v]!++;
  }
  // Each bucket expects 2000; 5 sigma is ~212.
  for (const c of counts) t.true(Math.abs(c - 2000) < 300, `bucket count ${c}`);
  t.is(randomBelow(1), 0);
  t.true(randomBelow(2 ** 32) < 2 ** 32);
  t.throws(() => randomBelow(0), { instanceOf: RangeError });
});
