/**
 * A test tar writer: builds archives from a declarative entry list with the
 * package's own header encoder, plus raw blocks for crafting hostile or
 * unusual archives (old GNU sparse, bad checksums).
 */
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { encodeTarHeader, tarPadding, TAR_END, type TarWriteHeader, type TarWriteOptions } from '@berth/cow-fs';

/** One entry to write; `data` is the file content. */
export type TarSpec = Omit<TarWriteHeader, 'type' | 'mode'> & {
  type?: TarWriteHeader['type'];
  mode?: number;
  data?: string | Buffer;
  /** Per-entry writer options (long-name form, extra PAX records). */
  options?: TarWriteOptions;
};

/** Builds a tar archive (with the end marker unless `end: false`). */
export function makeTar(entries: TarSpec[], opts: TarWriteOptions & { end?: boolean } = {}): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const type = e.type ?? 'file';
    out.push(encodeTarHeader({
      mode: type === 'directory' ? 0o755 : 0o644, mtime: 1_700_000_000, ...e, type, size: type === 'file' ? data.length : 0,
    }, { ...opts, ...e.options }));
    if (type === 'file') out.push(data, tarPadding(data.length));
  }
  if (opts.end !== false) out.push(TAR_END);
  return Buffer.concat(out);
}

/** gzip of `buf`. */
export function gzip(buf: Buffer): Buffer {
  return zlib.gzipSync(buf);
}

/** zstd of `buf`, through the zstd CLI. */
export function zstd(buf: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c'], { input: buf, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
  return r.stdout;
}

/** A one-chunk async iterable of `buf`, as a layer stream. */
export async function* streamOf(...bufs: Buffer[]): AsyncGenerator<Buffer> {
  for (const b of bufs) yield b;
}
