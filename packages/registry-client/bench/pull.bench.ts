/**
 * Pull throughput: every blob of the multi-layer fixture from a local
 * docker-registry, berth's fetcher (concurrent, verified, to /dev/null)
 * against `skopeo copy docker://… oci:…` in the same run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  commandExists, fixture, runCommand, startRegistry, tempDir, type Benchmark, type TempDir, type TestRegistry,
} from '@berth/testkit';
import { createRegistryClient } from '@berth/registry-client';

const group = 'registry pull: every blob of the multilayer fixture (oci-gzip)';
const f = fixture('multilayer', 'oci-gzip');

let users = 0;
let registry: Promise<TestRegistry> | undefined;
let dir: TempDir | undefined;

async function acquire(): Promise<TestRegistry> {
  users++;
  registry ??= startRegistry({ seed: true });
  dir ??= await tempDir('registry-client-bench');
  return registry;
}

async function release(): Promise<void> {
  if (--users > 0) return;
  const r = registry;
  registry = undefined;
  await (await r)?.close();
  await dir?.cleanup();
  dir = undefined;
}

let reg: TestRegistry;
let copies = 0;

/** The benchmark entries of this file. */
export const benchmarks: Benchmark[] = [
  {
    group,
    name: 'berth registry-client fetch (verified, to /dev/null)',
    tool: 'berth',
    iterations: 10,
    warmup: 1,
    async setup() { reg = await acquire(); },
    async run() {
      // A fresh client per run: cold connections and token cache, as a new skopeo process has.
      const client = createRegistryClient({ concurrency: 8 });
      try {
        const ref = `${reg.host}/${f.repo}:${f.tag}`;
        const { descriptor } = await client.resolve(ref);
        const fetcher = client.fetcher(ref);
        const { manifest } = await fetcher.fetchManifest(descriptor, { platform: { os: 'linux', architecture: 'amd64' } });
        await Promise.all([manifest!.config, ...manifest!.layers].map(async (d) => {
          await pipeline(await fetcher.fetch(d), fs.createWriteStream('/dev/null'));
        }));
      } finally {
        await client.close();
      }
    },
    teardown: release,
  },
  {
    group,
    name: 'skopeo copy docker:// → oci:',
    tool: 'skopeo',
    iterations: 10,
    warmup: 1,
    available: () => commandExists('skopeo'),
    async setup() { reg = await acquire(); },
    async run() {
      const dest = path.join(dir!.path, `copy-${copies++}`);
      await runCommand('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reg.host}/${f.repo}:${f.tag}`, `oci:${dest}:x`]);
    },
    teardown: release,
  },
];
