/**
 * The Docker archive (`docker save` / `docker load` format): `manifest.json`
 * (`[{ Config, RepoTags, Layers }]`), `repositories`, the config as
 * `<id>.json`, and each layer as `<dir>/layer.tar` (legacy, docker ≤ 24) or
 * `blobs/sha256/<hex>` (docker 25+, which also writes an OCI layout).
 *
 * Import keeps every layer's bytes as they are (an uncompressed layer stays
 * uncompressed, so its digest equals its diffID) and writes an OCI manifest
 * around them; each layer's media type comes from its first bytes: gzip →
 * `application/vnd.oci.image.layer.v1.tar+gzip`, zstd → `…tar+zstd`, else
 * `…tar`. The config keeps its bytes (its digest is Docker's image id) with
 * the OCI config media type. OCI media types keep the layout readable by
 * umoci, which rejects Docker's.
 *
 * Export writes the legacy form, which every `docker load` (20.10 included)
 * reads: `<config hex>.json`, `<layer hex>/layer.tar` (+ `VERSION`, `json`),
 * `manifest.json`, `repositories`. Compressed layers are written as they
 * are; `docker load` decompresses them.
 */
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { OciMediaType, isBerthError, isIndexMediaType } from '@berth/oci-spec';
import type { ArchiveStore, ExportOptions, ImportOptions } from '../archive.js';
import type { Image } from '../images.js';
import { StoreInvalidArchiveError, StoreNotFoundError } from '../errors.js';
import { parseDigest, splitDigest, type Descriptor, type ImageManifest } from '../internal/oci.js';
import { parseIndex, parseManifest } from '../internal/validate.js';
import { parseName } from '../internal/reference.js';
import { readTar, writeTar, type TarSource } from '../internal/tar.js';
import { readBlob, writeBlob, writeBytes } from '../helpers.js';
import { withTempLease, importName } from './oci-layout.js';
import type { Info } from '../content.js';

interface DockerManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

async function sniffLayer(store: ArchiveStore, info: Info): Promise<string> {
  if (info.size < 4) return OciMediaType.Layer;
  const parts: Buffer[] = [];
  for await (const c of await store.open(info.digest, { offset: 0, length: 4 })) parts.push(c as Buffer);
  const head = Buffer.concat(parts);
  if (head[0] === 0x1f && head[1] === 0x8b) return OciMediaType.LayerGzip;
  if (head.readUInt32LE(0) === 0xfd2fb528) return OciMediaType.LayerZstd;
  return OciMediaType.Layer;
}

/**
 * Imports a `docker save` tar (legacy or docker 25+ form) from `source`;
 * returns the tagged images (one per RepoTag; untagged images are not named).
 */
export async function importDockerArchive(store: ArchiveStore, source: AsyncIterable<Uint8Array>, options: ImportOptions = {}): Promise<Image[]> {
  return withTempLease(store, async (lease) => {
    const files = new Map<string, Info>();
    const links = new Map<string, string>();
    const id = randomBytes(6).toString('hex');
    let n = 0;
    for await (const e of readTar(source, options.signal)) {
      if (e.type === 'symlink' || e.type === 'link') {
        links.set(e.name, e.type === 'symlink' ? path.posix.normalize(path.posix.join(path.posix.dirname(e.name), e.linkname)) : e.linkname);
        continue;
      }
      if (e.type !== 'file') continue;
      const m = /^blobs\/([a-z0-9]+)\/([0-9a-f]+)$/.exec(e.name);
      if (m) {
        const digest = parseDigest(`${m[1]}:${m[2]}`);
        files.set(e.name, (await writeBlob(store, `docker-load-${id}-${digest}`, e.body, { digest, size: e.size }, { lease, ...(options.signal ? { signal: options.signal } : {}) })).info);
        continue;
      }
      const w = await store.writer(`docker-load-${id}-${n++}`, { lease, ...(options.signal ? { signal: options.signal } : {}) });
      try {
        await w.copyFrom(e.body, options);
        files.set(e.name, await w.commit({ size: e.size }));
      } catch (err) {
        if (!(isBerthError(err) && err.code === 'ERR_STORE_ALREADY_EXISTS')) throw err;
        files.set(e.name, await store.info(w.digest()));
      } finally {
        await w.close();
      }
    }
    const lookup = (p: string, depth = 0): Info | undefined => {
      const f = files.get(p);
      if (f || depth > 8) return f;
      const l = links.get(p);
      return l === undefined ? undefined : lookup(l, depth + 1);
    };
    const manifestInfo = files.get('manifest.json');
    const indexInfo = files.get('index.json');
    // docker 25+ writes an OCI layout too: keep its manifests (and their digests) when it names images.
    if (indexInfo && files.has('oci-layout')) {
      const index = parseIndex(await readBlob(store, indexInfo), 'index.json');
      if (index.manifests.some((m) => importName(m, options.baseName))) {
        const out: Image[] = [];
        for (const m of index.manifests) {
          const name = importName(m, options.baseName);
          if (name) out.push(await store.images.tag(name, { mediaType: m.mediaType, digest: m.digest, size: m.size }, options));
        }
        return out;
      }
    }
    if (!manifestInfo) throw new StoreInvalidArchiveError('docker-archive', 'missing manifest.json');
    let entries: DockerManifestEntry[];
    try {
      entries = JSON.parse((await readBlob(store, manifestInfo, { maxSize: 16 << 20 })).toString('utf8')) as DockerManifestEntry[];
    } catch (cause) {
      throw new StoreInvalidArchiveError('docker-archive', 'manifest.json is not JSON', { cause });
    }
    if (!Array.isArray(entries)) throw new StoreInvalidArchiveError('docker-archive', 'manifest.json is not an array');
    const out: Image[] = [];
    for (const entry of entries) {
      if (typeof entry?.Config !== 'string' || !Array.isArray(entry.Layers)) throw new StoreInvalidArchiveError('docker-archive', 'bad manifest.json entry');
      const config = lookup(entry.Config);
      if (!config) throw new StoreInvalidArchiveError('docker-archive', `missing ${entry.Config}`);
      const layers: Descriptor[] = [];
      for (const l of entry.Layers) {
        const info = lookup(l);
        if (!info) throw new StoreInvalidArchiveError('docker-archive', `missing ${l}`);
        layers.push({ mediaType: await sniffLayer(store, info), digest: info.digest, size: info.size });
      }
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: OciMediaType.ImageManifest,
        config: { mediaType: OciMediaType.ImageConfig, digest: config.digest, size: config.size },
        layers,
      };
      const bytes = Buffer.from(JSON.stringify(manifest));
      const info = await writeBytes(store, bytes, { lease });
      const target: Descriptor = { mediaType: OciMediaType.ImageManifest, digest: info.digest, size: info.size };
      for (const tag of entry.RepoTags ?? []) out.push(await store.images.tag(tag, target, options));
    }
    return out;
  });
}

function hostPlatform(): { os: string; architecture: string } {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { os: 'linux', architecture: map[process.arch] ?? process.arch };
}

async function resolveManifest(store: ArchiveStore, target: Descriptor, options: ExportOptions): Promise<{ manifest: ImageManifest; desc: Descriptor }> {
  let desc = target;
  for (let depth = 0; isIndexMediaType(desc.mediaType); depth++) {
    if (depth > 4) throw new StoreInvalidArchiveError('docker-archive', 'nested indexes too deep');
    const index = parseIndex(await readBlob(store, desc, options), desc.digest);
    const want = options.platform ?? hostPlatform();
    const candidates = index.manifests.filter((m) => !m.platform || (m.platform.os === want.os && m.platform.architecture === want.architecture
      && (!('variant' in want) || !want.variant || m.platform.variant === want.variant)));
    let chosen: Descriptor | undefined;
    for (const c of candidates) {
      try { await store.info(c.digest); chosen = c; break; } catch { /* not pulled */ }
    }
    if (!chosen) throw new StoreNotFoundError('image', `${target.digest} for ${want.os}/${want.architecture}`);
    desc = chosen;
  }
  return { manifest: parseManifest(await readBlob(store, desc, options), desc.digest), desc };
}

/**
 * A `docker save`-format tar of the images `names` (legacy layout, loadable
 * by `docker load` 20.10 and later). Multi-platform images export the
 * manifest for `options.platform` (default: this host).
 */
export function exportDockerArchive(store: ArchiveStore, names: string[], options: ExportOptions = {}): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    const manifestJson: DockerManifestEntry[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    const entries: TarSource[] = [];
    const written = new Set<string>();
    const byConfig = new Map<string, DockerManifestEntry>();
    for (const n of names) {
      const img = await store.images.resolve(n, options);
      const { manifest } = await resolveManifest(store, img.target, options);
      const configHex = splitDigest(manifest.config.digest).hex;
      const parsed = parseName(img.name);
      const repoTag = parsed.tag !== undefined ? parsed.familiar.replace(/@.*$/, '') : undefined;
      let entry = byConfig.get(configHex);
      if (!entry) {
        entry = { Config: `${configHex}.json`, RepoTags: [], Layers: [] };
        byConfig.set(configHex, entry);
        manifestJson.push(entry);
        entries.push({ name: `${configHex}.json`, data: await readBlob(store, manifest.config, { ...options, maxSize: 16 << 20 }) });
        let parent = '';
        for (const l of manifest.layers) {
          const hex = splitDigest(l.digest).hex;
          entry.Layers.push(`${hex}/layer.tar`);
          if (written.has(hex)) continue;
          written.add(hex);
          const info = await store.info(l.digest, options);
          entries.push({ name: hex, type: 'dir' });
          entries.push({ name: `${hex}/VERSION`, data: Buffer.from('1.0') });
          entries.push({ name: `${hex}/json`, data: Buffer.from(JSON.stringify({ id: hex, ...(parent ? { parent } : {}) })) });
          entries.push({ name: `${hex}/layer.tar`, size: info.size, stream: () => store.open(l.digest, options) });
          parent = hex;
        }
      }
      if (repoTag) {
        entry.RepoTags!.push(repoTag);
        const repo = repoTag.slice(0, repoTag.lastIndexOf(':'));
        (repositories[repo] ??= {})[parsed.tag!] = splitDigest(manifest.layers[manifest.layers.length - 1]?.digest ?? manifest.config.digest).hex;
      }
    }
    entries.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify(manifestJson)) });
    entries.push({ name: 'repositories', data: Buffer.from(JSON.stringify(repositories)) });
    yield* writeTar(entries, options.signal);
  }
  return Readable.from(gen(), { objectMode: false });
}

