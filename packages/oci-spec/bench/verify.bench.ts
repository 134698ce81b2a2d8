/**
 * oci-spec's hot paths, measured beside peers where one exists:
 *
 * - verifying a 256 MiB blob through `createVerifier` (stream, hash, hold-back)
 *   against `sha256sum` of the same file;
 * - parsing and validating 10 000 eight-layer manifests with the ajv schemas
 *   compiled once (no peer; JSON.parse alone is about half of it);
 * - generating and validating a runtime spec, 10 000 times, against one
 *   `runc spec` (which only writes the default config.json).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { createCipheriv, createHash } from 'node:crypto';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { commandExists, runCommand, tempDir, type Benchmark, type TempDir } from '@berth/testkit';
import {
  OciMediaType, createVerifier, digestOf, generateSpec, parseManifest, validateRuntimeSpec, withArgs, withEnv,
  withMemoryLimit, withUser, type Digest,
} from '@berth/oci-spec';

const size = Number(process.env.BERTH_BENCH_VERIFY_MB ?? 256) << 20;
let dir: TempDir | undefined;
let blob = '';
let digest = '' as Digest;
let users = 0;

async function setup(): Promise<void> {
  users += 1;
  if (dir) return;
  dir = await tempDir('berth-oci-spec-bench-');
  blob = path.join(dir.path, 'blob');
  const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 3), Buffer.alloc(16));
  const h = createHash('sha256');
  async function* gen(): AsyncGenerator<Buffer> {
    const zeros = Buffer.alloc(1 << 20);
    for (let left = size; left > 0; left -= zeros.length) {
      const c = cipher.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
      h.update(c);
      yield c;
    }
  }
  await pipeline(Readable.from(gen()), createWriteStream(blob));
  digest = `sha256:${h.digest('hex')}` as Digest;
}

async function teardown(): Promise<void> {
  users -= 1;
  if (users > 0 || !dir) return;
  await dir.cleanup();
  dir = undefined;
}

const discard = (): Writable => new Writable({ write(_c, _e, cb) { cb(); } });

const manifestBytes = Buffer.from(JSON.stringify({
  schemaVersion: 2,
  mediaType: OciMediaType.ImageManifest,
  config: { mediaType: OciMediaType.ImageConfig, digest: digestOf('{}'), size: 2 },
  layers: Array.from({ length: 8 }, (_, i) => ({
    mediaType: OciMediaType.LayerGzip, digest: digestOf(`layer${i}`), size: 1000 + i,
    annotations: { 'org.opencontainers.image.title': `layer${i}` },
  })),
  annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
}));

/** The benchmarks `npm run bench` runs. */
export const benchmarks: Benchmark[] = [
  {
    group: `oci-spec: verify a ${size >> 20} MiB blob`,
    name: 'berth createVerifier',
    tool: 'berth',
    setup,
    teardown,
    iterations: 5,
    async run() {
      await pipeline(createReadStream(blob, { highWaterMark: 1 << 20 }), createVerifier({ digest, size }), discard());
    },
  },
  {
    group: `oci-spec: verify a ${size >> 20} MiB blob`,
    name: 'sha256sum',
    tool: 'sha256sum',
    available: () => commandExists('sha256sum'),
    setup,
    teardown,
    iterations: 5,
    async run() {
      const r = await runCommand('sha256sum', [blob]);
      if (!r.stdout.toString().startsWith(digest.slice(7))) throw new Error('sha256sum disagrees');
    },
  },
  {
    group: 'oci-spec: parse and validate 10000 manifests',
    name: 'berth parseManifest',
    tool: 'berth',
    async run() {
      for (let i = 0; i < 10_000; i++) parseManifest(manifestBytes, OciMediaType.ImageManifest);
    },
  },
  {
    group: 'oci-spec: runtime spec generation',
    name: 'berth generateSpec + validate ×1000',
    tool: 'berth',
    async run() {
      for (let i = 0; i < 1000; i++) {
        validateRuntimeSpec(generateSpec(withArgs(['sh']), withEnv(['A=1']), withUser(1000), withMemoryLimit(1 << 26)));
      }
    },
  },
  {
    group: 'oci-spec: runtime spec generation',
    name: 'runc spec ×1',
    tool: 'runc',
    available: () => commandExists('runc'),
    setup,
    teardown,
    async run() {
      const bundle = path.join(dir!.path, 'bundle');
      await fs.rm(bundle, { recursive: true, force: true });
      await fs.mkdir(bundle);
      await runCommand('runc', ['spec', '--bundle', bundle]);
    },
  },
];
