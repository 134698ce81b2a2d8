// The fixture cache on disk: ${BERTH_CACHE_DIR}/fixtures-<hash>/fixtures.json and its images.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestkitError } from '../errors.js';
import type { FixtureBlob, FixtureImage, FixturePlatform, FixtureVariant } from '../fixture.js';

interface FixturesFile {
  version: number;
  created: string;
  images: Array<Omit<FixtureImage, 'path'> & { path: string }>;
}

/** The repository root (`$BERTH_REPO_ROOT`, else the nearest parent of this file holding `scripts/fixtures`). */
export function repoRoot(): string {
  if (process.env.BERTH_REPO_ROOT) return process.env.BERTH_REPO_ROOT;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'scripts', 'fixtures'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new TestkitError('ERR_TESTKIT_FIXTURES_MISSING', `no berth checkout above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

/** The cache dir holding fixtures and the persistent registry (`$BERTH_CACHE_DIR`, `/var/cache/berth`). */
export function cacheDir(): string {
  return process.env.BERTH_CACHE_DIR ?? '/var/cache/berth';
}

// Same files, same order, same hash as in scripts/fixtures.
const FIXTURE_SOURCES = ['scripts/fixtures', 'scripts/testkit/fixtures/build.mjs', 'scripts/testkit/fixtures/tar-writer.mjs'];

function fixtureHash(root: string): string {
  const h = crypto.createHash('sha256');
  for (const f of FIXTURE_SOURCES) h.update(fs.readFileSync(path.join(root, f)));
  return h.digest('hex').slice(0, 16);
}

/**
 * The directory of the current fixture build (`$BERTH_FIXTURES_DIR` if set).
 * @throws TestkitError `ERR_TESTKIT_FIXTURES_MISSING` when it was not built: run `bash scripts/fixtures`.
 */
export function fixturesDir(): string {
  const override = process.env.BERTH_FIXTURES_DIR;
  const root = repoRoot();
  let dir: string;
  try {
    dir = override ?? path.join(cacheDir(), `fixtures-${fixtureHash(root)}`);
  } catch (cause) {
    throw new TestkitError('ERR_TESTKIT_FIXTURES_MISSING', `cannot read the fixture sources under ${root}`, { cause });
  }
  if (!fs.existsSync(path.join(dir, 'fixtures.json'))) {
    throw new TestkitError('ERR_TESTKIT_FIXTURES_MISSING',
      `fixture images not built (no ${dir}/fixtures.json): run \`bash scripts/fixtures\` in ${root}`);
  }
  return dir;
}

let cached: { dir: string; images: FixtureImage[] } | undefined;

/** Every fixture image, read from `fixtures.json` of {@link fixturesDir}. */
export function listFixtures(): FixtureImage[] {
  const dir = fixturesDir();
  if (cached?.dir !== dir) {
    const file = JSON.parse(fs.readFileSync(path.join(dir, 'fixtures.json'), 'utf8')) as FixturesFile;
    cached = { dir, images: file.images.map((i) => Object.freeze({ ...i, path: path.join(dir, i.path) })) };
  }
  return [...cached.images];
}

/**
 * One fixture image.
 * @param name - `busybox` or `multilayer`.
 * @param variant - format variant; `oci-index` and `docker-manifest-list` exist for `busybox` only.
 * @throws TestkitError `ERR_TESTKIT_FIXTURE_NOT_FOUND` for an unknown pair.
 */
export function fixture(name: string, variant: FixtureVariant): FixtureImage {
  const f = listFixtures().find((i) => i.name === name && i.variant === variant);
  if (!f) throw new TestkitError('ERR_TESTKIT_FIXTURE_NOT_FOUND', `fixture ${name} (${variant}) not found`);
  return f;
}

/** The skopeo/containers-image transport reference of a fixture: `oci:<path>:<ref>` or `dir:<path>`. */
export function fixtureTransportRef(f: FixtureImage): string {
  return f.transport === 'oci' ? `oci:${f.path}:${f.ref ?? 'latest'}` : `dir:${f.path}`;
}

/**
 * Path of a blob of a fixture, by digest (`sha256:<hex>`). For `dir` fixtures, manifests of a
 * list's instances are found too (`<hex>.manifest.json`). The file may not exist: check.
 */
export function fixtureBlobPath(f: FixtureImage, digest: string): string {
  const [alg, hex] = digest.split(':');
  if (!alg || !hex || !/^[a-z0-9]+$/.test(alg) || !/^[a-f0-9]+$/.test(hex)) {
    throw new TestkitError('ERR_TESTKIT_FIXTURE_NOT_FOUND', `bad digest ${JSON.stringify(digest)}`);
  }
  if (f.transport === 'oci') return path.join(f.path, 'blobs', alg, hex);
  const blob = path.join(f.path, hex);
  const manifest = path.join(f.path, `${hex}.manifest.json`);
  return !fs.existsSync(blob) && fs.existsSync(manifest) ? manifest : blob;
}

/** The top-level manifest (or index/list) bytes of a fixture and their media type. */
export function readFixtureManifest(f: FixtureImage): { bytes: Buffer; mediaType: string } {
  const bytes = fs.readFileSync(f.transport === 'oci' ? fixtureBlobPath(f, f.digest) : path.join(f.path, 'manifest.json'));
  return { bytes, mediaType: f.mediaType };
}

/** Root of the registry storage holding every fixture, copied into seeded registries. */
export function registrySeedDir(): string {
  return path.join(fixturesDir(), 'registry');
}

interface Descriptor { mediaType: string; digest: string; size: number; platform?: FixturePlatform }

/**
 * Every blob reachable from a fixture's top-level manifest, parents before children: the index
 * (if any), each manifest, its config, its layers. For validating every manifest, index and config.
 */
export function walkFixture(f: FixtureImage): FixtureBlob[] {
  const out: FixtureBlob[] = [];
  const top = readFixtureManifest(f);
  const topPath = f.transport === 'oci' ? fixtureBlobPath(f, f.digest) : path.join(f.path, 'manifest.json');
  const visit = (d: Descriptor, file: string, platform?: FixturePlatform): void => {
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    const isIndex = Array.isArray(doc.manifests);
    out.push({ kind: isIndex ? 'index' : 'manifest', digest: d.digest, mediaType: d.mediaType, size: d.size, path: file, ...(platform ? { platform } : {}) });
    if (isIndex) {
      for (const m of doc.manifests ?? []) visit(m, fixtureBlobPath(f, m.digest), m.platform);
      return;
    }
    for (const [kind, c] of [['config', doc.config], ...(doc.layers ?? []).map((l) => ['layer', l] as const)] as const) {
      if (c) out.push({ kind, digest: c.digest, mediaType: c.mediaType, size: c.size, path: fixtureBlobPath(f, c.digest), ...(platform ? { platform } : {}) });
    }
  };
  visit({ mediaType: top.mediaType, digest: f.digest, size: top.bytes.length }, topPath);
  return out;
}
