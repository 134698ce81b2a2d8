/**
 * Pull + unpack of the multi-layer fixture from a local docker-registry:
 * its first three layers (busybox, the umoci-made files, the 20 MiB random
 * file: ~23 MB compressed), pushed as `multilayer-peers:3`, because docker
 * 20.10 and podman 4.3 both fail on the fixture's fourth layer (a tar
 * hardlink to a file of a lower layer: "processing tar file(no such file or
 * directory)"), which berth unpacks. berth's image
 * service against `docker pull` (dockerd 20.10, started here with the flags
 * of /work/shared/PEERS.md and stopped afterwards) and `podman pull` (its
 * own storage and config in a temp dir).
 *
 * Every timed run starts cold: it first removes the image pulled by the
 * previous run (`rmi`, then for berth a GC of the content store; docker and
 * podman delete layers at once), then pulls. The removal is part of every
 * entry's time, the same way for all three.
 *
 * Two groups. berth makes every blob and snapshot durable before it is
 * visible (the pull's blobs go through one image-store commit batch: each
 * blob's fsync starts once it is verified, then one publish; one syncfs, on
 * a worker thread, shared by the snapshot commits of the concurrently
 * unpacked layers); docker
 * and podman do not sync, and the dirty data they leave is flushed by the
 * next syncfs, which berth pays for in an interleaved run. So:
 * - "durable": every entry's run ends with `sync`, so each tool is timed
 *   until its image is on disk (the same guarantee for all three);
 * - "as shipped": no sync added (berth still syncs; the others do not).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { digestOf, type Descriptor } from '@berth/oci-spec';
import { createRegistryClient } from '@berth/registry-client';
import {
  commandExists, fixture, readFixtureManifest, runCommand, startRegistry, tempDir, type Benchmark, type TempDir, type TestRegistry,
} from '@berth/testkit';
import { openLocalImageService, type LocalImageService } from '@berth/engine';
import { dockerdAvailable, startBenchDockerd, type BenchDockerd } from './dockerd.js';
import { podmanEnv as writePodmanConfig, resetPodman, sharedRegistry } from './peers.js';

const f = fixture('multilayer', 'docker-gzip');
const groupName = 'image pull + unpack: multilayer fixture, layers 1-3 (docker-gzip) from a local registry';
const benchRepo = 'multilayer-peers:3';

const { acquire, release } = sharedRegistry(async () => {
  const reg = await startRegistry({ seed: true });
  await pushFirstLayers(reg);
  return reg;
});

/** Pushes the fixture's first three layers with a config cut to match, as `multilayer-peers:3`. */
async function pushFirstLayers(reg: TestRegistry): Promise<void> {
  const blob = (digest: string) => fs.readFile(path.join(f.path, digest.slice(7)));
  const manifest = JSON.parse(readFixtureManifest(f).bytes.toString()) as { mediaType: string; config: Descriptor; layers: Descriptor[] };
  const config = JSON.parse((await blob(manifest.config.digest)).toString()) as {
    rootfs: { diff_ids: string[] }; history?: Array<{ empty_layer?: boolean }>;
  };
  const layers = manifest.layers.slice(0, 3);
  config.rootfs.diff_ids = config.rootfs.diff_ids.slice(0, 3);
  if (config.history) {
    let n = 0;
    config.history = config.history.filter((h) => (h.empty_layer ? n < 3 : ++n <= 3));
  }
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDesc: Descriptor = { mediaType: manifest.config.mediaType, digest: digestOf(configBytes), size: configBytes.length };
  const bytes = Buffer.from(JSON.stringify({ ...manifest, config: configDesc, layers }));
  const client = createRegistryClient({});
  try {
    const pusher = client.pusher(`${reg.host}/${benchRepo}`);
    for (const l of layers) await pusher.pushBlob(l, await blob(l.digest), { mountFrom: [f.repo] });
    await pusher.pushBlob(configDesc, configBytes);
    await pusher.pushManifest({ mediaType: manifest.mediaType, digest: digestOf(bytes), size: bytes.length }, bytes);
  } finally {
    await client.close();
  }
}

const refOf = (reg: TestRegistry): string => `${reg.host}/${benchRepo}`;

function entries(durable: boolean): Benchmark[] {
  const group = `${groupName}${durable ? ', durable (each run ends with sync)' : ', as shipped (no sync added)'}`;
  const finish = async (): Promise<void> => { if (durable) await runCommand('sync', []); };

  // berth: the image service embedded in this process (as dockerd is a running daemon).
  let berthDir: TempDir | undefined;
  let berth: LocalImageService | undefined;
  let berthReg: TestRegistry;

  // docker: a private dockerd.
  let dockerd: BenchDockerd | undefined;
  let dockerReg: TestRegistry;
  const dockerArgs = (...args: string[]): string[] => dockerd!.args(...args);

  // podman: private storage and config.
  let podmanDir: TempDir | undefined;
  let podmanEnv: NodeJS.ProcessEnv = {};
  let podmanReg: TestRegistry;

  async function startDockerd(reg: TestRegistry): Promise<void> {
    dockerd = await startBenchDockerd(reg.host, '/tmp/bpd-');
  }

  async function stopDockerd(): Promise<void> {
    await dockerd?.stop();
    dockerd = undefined;
  }

  return [
    {
      group,
      name: 'berth ImageService.pull (fetch + unpack, embedded)',
      tool: 'berth',
      iterations: 8,
      warmup: 1,
      available: () => process.getuid?.() === 0,
      async setup() {
        berthReg = await acquire();
        berthDir = await tempDir('engine-pull-bench');
        berth = await openLocalImageService({ root: berthDir.path, platform: { os: 'linux', architecture: 'amd64' } });
      },
      async run() {
        const ref = refOf(berthReg);
        await berth!.remove(ref).catch(() => undefined);
        await berth!.pull(ref);
        await finish();
      },
      async teardown() {
        await berth?.close();
        berth = undefined;
        await berthDir?.cleanup();
        berthDir = undefined;
        await release();
      },
    },
    {
      group,
      name: 'docker pull (dockerd 20.10, overlay2)',
      tool: 'docker',
      iterations: 8,
      warmup: 1,
      available: dockerdAvailable,
      async setup() {
        dockerReg = await acquire();
        await startDockerd(dockerReg);
      },
      async run() {
        const ref = refOf(dockerReg);
        await runCommand('/usr/bin/docker', dockerArgs('rmi', ref), { allowFailure: true, output: 'ignore' });
        await runCommand('/usr/bin/docker', dockerArgs('pull', '-q', ref), { output: 'ignore' });
        await finish();
      },
      async teardown() {
        await stopDockerd();
        await release();
      },
    },
    {
      group,
      name: 'podman pull (4.3, overlay)',
      tool: 'podman',
      iterations: 8,
      warmup: 1,
      available: async () => process.getuid?.() === 0 && commandExists('podman'),
      async setup() {
        podmanReg = await acquire();
        podmanDir = await tempDir('engine-pull-bench-podman');
        podmanEnv = await writePodmanConfig(podmanDir.path, podmanReg.host);
      },
      async run() {
        const ref = refOf(podmanReg);
        await runCommand('podman', ['rmi', '-f', ref], { env: podmanEnv, allowFailure: true, output: 'ignore' });
        await runCommand('podman', ['pull', '-q', ref], { env: podmanEnv, output: 'ignore' });
        await finish();
      },
      async teardown() {
        if (podmanDir) await resetPodman(podmanDir, podmanEnv);
        podmanDir = undefined;
        await release();
      },
    },
  ];
}

/** The benchmark entries of this file. */
export const benchmarks: Benchmark[] = [...entries(true), ...entries(false)];
