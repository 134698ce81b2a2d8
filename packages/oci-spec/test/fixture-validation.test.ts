// Every fixture image built by scripts/fixtures (umoci + skopeo, through
// @berth/testkit) validates: layout files, top-level manifest/index/list,
// every instance manifest, every config, and every blob's digest and size,
// with gzip layers also checked against their config's diff_ids.
import fs from 'node:fs';
import zlib from 'node:zlib';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import test from 'ava';
import { fixtureBlobPath, listFixtures, readFixtureManifest, type FixtureImage } from '@berth/testkit';
import {
  AnnotationKey, OciMediaType, checkManifestConfig, createVerifier, digestOf, formatPlatform, layerCompression, onlyPlatform,
  onlyStrictPlatform, parseDigest, parseImageConfig, parseImageJson, parseIndex, parseManifest, parseOciLayout,
  selectPlatformEntry, type Descriptor, type ParsedManifest, type Platform,
} from '@berth/oci-spec';

const fixtures = listFixtures();
const discard = () => new Writable({ write(_c, _e, cb) { cb(); } });

async function verifyBlob(f: FixtureImage, d: { digest: string; size: number }, diffId?: string): Promise<void> {
  const file = fixtureBlobPath(f, d.digest);
  const verifier = createVerifier({ digest: parseDigest(d.digest), size: d.size });
  if (diffId === undefined) {
    await pipeline(fs.createReadStream(file), verifier, discard());
  } else {
    // The compressed blob must match its digest, the uncompressed stream its diff id.
    await pipeline(fs.createReadStream(file), verifier, zlib.createGunzip(), createVerifier({ digest: parseDigest(diffId) }), discard());
  }
}

async function checkImageManifest(t: { is: Function; true: Function; pass: Function }, f: FixtureImage, parsed: ParsedManifest, platform?: Platform): Promise<void> {
  const m = parsed.value;
  const configBytes = fs.readFileSync(fixtureBlobPath(f, m.config.digest));
  t.is(digestOf(configBytes), m.config.digest, 'config digest');
  t.is(configBytes.length, m.config.size, 'config size');
  const config = parseImageConfig(configBytes, m.config.mediaType).value;
  t.is(config.rootfs.diff_ids.length, m.layers.length, 'one diff id per layer');
  checkManifestConfig(m, config);
  if (platform !== undefined) {
    t.true(onlyStrictPlatform(platform).match({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }),
      `config platform of ${formatPlatform(platform)}`);
  }
  for (const [i, layer] of m.layers.entries()) {
    const compression = layerCompression(layer.mediaType);
    t.true(compression !== undefined, `layer ${i} media type ${layer.mediaType}`);
    await verifyBlob(f, layer, compression === 'gzip' ? config.rootfs.diff_ids[i] : undefined);
  }
}

test('the fixture set has every variant', (t) => {
  const variants = new Set(fixtures.map((f) => `${f.name}/${f.variant}`));
  for (const v of ['busybox/oci-gzip', 'busybox/oci-zstd', 'busybox/docker-gzip', 'multilayer/oci-gzip', 'multilayer/oci-zstd',
    'multilayer/docker-gzip', 'busybox/oci-index', 'busybox/docker-manifest-list']) {
    t.true(variants.has(v), v);
  }
});

for (const f of fixtures) {
  test(`fixture ${f.name} (${f.variant}) validates end to end`, async (t) => {
    if (f.transport === 'oci') {
      t.deepEqual(parseOciLayout(fs.readFileSync(`${f.path}/oci-layout`)), { imageLayoutVersion: '1.0.0' });
      const layoutIndex = parseIndex(fs.readFileSync(`${f.path}/index.json`));
      t.is(layoutIndex.mediaType, OciMediaType.ImageIndex);
      const entry = layoutIndex.value.manifests.find((m: Descriptor) => m.annotations?.[AnnotationKey.RefName] === (f.ref ?? 'latest'));
      t.is<string | undefined, string>(entry?.digest, f.digest);
    }
    const { bytes, mediaType } = readFixtureManifest(f);
    t.is<string, string>(digestOf(bytes), f.digest, 'top-level digest');
    const top = parseImageJson(bytes, mediaType);
    t.is<string, string>(top.mediaType, f.mediaType);
    if (top.kind === 'manifest') {
      await checkImageManifest(t, f, parseManifest(bytes, mediaType), f.platforms[0]);
      return;
    }
    t.is(top.kind, 'index');
    if (top.kind !== 'index') return;
    const entries = top.value.manifests as Descriptor[];
    t.deepEqual(entries.map((e) => formatPlatform(e.platform!)).sort(), f.platforms.map((p) => formatPlatform(p as Platform)).sort());
    for (const entry of entries) {
      const child = fs.readFileSync(fixtureBlobPath(f, entry.digest));
      t.is(digestOf(child), entry.digest, 'instance digest');
      t.is(child.length, entry.size, 'instance size');
      await checkImageManifest(t, f, parseManifest(child, entry.mediaType), entry.platform);
    }
    // The matcher picks each platform's own entry.
    for (const p of f.platforms) {
      t.is(formatPlatform(selectPlatformEntry(entries, onlyPlatform(p as Platform))!.platform!), formatPlatform(p as Platform));
    }
  });
}
