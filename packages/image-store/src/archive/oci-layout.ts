/**
 * OCI image layout import and export, as a directory or a tar stream
 * (image-spec image-layout.md). Imports hold every blob in a temporary lease
 * until the names are tagged, so a concurrent GC does not take them.
 */
import fs from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { AnnotationKey, OciMediaType, isBerthError, isIndexMediaType, randomHex, throwIfAborted } from '@berth/oci-spec';
import type { ArchiveStore, ExportOptions, ImportOptions } from '../archive.js';
import type { Image } from '../images.js';
import { StoreInvalidArchiveError } from '../errors.js';
import { parseDigest, splitDigest, type Descriptor, type ImageIndex } from '../internal/oci.js';
import { children, hasChildren, parseIndex } from '../internal/validate.js';
import { readTar, writeTar, type TarSource } from '../internal/tar.js';
import { readBlob, walkImage, writeBlob } from '../helpers.js';

const importId = `${process.pid}-${randomHex(4)}`;

/** @internal Runs `fn` with a lease that is deleted afterwards. */
export async function withTempLease<T>(store: ArchiveStore, fn: (lease: string) => Promise<T>): Promise<T> {
  const lease = await store.leases.create({ expiresInMs: 24 * 3600 * 1000, labels: { 'berth.io/purpose': 'import' } });
  try {
    return await fn(lease.id);
  } finally {
    await store.leases.delete(lease.id).catch(() => {});
  }
}

/** @internal The name an index.json entry is imported under, or undefined. */
export function importName(m: Descriptor, baseName?: string): string | undefined {
  const full = m.annotations?.[AnnotationKey.ContainerdImageName];
  if (full) return full;
  const ref = m.annotations?.[AnnotationKey.RefName];
  if (!ref) return undefined;
  if (baseName && /^[\w][\w.-]{0,127}$/.test(ref)) return `${baseName}:${ref}`;
  return ref;
}

async function tagAll(store: ArchiveStore, index: ImageIndex, options: ImportOptions): Promise<Image[]> {
  const out: Image[] = [];
  for (const m of index.manifests) {
    const name = importName(m, options.baseName);
    if (!name) continue;
    const { annotations, ...rest } = m;
    const keep = Object.fromEntries(Object.entries(annotations ?? {}).filter(([k]) => k !== AnnotationKey.RefName && k !== AnnotationKey.ContainerdImageName));
    out.push(await store.images.tag(name, { ...rest, ...(Object.keys(keep).length ? { annotations: keep } : {}) }, options));
  }
  return out;
}

/** Imports every image of the OCI layout directory `dir`; returns the tagged images. */
export async function importOciLayoutDir(store: ArchiveStore, dir: string, options: ImportOptions = {}): Promise<Image[]> {
  const layout = await fs.readFile(path.join(dir, 'oci-layout'), 'utf8').catch(() => undefined);
  if (!layout || JSON.parse(layout).imageLayoutVersion !== '1.0.0') throw new StoreInvalidArchiveError('oci-layout', 'missing or unsupported oci-layout file');
  const indexFile = path.join(dir, 'index.json');
  const index = parseIndex(await fs.readFile(indexFile).catch(() => { throw new StoreInvalidArchiveError('oci-layout', 'missing index.json'); }), indexFile);
  return withTempLease(store, async (lease) => {
    const seen = new Set<string>();
    const copy = async (d: Descriptor, optional: boolean): Promise<void> => {
      if (seen.has(d.digest)) return;
      seen.add(d.digest);
      throwIfAborted(options.signal, 'import');
      const { algorithm, hex } = splitDigest(parseDigest(d.digest));
      const file = path.join(dir, 'blobs', algorithm, hex);
      if (!(await fs.stat(file).catch(() => undefined))) {
        if (optional) return;
        throw new StoreInvalidArchiveError('oci-layout', `blob ${d.digest} is missing`);
      }
      await writeBlob(store, `import-${importId}-${d.digest}`, createReadStream(file, { highWaterMark: 1 << 20 }), d, { lease, ...(options.signal ? { signal: options.signal } : {}) });
      if (hasChildren(d.mediaType)) {
        const isIndex = isIndexMediaType(d.mediaType);
        for (const c of children(d, await readBlob(store, d))) await copy(c, isIndex);
      }
    };
    for (const m of index.manifests) await copy(m, false);
    return tagAll(store, index, options);
  });
}

/** Imports every image of an OCI layout tar stream; returns the tagged images. */
export async function importOciLayoutTar(store: ArchiveStore, source: AsyncIterable<Uint8Array>, options: ImportOptions = {}): Promise<Image[]> {
  return withTempLease(store, async (lease) => {
    let index: ImageIndex | undefined;
    let layout = false;
    for await (const e of readTar(source, options.signal)) {
      if (e.type !== 'file') continue;
      const m = /^blobs\/([a-z0-9]+)\/([0-9a-f]+)$/.exec(e.name);
      if (m) {
        const digest = parseDigest(`${m[1]}:${m[2]}`);
        await writeBlob(store, `import-${importId}-${digest}`, e.body, { digest, size: e.size }, { lease, ...(options.signal ? { signal: options.signal } : {}) });
      } else if (e.name === 'index.json' || e.name === 'oci-layout') {
        const parts: Buffer[] = [];
        for await (const c of e.body) parts.push(c);
        if (e.name === 'index.json') index = parseIndex(Buffer.concat(parts), 'index.json');
        else layout = JSON.parse(Buffer.concat(parts).toString('utf8')).imageLayoutVersion === '1.0.0';
      }
    }
    if (!layout) throw new StoreInvalidArchiveError('oci-layout', 'missing or unsupported oci-layout file');
    if (!index) throw new StoreInvalidArchiveError('oci-layout', 'missing index.json');
    for (const m of index.manifests) {
      try {
        for await (const _ of walkImage(store, m, options)) { /* checks the graph is complete */ }
      } catch (e) {
        if (isBerthError(e) && e.kind === 'not-found') throw new StoreInvalidArchiveError('oci-layout', `image ${m.digest} is incomplete`, { cause: e });
        throw e;
      }
    }
    return tagAll(store, index, options);
  });
}

async function collect(store: ArchiveStore, names: string[], options: ExportOptions): Promise<{ index: ImageIndex; blobs: Descriptor[] }> {
  const index: ImageIndex = { schemaVersion: 2, mediaType: OciMediaType.ImageIndex, manifests: [] };
  const blobs = new Map<string, Descriptor>();
  for (const n of names) {
    const img = await store.images.resolve(n, options);
    index.manifests.push({
      ...img.target,
      annotations: { ...(img.target.annotations ?? {}), [AnnotationKey.RefName]: img.name, [AnnotationKey.ContainerdImageName]: img.name },
    });
    for await (const d of walkImage(store, img.target, options)) blobs.set(d.digest, d);
  }
  return { index, blobs: [...blobs.values()] };
}

/** A tar stream (OCI layout) holding the images `names`. */
export function exportOciLayoutTar(store: ArchiveStore, names: string[], options: ExportOptions = {}): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    const { index, blobs } = await collect(store, names, options);
    const entries: TarSource[] = [
      { name: 'oci-layout', data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
      { name: 'index.json', data: Buffer.from(JSON.stringify(index)) },
      { name: 'blobs', type: 'dir' },
    ];
    for (const alg of new Set(blobs.map((b) => splitDigest(b.digest).algorithm))) entries.push({ name: `blobs/${alg}`, type: 'dir' });
    for (const b of blobs) {
      const { algorithm, hex } = splitDigest(b.digest);
      entries.push({ name: `blobs/${algorithm}/${hex}`, size: b.size, stream: () => store.open(b.digest, options) });
    }
    yield* writeTar(entries, options.signal);
  }
  return Readable.from(gen(), { objectMode: false });
}

/** Writes the images `names` as an OCI layout directory `dir` (created; merged into an existing layout). */
export async function exportOciLayoutDir(store: ArchiveStore, names: string[], dir: string, options: ExportOptions = {}): Promise<void> {
  const { index, blobs } = await collect(store, names, options);
  await fs.mkdir(dir, { recursive: true });
  for (const b of blobs) {
    throwIfAborted(options.signal, 'export');
    const { algorithm, hex } = splitDigest(b.digest);
    const file = path.join(dir, 'blobs', algorithm, hex);
    if (await fs.stat(file).catch(() => undefined)) continue;
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomHex(4)}.tmp`;
    await pipeline(await store.open(b.digest, options), createWriteStream(tmp));
    await fs.rename(tmp, file);
  }
  const indexFile = path.join(dir, 'index.json');
  const existing = await fs.readFile(indexFile).then((b) => parseIndex(b, indexFile)).catch(() => undefined);
  if (existing) {
    const names = new Set(index.manifests.map((m) => m.annotations?.[AnnotationKey.RefName]));
    index.manifests = [...existing.manifests.filter((m) => !names.has(m.annotations?.[AnnotationKey.RefName])), ...index.manifests];
  }
  await fs.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await fs.writeFile(`${indexFile}.tmp`, JSON.stringify(index));
  await fs.rename(`${indexFile}.tmp`, indexFile);
}
