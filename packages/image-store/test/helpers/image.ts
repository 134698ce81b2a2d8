/**
 * Builds small images through the store's API, and validates images in a
 * store (every test that produces an image runs the validator, as
 * go-containerregistry's pkg/v1/validate does).
 */
import { createGunzip, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { OciMediaType as MediaType, type Descriptor, type Digest } from '@berth/oci-spec';
import { readBlob, writeBytes, writeTar, walkImage, type ContentStore, type TarSource } from '@berth/image-store';

/** Bytes of a tar archive made of `entries`. */
export async function tarBytes(entries: TarSource[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of writeTar(entries)) parts.push(c);
  return Buffer.concat(parts);
}

/** Options of {@link buildImage}. */
export interface BuildOptions {
  /** Files of each layer (path → content). */
  layers?: Array<Record<string, string>>;
  /** Gzip the layers (default true). */
  gzip?: boolean;
  /** Hold the blobs in this lease. */
  lease?: string;
}

/** Writes config, layers and manifest into `store`; returns the manifest descriptor. */
export async function buildImage(store: ContentStore, options: BuildOptions = {}): Promise<{ manifest: Descriptor; config: Descriptor; layers: Descriptor[] }> {
  const layerFiles = options.layers ?? [{ 'hello.txt': 'hello from berth\n', 'etc/os-release': 'ID=berth\n' }];
  const gzip = options.gzip ?? true;
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  const opts = options.lease ? { lease: options.lease } : {};
  for (const files of layerFiles) {
    const entries: TarSource[] = [];
    const dirs = new Set<string>();
    for (const p of Object.keys(files)) {
      const parts = p.split('/');
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    }
    for (const d of [...dirs].sort()) entries.push({ name: d, type: 'dir' });
    for (const [p, c] of Object.entries(files)) entries.push({ name: p, data: Buffer.from(c) });
    const tar = await tarBytes(entries);
    diffIds.push(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
    const bytes = gzip ? gzipSync(tar) : tar;
    const info = await writeBytes(store, bytes, opts);
    layers.push({ mediaType: gzip ? MediaType.LayerGzip : MediaType.Layer, digest: info.digest, size: info.size });
  }
  const configBytes = Buffer.from(JSON.stringify({
    created: '2026-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/hello'], Env: ['PATH=/usr/bin:/bin'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: layerFiles.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'berth test' })),
  }));
  const cinfo = await writeBytes(store, configBytes, opts);
  const config = { mediaType: MediaType.ImageConfig, digest: cinfo.digest, size: cinfo.size };
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, config, layers }));
  const minfo = await writeBytes(store, manifestBytes, opts);
  return { manifest: { mediaType: MediaType.ImageManifest, digest: minfo.digest, size: minfo.size }, config, layers };
}

async function hashStream(src: AsyncIterable<Uint8Array>, gunzip: boolean): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  const sink = new Writable({ write(c, _e, cb) { h.update(c); size += c.length; cb(); } });
  if (gunzip) await pipeline(src, createGunzip(), sink);
  else await pipeline(src, sink);
  return { digest: `sha256:${h.digest('hex')}`, size };
}

/**
 * Validates the image `desc` in `store`: every blob present with its size and
 * digest, manifests and configs parse, config diff_ids match the layers.
 * Throws on the first problem.
 */
export async function validateImage(store: ContentStore, desc: Descriptor): Promise<void> {
  for await (const d of walkImage(store, desc)) {
    const actual = await hashStream(await store.open(d.digest), false);
    if (actual.digest !== d.digest || actual.size !== d.size) throw new Error(`blob ${d.digest}: got ${actual.digest} ${actual.size}`);
    if (d.mediaType !== MediaType.ImageManifest && d.mediaType !== 'application/vnd.docker.distribution.manifest.v2+json') continue;
    const m = JSON.parse((await readBlob(store, d)).toString('utf8'));
    const config = JSON.parse((await readBlob(store, m.config, { maxSize: 16 << 20 })).toString('utf8'));
    const diffIds: string[] = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== m.layers.length) throw new Error(`${d.digest}: ${m.layers.length} layers but ${diffIds.length} diff_ids`);
    for (const [i, l] of (m.layers as Descriptor[]).entries()) {
      const gz = l.mediaType.endsWith('gzip');
      const u = await hashStream(await store.open(l.digest as Digest), gz);
      if (u.digest !== diffIds[i]) throw new Error(`layer ${i} of ${d.digest}: diffID ${u.digest} != ${diffIds[i]}`);
    }
  }
}
