#!/usr/bin/env node
/**
 * pull-image: pulls one image from a registry into an OCI image layout
 * directory, using only `@berth/registry-client`.
 *
 *   pull-image [--platform os/arch[/variant]] REFERENCE DIR
 *
 * Resolve the reference (HEAD with the full Accept list), fetch the manifest
 * (picking the platform out of an index), then fetch the config and every
 * layer as verified streams: digest and size are checked as bytes flow, and a
 * blob only gets its final name once its stream ended without error. Progress
 * goes to stderr; the manifest digest is printed on stdout.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createRegistryClient, dockerConfigCredentials, type FetchedManifest, type Fetcher } from '@berth/registry-client';

const usage = `usage: pull-image [--platform os/arch[/variant]] REFERENCE DIR

Pulls REFERENCE (e.g. 127.0.0.1:5000/busybox:latest) into DIR as an OCI image
layout (created when missing; other images in it are kept). The image is
named by its tag, so \`skopeo inspect oci:DIR:TAG\` and
\`umoci unpack --image DIR:TAG\` read it. Credentials come from the Docker
config ($DOCKER_CONFIG or ~/.docker/config.json).

  --platform   which image of a multi-platform index (default: this host's)
`;

class UsageError extends Error {}

/** A descriptor, as the registry client hands them out. */
type Descriptor = Parameters<Fetcher['fetch']>[0];

const hostArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', ia32: '386' };

function parsePlatform(s: string): { os: string; architecture: string; variant?: string } {
  const [os, architecture, variant, ...rest] = s.split('/');
  if (!os || !architecture || rest.length) throw new UsageError(`bad --platform "${s}"`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

const dockerMediaTypes = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  foreignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;
const toOciMediaType: Record<string, string> = {
  [dockerMediaTypes.config]: 'application/vnd.oci.image.config.v1+json',
  [dockerMediaTypes.layer]: 'application/vnd.oci.image.layer.v1.tar+gzip',
  [dockerMediaTypes.foreignLayer]: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
};

/** Writes a Docker schema2 manifest as an OCI manifest blob; returns its descriptor. */
function writeConvertedManifest(blobDir: string, docker: NonNullable<FetchedManifest['manifest']>): Descriptor {
  const oci = (d: Descriptor): Descriptor => ({ ...d, mediaType: toOciMediaType[d.mediaType] ?? d.mediaType });
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config: oci(docker.config), layers: docker.layers.map(oci) }));
  const hex = createHash('sha256').update(bytes).digest('hex');
  fs.writeFileSync(path.join(blobDir, hex), bytes);
  return { mediaType, digest: `sha256:${hex}` as Descriptor['digest'], size: bytes.length };
}

const short = (digest: string): string => digest.slice(7, 19);
const mb = (n: number): string => (n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`);

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { platform: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) { process.stdout.write(usage); return; }
  if (positionals.length !== 2) throw new UsageError('expected REFERENCE and DIR');
  const [reference, dir] = positionals as [string, string];
  const platform = parsePlatform(values.platform ?? `linux/${hostArch[process.arch] ?? process.arch}`);

  const client = createRegistryClient({ credentials: dockerConfigCredentials() });
  try {
    // 1. Resolve: reference → root descriptor (a manifest or an index).
    const { name, descriptor } = await client.resolve(reference);
    process.stderr.write(`${name}: resolved to ${descriptor.digest}\n`);

    // 2. The manifest for our platform (verified against its digest, validated).
    const fetcher = client.fetcher(name);
    const { descriptor: manifestDesc, bytes, manifest } = await fetcher.fetchManifest(descriptor, { platform });
    const blobs = [manifest!.config, ...manifest!.layers];

    // 3. The blobs, all at once (the client caps concurrent transfers), each
    //    written to a temp name and renamed once its digest checked.
    const blobDir = path.join(dir, 'blobs', 'sha256');
    fs.mkdirSync(blobDir, { recursive: true });
    const total = blobs.reduce((n, d) => n + d.size, 0);
    let received = 0;
    const tty = process.stderr.isTTY;
    const results = await Promise.allSettled(blobs.map(async (desc, i) => {
      const file = path.join(blobDir, desc.digest.slice('sha256:'.length));
      const partial = `${file}.partial`;
      const stream = await fetcher.fetch(desc);
      try {
        await pipeline(stream, async function* count(source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            received += chunk.length;
            if (tty) process.stderr.write(`\rDownloading ${mb(received)} / ${mb(total)}`);
            yield chunk;
          }
        }, fs.createWriteStream(partial));
      } catch (e) {
        fs.rmSync(partial, { force: true });
        throw e;
      }
      fs.renameSync(partial, file);
      if (tty) process.stderr.write('\r\x1b[K');
      process.stderr.write(`${short(desc.digest)}: ${i === 0 ? 'config' : `layer ${i}/${blobs.length - 1}`} ${mb(desc.size)} done\n`);
    }));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;

    // 4. The manifest itself, then oci-layout and index.json (written last:
    //    the image is named only once all its blobs are there). skopeo and
    //    umoci read only OCI manifests from a layout, so a Docker schema2
    //    manifest is rewritten with OCI media types (as `skopeo copy … oci:`
    //    does); the config and layer blobs stay byte for byte the same.
    let layoutDesc = manifestDesc;
    if (manifestDesc.mediaType === dockerMediaTypes.manifest) {
      layoutDesc = writeConvertedManifest(blobDir, manifest!);
      process.stderr.write(`${name}: Docker schema2 manifest ${manifestDesc.digest} stored as OCI manifest ${layoutDesc.digest}\n`);
    } else {
      fs.writeFileSync(path.join(blobDir, manifestDesc.digest.slice('sha256:'.length)), bytes);
    }
    fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const tag = /:([\w][\w.-]*)$/.exec(name.split('@')[0]!.split('/').pop()!)?.[1];
    const indexFile = path.join(dir, 'index.json');
    const index = fs.existsSync(indexFile) ? JSON.parse(fs.readFileSync(indexFile, 'utf8')) : { schemaVersion: 2, manifests: [] };
    const refName = 'org.opencontainers.image.ref.name';
    index.manifests = (index.manifests as Descriptor[]).filter((m) => !tag || m.annotations?.[refName] !== tag);
    index.manifests.push({
      mediaType: layoutDesc.mediaType, digest: layoutDesc.digest, size: layoutDesc.size,
      ...(manifestDesc.platform ? { platform: manifestDesc.platform } : {}),
      ...(tag ? { annotations: { [refName]: tag } } : {}),
    });
    fs.writeFileSync(`${indexFile}.tmp`, JSON.stringify(index, null, 2));
    fs.renameSync(`${indexFile}.tmp`, indexFile);
    process.stderr.write(`${name}: pulled ${blobs.length} blobs, ${mb(total)}\n`);
    process.stdout.write(`${layoutDesc.digest}\n`);
  } finally {
    await client.close();
  }
}

try {
  await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError || String((e as { code?: string }).code).startsWith('ERR_PARSE_ARGS_')) {
    process.stderr.write(`pull-image: ${(e as Error).message}\n\n${usage}`);
    process.exitCode = 2;
  } else {
    // Every berth error has a stable `code` (ERR_REGISTRY_NOT_FOUND, …) worth printing.
    const { message, code } = e as { message: string; code?: string };
    process.stderr.write(`pull-image: ${message}${code ? ` [${code}]` : ''}\n`);
    process.exitCode = 1;
  }
}
