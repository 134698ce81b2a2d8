import test from 'ava';
import type { ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { fixture, fixtureBlobPath, readFixtureManifest } from '@berth/testkit';
import { spawnSync } from 'node:child_process';
import {
  GzipCorruptError, GzipUnavailableError, isNativeGunzipAvailable, isNativeZstdAvailable, nativeGunzip, nativeGunzipUnavailableReason,
  nativeZstdDecompress, nativeZstdUnavailableReason, ZstdCorruptError, ZstdUnavailableError,
} from '@berth/namespaces';

/** ISA-L (libisal2) is optional; where it is missing these tests check the reported reason instead. */
const isal = isNativeGunzipAvailable();
const t0 = isal ? test : test.skip;

/** Decodes `chunks` with the native gunzip; returns the output and what it reported. */
async function native(chunks: Buffer[], opts: { sha256?: boolean; chunkSize?: number } = {}): Promise<{ out: Buffer; sha256: string | undefined; consumed: number; outputs: number }> {
  const g = nativeGunzip(chunks, opts);
  const parts: Buffer[] = [];
  for await (const c of g.chunks) parts.push(c);
  return { out: Buffer.concat(parts), sha256: g.sha256(), consumed: g.compressedSize(), outputs: parts.length };
}

/** Node's streaming zlib gunzip, the reference: its output, or the error it throws. */
async function viaZlib(chunks: Buffer[]): Promise<Buffer> {
  const gz = zlib.createGunzip();
  const parts: Buffer[] = [];
  gz.on('data', (c: Buffer) => parts.push(c));
  const done = new Promise<void>((resolve, reject) => { gz.once('end', resolve); gz.once('error', reject); });
  for (const c of chunks) gz.write(c);
  gz.end();
  await done;
  return Buffer.concat(parts);
}

/** Splits `b` into pieces of `n` bytes. */
function pieces(b: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return out;
}

async function sameAsZlib(t: ExecutionContext, chunks: Buffer[], opts: { chunkSize?: number } = {}): Promise<void> {
  const want = await viaZlib(chunks);
  const got = await native(chunks, { ...opts, sha256: true });
  t.true(got.out.equals(want), `output differs: ${got.out.length} vs ${want.length} bytes`);
  t.is(got.sha256, createHash('sha256').update(want).digest('hex'));
}

async function corrupt(t: ExecutionContext, chunks: Buffer[]): Promise<void> {
  await t.throwsAsync(viaZlib(chunks));
  const e = await t.throwsAsync(native(chunks));
  t.true(e instanceof GzipCorruptError, String(e));
  t.is((e as GzipCorruptError).code, 'ERR_NS_GZIP_CORRUPT');
}

const text = Buffer.from('berth gunzip test line\n'.repeat(5000));
const member = zlib.gzipSync(text);

test('gunzip: availability is reported either way (libisal2 is optional)', (t) => {
  if (isal) t.is(nativeGunzipUnavailableReason(), undefined);
  else {
    t.is(typeof nativeGunzipUnavailableReason(), 'string');
    const e = t.throws(() => nativeGunzip([member]));
    t.true(e instanceof GzipUnavailableError);
    t.is((e as GzipUnavailableError).code, 'ERR_NS_GZIP_UNAVAILABLE');
  }
});

t0('gunzip: the fixture image layers decode byte for byte as zlib does, with the same sha256 (diffId)', async (t) => {
  const image = fixture('multilayer', 'oci-gzip');
  const m = JSON.parse(readFixtureManifest(image).bytes.toString()) as { layers: Array<{ digest: string; size: number }> };
  for (const l of m.layers) {
    const blob = fs.readFileSync(fixtureBlobPath(image, l.digest));
    const want = zlib.gunzipSync(blob);
    const got = await native(pieces(blob, 1 << 20), { sha256: true });
    t.true(got.out.equals(want), l.digest);
    t.is(got.sha256, createHash('sha256').update(want).digest('hex'));
    t.is(got.consumed, l.size);
  }
});

t0('gunzip: from a file stream, with small output chunks (many calls, bounded outputs)', async (t) => {
  const image = fixture('multilayer', 'oci-gzip');
  const m = JSON.parse(readFixtureManifest(image).bytes.toString()) as { layers: Array<{ digest: string; size: number }> };
  const path = fixtureBlobPath(image, m.layers.reduce((a, b) => (a.size > b.size ? a : b)).digest);
  const g = nativeGunzip(fs.createReadStream(path, { highWaterMark: 64 * 1024 }), { chunkSize: 100_003 });
  const hash = createHash('sha256');
  let outputs = 0;
  let largest = 0;
  for await (const c of g.chunks) { hash.update(c); outputs++; largest = Math.max(largest, c.length); }
  t.is(hash.digest('hex'), createHash('sha256').update(zlib.gunzipSync(fs.readFileSync(path))).digest('hex'));
  t.true(largest <= 100_003);
  t.true(outputs > 100);
  t.is(g.sha256(), undefined);
});

t0('gunzip: one-byte input chunks and one-byte outputs (headers and trailers split anywhere)', async (t) => {
  const small = zlib.gzipSync(Buffer.from('hello, split world'));
  await sameAsZlib(t, pieces(small, 1), { chunkSize: 1 });
  await sameAsZlib(t, pieces(member, 7), { chunkSize: 13 });
});

t0('gunzip: multi-member streams concatenate, also across chunk boundaries', async (t) => {
  const second = zlib.gzipSync(randomBytes(200_000));
  const third = zlib.gzipSync(Buffer.alloc(0));
  const all = Buffer.concat([member, second, third, member]);
  await sameAsZlib(t, [all]);
  await sameAsZlib(t, pieces(all, 4096));
  await sameAsZlib(t, [member, second, third]);
});

t0('gunzip: an empty member, and random (stored-block) data', async (t) => {
  await sameAsZlib(t, [zlib.gzipSync(Buffer.alloc(0))]);
  await sameAsZlib(t, [zlib.gzipSync(randomBytes(3 << 20), { level: 1 })]);
});

t0('gunzip: zero padding after a member is ignored, as zlib does', async (t) => {
  await sameAsZlib(t, [member, Buffer.alloc(1024)]);
  await sameAsZlib(t, [member, Buffer.alloc(3), zlib.gzipSync(Buffer.from('ignored'))]);
});

t0('gunzip: empty input → ERR_NS_GZIP_CORRUPT', async (t) => {
  await corrupt(t, []);
  await corrupt(t, [Buffer.alloc(0)]);
});

t0('gunzip: truncated input (in the data, in the trailer, in the header) → ERR_NS_GZIP_CORRUPT', async (t) => {
  await corrupt(t, [member.subarray(0, member.length >> 1)]);
  await corrupt(t, [member.subarray(0, member.length - 3)]);
  await corrupt(t, [member.subarray(0, 5)]);
  await corrupt(t, [member, member.subarray(0, 20)]);
});

t0('gunzip: a wrong CRC32 or ISIZE in the trailer → ERR_NS_GZIP_CORRUPT', async (t) => {
  const badCrc = Buffer.from(member);
  badCrc[badCrc.length - 6]! ^= 1;
  await corrupt(t, [badCrc]);
  const badSize = Buffer.from(member);
  badSize[badSize.length - 2]! ^= 1;
  await corrupt(t, [badSize]);
});

t0('gunzip: garbage after a member, a bad method, bad deflate data → ERR_NS_GZIP_CORRUPT', async (t) => {
  await corrupt(t, [member, Buffer.from('trailing garbage')]);
  await corrupt(t, [member, Buffer.from([0x1f, 0x8b, 1, 2])]);
  const badMethod = Buffer.from(member);
  badMethod[2] = 7;
  await corrupt(t, [badMethod]);
  const badData = Buffer.from(member);
  badData.fill(0xff, 12, 40);
  await corrupt(t, [badData]);
});

t0('gunzip: stopping early closes the source and leaves no call running', async (t) => {
  let closed = false;
  const big = zlib.gzipSync(randomBytes(4 << 20), { level: 1 });
  async function* source(): AsyncGenerator<Buffer> {
    try {
      for (const p of pieces(big, 65536)) yield p;
    } finally {
      closed = true;
    }
  }
  const g = nativeGunzip(source(), { chunkSize: 65536 });
  let n = 0;
  for await (const c of g.chunks) {
    t.true(c.length > 0);
    if (++n === 3) break;
  }
  t.true(closed);
});

// zstd on libzstd.so.1: compared with the zstd CLI (Debian zstd) as the reference.
const zstdOk = isNativeZstdAvailable();
const hasZstdCli = spawnSync('zstd', ['--version']).status === 0;
const z0 = zstdOk && hasZstdCli ? test : test.skip;

function zstdCli(args: string[], input: Buffer): { status: number | null; out: Buffer } {
  const r = spawnSync('zstd', [...args, '-q', '-c'], { input, maxBuffer: 1 << 30 });
  return { status: r.status, out: r.stdout };
}

async function zstdNative(chunks: Buffer[], opts: { sha256?: boolean; chunkSize?: number } = {}): Promise<{ out: Buffer; sha256: string | undefined; consumed: number }> {
  const g = nativeZstdDecompress(chunks, opts);
  const parts: Buffer[] = [];
  for await (const c of g.chunks) parts.push(c);
  return { out: Buffer.concat(parts), sha256: g.sha256(), consumed: g.compressedSize() };
}

async function zstdCorrupt(t: ExecutionContext, input: Buffer): Promise<void> {
  t.not(zstdCli(['-d'], input).status, 0);
  const e = await t.throwsAsync(zstdNative(pieces(input, 1000)));
  t.true(e instanceof ZstdCorruptError, String(e));
  t.is((e as ZstdCorruptError).code, 'ERR_NS_ZSTD_CORRUPT');
}

test('zstd: availability is reported either way', (t) => {
  if (zstdOk) t.is(nativeZstdUnavailableReason(), undefined);
  else {
    const e = t.throws(() => nativeZstdDecompress([Buffer.alloc(4)]));
    t.true(e instanceof ZstdUnavailableError);
  }
});

z0('zstd: the fixture image layers (oci-zstd) decode as the zstd CLI does, with the same sha256', async (t) => {
  const image = fixture('multilayer', 'oci-zstd');
  const m = JSON.parse(readFixtureManifest(image).bytes.toString()) as { layers: Array<{ digest: string; size: number }> };
  for (const l of m.layers) {
    const blob = fs.readFileSync(fixtureBlobPath(image, l.digest));
    const want = zstdCli(['-d'], blob).out;
    const got = await zstdNative(pieces(blob, 1 << 20), { sha256: true });
    t.true(got.out.equals(want), l.digest);
    t.is(got.sha256, createHash('sha256').update(want).digest('hex'));
    t.is(got.consumed, l.size);
  }
});

z0('zstd: several frames (with checksums, a skippable frame), small and 1-byte input chunks and outputs', async (t) => {
  const a = zstdCli(['-3', '--check'], text).out;
  const b = zstdCli(['-19', '--no-check'], randomBytes(100_000)).out;
  const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0]), Buffer.from('skip')]);
  const all = Buffer.concat([a, skippable, b]);
  const want = zstdCli(['-d'], all).out;
  t.true((await zstdNative([all], { chunkSize: 4096 })).out.equals(want));
  t.true((await zstdNative(pieces(all, 97), { chunkSize: 1000 })).out.equals(want));
  const small = Buffer.concat([zstdCli(['--check'], Buffer.from('tiny ')).out, skippable, zstdCli([], Buffer.from('frames')).out]);
  t.is((await zstdNative(pieces(small, 1), { chunkSize: 1 })).out.toString(), 'tiny frames');
});

z0('zstd: empty, truncated, a bad checksum, garbage after a frame → ERR_NS_ZSTD_CORRUPT', async (t) => {
  const e = await t.throwsAsync(zstdNative([]));
  t.is((e as ZstdCorruptError).code, 'ERR_NS_ZSTD_CORRUPT');
  const frame = zstdCli(['--check'], text).out;
  await zstdCorrupt(t, frame.subarray(0, frame.length >> 1));
  await zstdCorrupt(t, frame.subarray(0, frame.length - 1));
  const badSum = Buffer.from(frame);
  badSum[badSum.length - 1] = badSum[badSum.length - 1]! ^ 0xff;
  await zstdCorrupt(t, badSum);
  await zstdCorrupt(t, Buffer.concat([frame, Buffer.from('garbage after the frame')]));
});

/** Yields `chunks`; those at the indexes in `late` only after a timer (not ready when the decoder looks). */
async function* arriving(chunks: Buffer[], late: Set<number>): AsyncGenerator<Buffer> {
  for (const [i, c] of chunks.entries()) {
    if (late.has(i)) await new Promise((resolve) => setTimeout(resolve, 2));
    yield c;
  }
}

t0('gunzip: chunks ready at once are gathered (up to 1 MiB) into one native call; late ones, a chunk past the 1 MiB, and one larger than 1 MiB give the same bytes as zlib', async (t) => {
  // Incompressible data: the output is as long as the input, as with a layer of random bytes.
  const raw = randomBytes(6 << 20);
  const gz = zlib.gzipSync(raw, { level: 1 });
  const want = createHash('sha256').update(raw).digest('hex');
  // 64 KiB chunks, all ready: about one call per MiB (each output chunk is at most 512 KiB, so two per MiB).
  const ready = nativeGunzip(pieces(gz, 64 * 1024), { sha256: true });
  let n = 0;
  for await (const c of ready.chunks) n += c.length;
  t.is(n, raw.length);
  t.is(ready.sha256(), want);
  const perMiB = ready.nativeCalls() / (gz.length / (1 << 20));
  t.true(perMiB <= 3, `${ready.nativeCalls()} calls for ${gz.length} bytes`);
  // The same, one chunk at a time (the old way: a call per 64 KiB chunk) would be > 16 per MiB.
  // Mixed: odd sizes (some straddle the 1 MiB mark and are carried over), one chunk of 1.5 MiB, late chunks.
  const mixed: Buffer[] = [];
  const sizes = [100, 70_000, 900_000, 300_000, 1_572_864, 5, 65_536, 1_000_000];
  for (let at = 0, k = 0; at < gz.length; k++) {
    const size = sizes[k % sizes.length]!;
    mixed.push(gz.subarray(at, at + size));
    at += size;
  }
  const late = new Set(mixed.map((_, i) => i).filter((i) => i % 3 === 1));
  const g = nativeGunzip(arriving(mixed, late), { sha256: true });
  const parts: Buffer[] = [];
  for await (const c of g.chunks) parts.push(c);
  t.true(Buffer.concat(parts).equals(raw));
  t.is(g.sha256(), want);
  t.is(g.compressedSize(), gz.length);
  t.true(g.nativeCalls() < mixed.length * 2 + 16);
});
