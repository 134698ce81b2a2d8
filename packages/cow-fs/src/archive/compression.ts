/**
 * Layer compression: detection by magic number, streaming decompression
 * (gzip: Intel ISA-L through @berth/namespaces' native gunzip when
 * libisal.so.2 is installed, which also hashes the output on its thread,
 * else zlib; zstd: libzstd.so.1 in-process through @berth/namespaces when
 * usable, likewise hashing on its thread, else the `zstd` CLI from Debian's
 * zstd package when present, else the pure-JS fzstd decoder), and
 * deterministic compression for diffs.
 *
 * Why the `zstd` CLI as the fallback: Node 20's zlib has no zstd, and on this machine fzstd
 * decodes ~60 MB/s against ~800 MB/s for `zstd -dc` in a child process (which
 * also runs on the other core). Encoding has no pure-JS option of that
 * quality, so diffs compress with `zstd -3 -T1` (deterministic: one thread,
 * fixed level, no checksum dependence on timing).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { Readable, pipeline, type Duplex } from 'node:stream';
import { pipeline as pipelinePromise } from 'node:stream/promises';
import zlib from 'node:zlib';
import { Decompress as FzstdDecompress } from 'fzstd';
import { isNativeGunzipAvailable, isNativeZstdAvailable, nativeGunzip, nativeZstdDecompress, type NativeDecompression } from '@berth/namespaces';
import { LayerCorruptError, LayerUnsupportedCompressionError } from '../errors.js';

/** The compressions a layer may have. */
export const Compression = { None: 'none', Gzip: 'gzip', Zstd: 'zstd' } as const;
/** One of the values of {@link Compression}. */
export type Compression = (typeof Compression)[keyof typeof Compression];

/** Detects the compression of a layer from its first bytes; throws for bzip2/xz/lz4. */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return Compression.Gzip;
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return Compression.Zstd;
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) throw new LayerUnsupportedCompressionError('bzip2');
  if (head.length >= 6 && head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00) throw new LayerUnsupportedCompressionError('xz');
  if (head.length >= 4 && head[0] === 0x04 && head[1] === 0x22 && head[2] === 0x4d && head[3] === 0x18) throw new LayerUnsupportedCompressionError('lz4');
  return Compression.None;
}

let zstdCli: string | null | undefined;
/** The path of the `zstd` CLI, or null when it is not installed. */
export function zstdCliPath(): string | null {
  if (zstdCli !== undefined) return zstdCli;
  zstdCli = null;
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = `${dir}/zstd`;
    try {
      fs.accessSync(p, fs.constants.X_OK);
      zstdCli = p;
      break;
    } catch { /* next */ }
  }
  return zstdCli;
}

const SMALL_ZSTD = 2 << 20;

/**
 * Which zstd decoder to use: 'auto' (libzstd in-process when libzstd.so.1 is usable, else the
 * CLI when installed, else fzstd), or always one of them ('native' fails with
 * LayerUnsupportedCompressionError where libzstd is not usable).
 */
export type ZstdDecoder = 'auto' | 'native' | 'cli' | 'fzstd';

/** Whether zstd goes through the in-process libzstd decoder for this choice. */
function useNativeZstd(choice: ZstdDecoder = 'auto'): boolean {
  if (choice === 'native') {
    if (!isNativeZstdAvailable()) throw new LayerUnsupportedCompressionError('zstd with the native decoder (libzstd.so.1 is not usable here)');
    return true;
  }
  return choice === 'auto' && isNativeZstdAvailable();
}

function toBuffer(c: unknown): Buffer {
  if (Buffer.isBuffer(c)) return c;
  if (c instanceof Uint8Array) return Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  if (typeof c === 'string') return Buffer.from(c);
  throw new TypeError('layer stream yielded a non-binary chunk');
}

/**
 * Which gzip decoder to use: 'auto' (ISA-L when libisal.so.2 is usable, unless the environment
 * variable BERTH_GZIP_DECODER=zlib says otherwise), or always one of them ('isal' fails with
 * LayerUnsupportedCompressionError where ISA-L is not usable).
 */
export type GzipDecoder = 'auto' | 'isal' | 'zlib';

/** Whether gzip goes through ISA-L for this choice (see {@link GzipDecoder}). */
export function useIsal(choice: GzipDecoder = 'auto'): boolean {
  if (choice === 'zlib') return false;
  if (choice === 'isal') {
    if (!isNativeGunzipAvailable()) throw new LayerUnsupportedCompressionError('gzip with the isal decoder (libisal.so.2 is not usable here)');
    return true;
  }
  return process.env.BERTH_GZIP_DECODER !== 'zlib' && isNativeGunzipAvailable();
}

/** The decoder that ran: none (plain tar), zlib or ISA-L (gzip), the zstd CLI or fzstd (zstd). */
export type LayerDecoder = 'none' | 'zlib' | 'isal' | 'libzstd' | 'zstd-cli' | 'fzstd';

/** A decompressed layer: the detected compression, and the uncompressed chunks. */
export interface DecompressedLayer {
  compression: Compression;
  decoder: LayerDecoder;
  /** Compressed bytes read so far (final once `chunks` ends). */
  compressedSize(): number;
  chunks: AsyncIterable<Buffer>;
  /**
   * The sha256 (hex) of the uncompressed stream when the decoder computed it
   * (ISA-L path), available once `chunks` has ended; undefined otherwise
   * (the caller hashes the chunks).
   */
  sha256?: () => string | undefined;
}

/** The ISA-L path: decodes (and hashes) on the libuv pool; its errors arrive as LayerCorruptError. */
function isalLayer(input: AsyncIterable<unknown>): DecompressedLayer {
  return nativeLayer(nativeGunzip(input as AsyncIterable<Uint8Array>, { sha256: true }), Compression.Gzip, 'isal');
}

/** A native decoder's stream as a layer; its corrupt-stream errors become LayerCorruptError. */
function nativeLayer(g: NativeDecompression, compression: Compression, decoder: LayerDecoder): DecompressedLayer {
  const chunks = (async function* (): AsyncGenerator<Buffer> {
    try {
      yield* g.chunks;
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'ERR_NS_GZIP_CORRUPT' || code === 'ERR_NS_ZSTD_CORRUPT') throw new LayerCorruptError(`${compression} stream: ${(e as Error).message}`, { cause: e });
      throw e;
    }
  })();
  return { compression, decoder, compressedSize: () => g.compressedSize(), chunks, ...(g.hashing ? { sha256: () => g.sha256() } : {}) };
}

/**
 * Detects the compression of `input` by magic and returns its uncompressed
 * chunks as they stream. Errors from the decoder arrive as
 * {@link LayerCorruptError}.
 */
export async function decompress(input: Readable | AsyncIterable<Uint8Array>, opts: { zstdDecoder?: ZstdDecoder; gzipDecoder?: GzipDecoder; signal?: AbortSignal } = {}): Promise<DecompressedLayer> {
  if (input instanceof Readable && !input.readableObjectMode) {
    // Fast path for Node streams: peek the magic, put it back, and pipe the stream straight into
    // zlib (no async-iterator hop per input chunk). zstd takes the generic path below.
    const head = await peek(input, 6);
    const compression = detectCompression(head);
    if (head.length > 0) input.unshift(head);
    if (compression === Compression.Gzip) {
      if (useIsal(opts.gzipDecoder)) return isalLayer(input);
      const gz = zlib.createGunzip({ chunkSize: 256 * 1024, readableHighWaterMark: 8 * 1024 * 1024 } as zlib.ZlibOptions);
      return { compression, decoder: 'zlib', compressedSize: () => gz.bytesWritten, chunks: gunzipStream(input, gz) };
    }
    if (compression === Compression.None) {
      let read = 0;
      const chunks = (async function* (): AsyncGenerator<Buffer> {
        for await (const c of input) { read += (c as Buffer).length; yield toBuffer(c); }
      })();
      return { compression, decoder: 'none', compressedSize: () => read, chunks };
    }
  }
  const it = (input as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLen = 0;
  let read = 0;
  let ended = false;
  let compression: Compression;
  try {
    while (headLen < 6) {
      const r = await it.next();
      if (r.done === true) break;
      const b = toBuffer(r.value);
      head.push(b);
      headLen += b.length;
    }
    compression = detectCompression(Buffer.concat(head));
    if (compression === Compression.Zstd && (opts.zstdDecoder ?? 'auto') === 'auto' && !useNativeZstd()) {
      // Spawning the zstd CLI costs more than decoding a small layer in JS: look ahead up to
      // SMALL_ZSTD bytes, and if the layer ends within them, decode it with fzstd.
      while (headLen < SMALL_ZSTD) {
        const r = await it.next();
        if (r.done === true) { ended = true; break; }
        const b = toBuffer(r.value);
        head.push(b);
        headLen += b.length;
      }
    }
  } catch (e) {
    await it.return?.();
    throw e;
  }
  // Yields the head, then the rest; returning early (an apply error) closes the input.
  const counted = (async function* (): AsyncGenerator<Buffer> {
    try {
      for (const h of head) { read += h.length; yield h; }
      while (!ended) {
        const r = await it.next();
        if (r.done === true) return;
        const b = toBuffer(r.value);
        read += b.length;
        yield b;
      }
    } finally {
      await it.return?.();
    }
  })();
  const size = () => read;
  if (compression === Compression.None) return { compression, decoder: 'none', compressedSize: size, chunks: counted };
  if (compression === Compression.Gzip) {
    if (useIsal(opts.gzipDecoder)) {
      // nativeGunzip counts what it consumed: the head and the rest, as `counted` yields them.
      return isalLayer(counted);
    }
    return { compression, decoder: 'zlib', compressedSize: size, chunks: throughDuplex(counted, zlib.createGunzip({ chunkSize: 256 * 1024, readableHighWaterMark: 8 * 1024 * 1024 } as zlib.ZlibOptions), 'gzip') };
  }
  const which = opts.zstdDecoder ?? 'auto';
  if (useNativeZstd(which)) return nativeLayer(nativeZstdDecompress(counted, { sha256: true }), Compression.Zstd, 'libzstd');
  const cli = which === 'fzstd' || (which === 'auto' && ended) ? null : zstdCliPath();
  if (cli !== null) {
    const child = spawn(cli, ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
    return { compression, decoder: 'zstd-cli', compressedSize: size, chunks: throughChild(counted, child) };
  }
  return { compression, decoder: 'fzstd', compressedSize: size, chunks: throughFzstd(counted) };
}

/** Reads at least `n` bytes (or all there is) from `r` without losing them for a later unshift. */
async function peek(r: Readable, n: number): Promise<Buffer> {
  for (;;) {
    // read(n) returns null until n bytes are buffered, or everything left once the stream ended.
    const b = r.read(n) as Buffer | null;
    if (b !== null) return toBuffer(b);
    if (r.readableEnded || r.destroyed) {
      const rest = r.read() as Buffer | null;
      return rest === null ? Buffer.alloc(0) : toBuffer(rest);
    }
    await new Promise<void>((resolve, reject) => {
      const done = () => { r.off('readable', done); r.off('end', done); r.off('error', fail); resolve(); };
      const fail = (e: Error) => { r.off('readable', done); r.off('end', done); r.off('error', fail); reject(e); };
      r.once('readable', done);
      r.once('end', done);
      r.once('error', fail);
    });
  }
}

async function* gunzipStream(input: Readable, gz: zlib.Gunzip): AsyncGenerator<Buffer> {
  const done = pipelinePromise(input, gz).then(() => undefined, (e: unknown) => e);
  try {
    for await (const c of gz) yield c as Buffer;
    const e = await done;
    if (e !== undefined) throw e;
  } catch (e) {
    if (typeof (e as { code?: unknown }).code === 'string' && (e as { code: string }).code.startsWith('Z_')) {
      throw new LayerCorruptError(`gzip stream: ${(e as Error).message}`, { cause: e });
    }
    throw e;
  } finally {
    gz.destroy();
    input.destroy();
    await done;
  }
}

async function* throughDuplex(src: AsyncIterable<Buffer>, d: Duplex, what: string): AsyncGenerator<Buffer> {
  const source = Readable.from(src, { objectMode: false, highWaterMark: 4 * 1024 * 1024 });
  const done = pipelinePromise(source, d).then(() => undefined, (e: unknown) => e);
  try {
    for await (const c of d) yield c as Buffer;
    const e = await done;
    if (e !== undefined) throw e;
  } catch (e) {
    // zlib's own failures (Z_DATA_ERROR, Z_BUF_ERROR: truncated) mean a corrupt layer; others pass through.
    if (typeof (e as { code?: unknown }).code === 'string' && (e as { code: string }).code.startsWith('Z_')) {
      throw new LayerCorruptError(`${what} stream: ${(e as Error).message}`, { cause: e });
    }
    throw e;
  } finally {
    d.destroy();
    source.destroy();
    await done;
  }
}

async function* throughChild(src: AsyncIterable<Buffer>, child: import('node:child_process').ChildProcessWithoutNullStreams): AsyncGenerator<Buffer> {
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  child.stdin.on('error', () => { /* reported through the exit status */ });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const feeding = (async () => {
    try {
      for await (const c of src) {
        if (!child.stdin.write(c)) {
          // Wait for room in the pipe, or for the child to be gone; drop the drain listener either way.
          let onDrain!: () => void;
          await Promise.race([new Promise<void>((resolve) => { onDrain = resolve; child.stdin.once('drain', onDrain); }), exited]);
          child.stdin.off('drain', onDrain);
        }
        if (child.exitCode !== null) break;
      }
    } finally {
      child.stdin.end();
    }
  })();
  let ok = false;
  try {
    for await (const c of child.stdout) yield c as Buffer;
    await feeding;
    const code = await exited;
    if (code !== 0) throw new LayerCorruptError(`zstd stream: ${stderr.trim() || `zstd exited ${code}`}`);
    ok = true;
  } finally {
    if (!ok) {
      child.kill('SIGKILL');
      await feeding.catch(() => undefined);
    }
  }
}

async function* throughFzstd(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let out: Buffer[] = [];
  const d = new FzstdDecompress((chunk: Uint8Array) => { out.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)); });
  try {
    for await (const c of src) {
      d.push(c);
      if (out.length > 0) { const o = out; out = []; yield* o; }
    }
    d.push(new Uint8Array(0), true);
  } catch (e) {
    throw new LayerCorruptError(`zstd stream: ${(e as Error).message}`, { cause: e });
  }
  yield* out;
}

/**
 * Compresses a tar stream for a diff. gzip has no name and mtime 0 in its
 * header (Node's zlib writes neither), so the same input gives the same bytes.
 */
export function compressStream(src: Readable, compression: Compression): Readable {
  if (compression === Compression.None) return src;
  if (compression === Compression.Gzip) {
    return pipeline(src, zlib.createGzip({ level: 6 }), () => { /* errors surface on the returned stream */ });
  }
  const cli = zstdCliPath();
  if (cli === null) throw new LayerUnsupportedCompressionError('zstd (encoder: install the zstd package)');
  const child = spawn(cli, ['-3', '-T1', '-q', '-c', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new Readable({ read() { child.stdout.resume(); } });
  child.stdout.on('data', (c: Buffer) => { if (!out.push(c)) child.stdout.pause(); });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  child.on('close', (code) => {
    if (code === 0) out.push(null);
    else out.destroy(new LayerCorruptError(`zstd encoder: ${stderr.trim() || `exit ${code}`}`));
  });
  child.stdin.on('error', (e) => out.destroy(e));
  out.on('close', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  pipeline(src, child.stdin, (e) => { if (e) { child.kill('SIGKILL'); out.destroy(e); } });
  return out;
}
