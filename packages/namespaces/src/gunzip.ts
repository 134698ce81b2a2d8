/**
 * Streaming decoders for layer unpacking: gzip on Intel ISA-L and zstd on
 * libzstd, both loaded at run time (dlopen). Each runs on the libuv pool
 * (one call at a time per stream, overlapping with what the caller does
 * with the previous output); ISA-L takes ~30 % less CPU than zlib on
 * compressible data here.
 * libisal.so.2 is loaded at run time: where it is missing,
 * {@link nativeGunzipUnavailableReason} says why and callers use zlib.
 *
 * Framing follows Node's `zlib.createGunzip()`: members in a row are
 * concatenated; zero bytes after a member end the stream (the rest is
 * ignored); anything else after a member must be another member. Each
 * member's CRC32 and ISIZE are checked.
 */
import { binding } from './native.js';
import { callNative, fromNative, GzipUnavailableError, ZstdUnavailableError } from './errors.js';

interface GunzipBinding {
  gunzipAvailable(): string | null;
  gunzipCreate(sha256: boolean): { handle: unknown; sha256: boolean };
  gunzipRun(handle: unknown, input: Buffer, inOffset: number, inLength: number, output: Buffer, outOffset: number, outLength: number): Promise<{ consumed: number; produced: number; atEnd: boolean }>;
  gunzipFinish(handle: unknown): string | null;
  zstdAvailable(): string | null;
  zstdCreate(sha256: boolean): { handle: unknown; sha256: boolean };
}

const native = (): GunzipBinding => binding<GunzipBinding>();

let unavailable: string | null | undefined;

/** Why the native gunzip cannot run here (libisal.so.2 missing or unusable), or undefined when it can. */
export function nativeGunzipUnavailableReason(): string | undefined {
  if (unavailable === undefined) unavailable = native().gunzipAvailable();
  return unavailable ?? undefined;
}

/** Whether {@link nativeGunzip} can run here. */
export function isNativeGunzipAvailable(): boolean {
  return nativeGunzipUnavailableReason() === undefined;
}

/** Options of {@link nativeGunzip}. */
export interface NativeGunzipOptions {
  /**
   * Also compute the sha256 of the output on the decoding thread (a layer's
   * diffId), with the OpenSSL Node exports; read it from
   * {@link NativeGunzip.sha256} once `chunks` has ended. Default false.
   */
  sha256?: boolean;
  /**
   * The most one native call decodes, in bytes (default 512 KiB). Outputs are
   * views into 1 MiB slabs (or one chunk, if larger): keeping a chunk keeps its slab.
   */
  chunkSize?: number;
}

/** A stream being decoded by {@link nativeGunzip} or {@link nativeZstdDecompress}. */
export interface NativeDecompression {
  /**
   * The decoded bytes, in order (single use). Fails with
   * {@link GzipCorruptError} (or {@link ZstdCorruptError}) on invalid or truncated input; returning early
   * stops decoding and closes the source.
   */
  chunks: AsyncIterable<Buffer>;
  /** Compressed bytes consumed so far (final once `chunks` has ended). */
  compressedSize(): number;
  /**
   * The sha256 (hex) of all decoded bytes, once `chunks` has ended; undefined
   * before, or when `sha256` was not asked for or this Node exports no
   * SHA256_* functions (then hash the chunks yourself).
   */
  sha256(): string | undefined;
  /** Whether the output is being hashed (`sha256` was asked for and this Node exports SHA256_*). */
  readonly hashing: boolean;
  /**
   * Native decoder calls made so far (each a trip to the thread pool). The
   * source's chunks that are ready at once are gathered, up to 1 MiB, for one
   * call, so a feed of 64 KiB socket chunks costs about one call per MiB in
   * or per output chunk out, not one per chunk.
   */
  nativeCalls(): number;
}

/** A gzip stream being decoded by {@link nativeGunzip}. */
export type NativeGunzip = NativeDecompression;

let zstdUnavailable: string | null | undefined;

/** Why the native zstd decoder cannot run here (libzstd.so.1 missing or unusable), or undefined when it can. */
export function nativeZstdUnavailableReason(): string | undefined {
  if (zstdUnavailable === undefined) zstdUnavailable = native().zstdAvailable();
  return zstdUnavailable ?? undefined;
}

/** Whether {@link nativeZstdDecompress} can run here. */
export function isNativeZstdAvailable(): boolean {
  return nativeZstdUnavailableReason() === undefined;
}

/**
 * Decodes the zstd stream `source` with libzstd (ZSTD_decompressStream), the
 * same way as {@link nativeGunzip}: on the libuv pool, one call in flight,
 * outputs of at most `chunkSize` bytes, optional sha256. Frames in a row are
 * concatenated (skippable frames skipped); checksums are checked; input that
 * ends inside a frame, or is empty, fails.
 *
 * @throws ZstdUnavailableError when libzstd.so.1 is not usable here; ZstdCorruptError from `chunks`.
 */
export function nativeZstdDecompress(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: NativeGunzipOptions = {}): NativeDecompression {
  const reason = nativeZstdUnavailableReason();
  if (reason !== undefined) throw new ZstdUnavailableError(`native zstd unavailable: ${reason}`);
  const b = native();
  return decodeWith(b, callNative(() => b.zstdCreate(opts.sha256 === true)), source, opts);
}

const EMPTY: Buffer = Buffer.alloc(0);
/** Input bytes gathered for one native decoder call (see decodeWith). */
const GATHER = 1 << 20;

function toBuffer(c: unknown): Buffer {
  if (Buffer.isBuffer(c)) return c;
  if (c instanceof Uint8Array) return Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  throw new TypeError('gzip source yielded a non-binary chunk');
}

/**
 * Decodes the gzip stream `source` (a Readable, any async iterable or an
 * array of Buffers) with ISA-L.
 *
 * @throws GzipUnavailableError when libisal.so.2 is not usable here (check
 *   {@link isNativeGunzipAvailable} first); GzipCorruptError from `chunks`.
 */
export function nativeGunzip(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: NativeGunzipOptions = {}): NativeGunzip {
  const reason = nativeGunzipUnavailableReason();
  if (reason !== undefined) throw new GzipUnavailableError(`native gunzip unavailable: ${reason}`);
  const b = native();
  return decodeWith(b, callNative(() => b.gunzipCreate(opts.sha256 === true)), source, opts);
}

/** Drives a native decoder handle over `source` (shared by gzip and zstd). */
function decodeWith(b: GunzipBinding, created: { handle: unknown; sha256: boolean }, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: NativeGunzipOptions): NativeDecompression {
  const { handle, sha256: hashing } = created;
  const chunkSize = opts.chunkSize ?? 512 * 1024;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new RangeError('chunkSize must be a positive integer');
  const slabSize = Math.max(chunkSize, 1 << 20);
  let consumed = 0;
  let calls = 0;
  let digest: string | undefined;

  async function* decode(): AsyncGenerator<Buffer> {
    const it: AsyncIterator<Uint8Array> | Iterator<Uint8Array> = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
    let input: Buffer = EMPTY;
    let off = 0;
    let inputDone = false;
    let slab: Buffer = EMPTY;
    let slabOff = 0;
    // Input is gathered: the chunks the source has ready now (a socket's are 64 KiB; a feed
    // buffers many while its consumer is busy), up to GATHER bytes, go to one native call.
    // One call per chunk made a 20 MiB layer ~700 thread-pool round trips (a decode, then the
    // writes of its output), each waiting for a turn of a busy main thread.
    let staging: Buffer | undefined;
    let reading: Promise<IteratorResult<Uint8Array>> | undefined;
    let carry: Buffer | undefined;
    let sourceDone = false;
    const read = (): Promise<IteratorResult<Uint8Array>> => {
      const p = reading ?? Promise.resolve(it.next());
      reading = undefined;
      return p;
    };
    /** The source's next chunk if it is ready before the event loop turns, else undefined (the read stays pending). */
    const readNow = async (): Promise<IteratorResult<Uint8Array> | undefined> => {
      reading ??= Promise.resolve(it.next());
      const r = await Promise.race([reading, new Promise<undefined>((resolve) => setImmediate(resolve, undefined))]);
      if (r !== undefined) reading = undefined;
      return r;
    };
    const gather = async (): Promise<void> => {
      off = 0;
      let first = carry;
      carry = undefined;
      if (first === undefined) {
        const r = sourceDone ? undefined : await read();
        if (r === undefined || r.done === true) {
          inputDone = true;
          input = EMPTY;
          return;
        }
        first = toBuffer(r.value);
      }
      input = first;
      if (first.length >= GATHER || sourceDone) return;
      const parts = [first];
      let total = first.length;
      while (total < GATHER) {
        const r = await readNow();
        if (r === undefined) break;
        if (r.done === true) { sourceDone = true; break; }
        const c = toBuffer(r.value);
        if (total + c.length > GATHER) { carry = c; break; }
        parts.push(c);
        total += c.length;
      }
      if (parts.length === 1) return;
      // The previous input is consumed and no native call is in flight: the staging buffer is free.
      staging ??= Buffer.allocUnsafeSlow(GATHER);
      let at = 0;
      for (const c of parts) at += c.copy(staging, at);
      input = staging.subarray(0, total);
    };
    // The next output, or null at the end of the input. The buffers stay referenced by this
    // frame (input, out) until the native call has settled.
    const step = async (): Promise<Buffer | null> => {
      for (;;) {
        if (off === input.length && !inputDone) {
          await gather();
          continue;
        }
        // At the end of the input, calls go on with no input while they produce (a decoder may
        // hold output back: zstd flushes it then).
        // Outputs are cut from 1 MiB slabs: two outputs per allocation. (4 MiB slabs cost the
        // pool ~40 ms more CPU per unpack of the multilayer fixture: malloc serves allocations
        // that large from fresh, page-faulting memory more often.)
        if (slab.length - slabOff < chunkSize) {
          slab = Buffer.allocUnsafeSlow(slabSize);
          slabOff = 0;
        }
        const out = slab;
        const at = slabOff;
        let r: { consumed: number; produced: number };
        try {
          calls++;
          r = await b.gunzipRun(handle, input, off, input.length - off, out, at, chunkSize);
        } catch (e) {
          throw fromNative(e);
        }
        off += r.consumed;
        consumed += r.consumed;
        slabOff = at + r.produced;
        if (r.produced > 0) return out.subarray(at, at + r.produced);
        if (inputDone) return null;
      }
    };
    let pending: Promise<Buffer | null> | undefined;
    try {
      pending = step();
      for (;;) {
        const out = await pending;
        pending = undefined;
        if (out === null) break;
        // Decode the next output while the caller handles this one.
        pending = step();
        pending.catch(() => undefined);
        yield out;
      }
      const hex = callNative(() => b.gunzipFinish(handle));
      if (hashing && hex !== null) digest = hex;
    } finally {
      // Returning early: no native call may still use the buffers' owner frame once we let go.
      if (pending !== undefined) await pending.catch(() => undefined);
      if (!inputDone) await it.return?.();
    }
  }

  return { chunks: decode(), compressedSize: () => consumed, sha256: () => digest, hashing, nativeCalls: () => calls };
}
