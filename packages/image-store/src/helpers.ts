/**
 * Narrow helpers over the content interfaces (containerd core/content/helpers.go):
 * read a whole small blob, write a blob from bytes or a stream with resume,
 * and walk an image's graph.
 */
import { randomBytes } from 'node:crypto';
import { digestOf, isBerthError } from '@berth/oci-spec';
import type { CallOptions, Info, Ingester, Provider } from './content.js';
import { StoreSizeMismatchError } from './errors.js';
import { MaxManifestSize, children, hasChildren } from './internal/validate.js';
import type { Descriptor } from './internal/oci.js';

/** Options of {@link readBlob}. */
export interface ReadBlobOptions extends CallOptions {
  /** Refuse blobs larger than this (default 4 MiB, like containerd's manifest limit). */
  maxSize?: number;
}

/** Reads a whole blob into memory; for manifests and configs, never layers. */
export async function readBlob(provider: Provider, desc: Pick<Descriptor, 'digest'> & Partial<Descriptor>, options: ReadBlobOptions = {}): Promise<Buffer> {
  const max = options.maxSize ?? MaxManifestSize;
  if (provider.readSmall) {
    // One read instead of two stats and a stream (what a cold CLI process pays for each manifest and config).
    const bytes = await provider.readSmall(desc.digest, max, options);
    if (desc.size !== undefined && desc.size !== bytes.length) throw new StoreSizeMismatchError(desc.size, bytes.length, { details: { digest: desc.digest } });
    return bytes;
  }
  const info = await provider.info(desc.digest, options);
  if (info.size > max) throw new StoreSizeMismatchError(max, info.size, { details: { digest: desc.digest, reason: 'blob larger than maxSize' } });
  if (desc.size !== undefined && desc.size !== info.size) throw new StoreSizeMismatchError(desc.size, info.size, { details: { digest: desc.digest } });
  const parts: Buffer[] = [];
  for await (const c of await provider.open(desc.digest, options)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Options of {@link writeBlob}. */
export interface WriteBlobOptions extends CallOptions {
  /** Hold the blob in this lease. */
  lease?: string;
  /** Labels for the committed blob. */
  labels?: Record<string, string>;
}

async function* skipBytes(source: AsyncIterable<Uint8Array>, n: number): AsyncGenerator<Uint8Array> {
  let left = n;
  for await (const c of source) {
    if (left >= c.length) { left -= c.length; continue; }
    yield left > 0 ? c.subarray(left) : c;
    left = 0;
  }
}

/**
 * Writes `source` as the blob `desc` under ingest `ref`, resuming a partial
 * ingest (the first `writer.offset` bytes of `source` are skipped), and
 * treats "already exists" as success. Returns whether it wrote the blob.
 */
export async function writeBlob(
  ingester: Ingester & Provider, ref: string, source: Uint8Array | AsyncIterable<Uint8Array>,
  desc: Pick<Descriptor, 'digest' | 'size'>, options: WriteBlobOptions = {},
): Promise<{ written: boolean; info: Info }> {
  let w;
  try {
    w = await ingester.writer(ref, { expected: desc, ...(options.lease ? { lease: options.lease } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  } catch (e) {
    // The source is not needed: release it (a file stream holds an fd).
    (source as { destroy?: () => void }).destroy?.();
    if (isBerthError(e) && e.code === 'ERR_STORE_ALREADY_EXISTS') return { written: false, info: await ingester.info(desc.digest) };
    throw e;
  }
  try {
    if (source instanceof Uint8Array) {
      if (w.offset < source.length) await w.write(source.subarray(w.offset), options);
    } else {
      await w.copyFrom(w.offset > 0 ? skipBytes(source, w.offset) : source, options);
    }
    const info = await w.commit({ size: desc.size, digest: desc.digest, ...(options.labels ? { labels: options.labels } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    return { written: true, info };
  } catch (e) {
    if (isBerthError(e) && e.code === 'ERR_STORE_ALREADY_EXISTS') return { written: false, info: await ingester.info(desc.digest) };
    throw e;
  } finally {
    await w.close();
  }
}

/** Writes bytes whose digest is not known in advance; returns the committed info. */
export async function writeBytes(store: Ingester & Provider, bytes: Uint8Array, options: WriteBlobOptions = {}): Promise<Info> {
  return (await writeBlob(store, `bytes-${randomBytes(8).toString('hex')}`, bytes, { digest: digestOf(bytes), size: bytes.length }, options)).info;
}

/** Options of {@link walkImage}. */
export interface WalkImageOptions extends CallOptions {
  /** For an index child that is absent from the store: skip it (default) or throw. */
  missingPlatforms?: 'skip' | 'throw';
}

/**
 * Visits `desc` and everything below it (index → manifests → config and
 * layers) once each, parents before children. Absent index children are
 * skipped; absent manifest children throw ERR_STORE_NOT_FOUND.
 */
export async function* walkImage(provider: Provider, desc: Descriptor, options: WalkImageOptions = {}): AsyncGenerator<Descriptor> {
  const seen = new Set<string>();
  async function* visit(d: Descriptor, optional: boolean): AsyncGenerator<Descriptor> {
    if (seen.has(d.digest)) return;
    if (optional && options.missingPlatforms !== 'throw') {
      try { await provider.info(d.digest); } catch (e) { if (isBerthError(e) && e.kind === 'not-found') return; throw e; }
    }
    seen.add(d.digest);
    yield d;
    if (!hasChildren(d.mediaType)) return;
    const bytes = await readBlob(provider, d, options);
    const isIndex = !('config' in JSON.parse(bytes.toString('utf8')));
    for (const c of children(d, bytes)) yield* visit(c, isIndex);
  }
  yield* visit(desc, false);
}
