/** Layers of testkit's fixture images, and `umoci unpack` of them for comparison. */
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fixtureBlobPath, readFixtureManifest, type FixtureImage } from '@berth/testkit';

interface Desc { mediaType: string; digest: string; platform?: { os: string; architecture: string } }

/** The layer descriptors of a fixture's linux/amd64 image, bottom first. */
export function fixtureLayers(f: FixtureImage): Array<{ digest: string; mediaType: string; path: string }> {
  let m = JSON.parse(readFixtureManifest(f).bytes.toString()) as { manifests?: Desc[]; layers?: Desc[] };
  if (m.manifests !== undefined) {
    const d = m.manifests.find((x) => x.platform?.os === 'linux' && x.platform.architecture === 'amd64') ?? m.manifests[0]!;
    m = JSON.parse(fs.readFileSync(fixtureBlobPath(f, d.digest), 'utf8')) as typeof m;
  }
  return (m.layers ?? []).map((l) => ({ digest: l.digest, mediaType: l.mediaType, path: fixtureBlobPath(f, l.digest) }));
}

/** Runs `umoci unpack` of an OCI-layout fixture into `bundle` and returns its rootfs. */
export function umociUnpack(f: FixtureImage, bundle: string): string {
  const r = spawnSync('umoci', ['unpack', '--image', `${f.path}:${f.ref ?? 'latest'}`, bundle], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`umoci unpack failed: ${r.stderr}`);
  return `${bundle}/rootfs`;
}
