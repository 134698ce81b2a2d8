/**
 * What the engine benchmarks share: one seeded registry per bench file,
 * reference-counted across its entries, podman's private configuration
 * (DEVELOPERS.md), the lazy unmount of whatever a tool left
 * mounted under its directory, and the embedded engine berth's entries
 * open, with Docker's create defaults.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { runCommand, startRegistry, type TestRegistry } from '@berth/testkit';
import {
  openEngine, openJournalEventBus, openLocalImageService, type CreateContainerOptions, type LocalEngine, type LocalImageService,
} from '@berth/engine';

/** A registry started by the first entry that acquires it and closed by the last release. */
export interface SharedRegistry {
  acquire(): Promise<TestRegistry>;
  release(): Promise<void>;
}

/** A {@link SharedRegistry}; `start` defaults to a registry seeded with every fixture. */
export function sharedRegistry(start: () => Promise<TestRegistry> = () => startRegistry({ seed: true })): SharedRegistry {
  let users = 0;
  let registry: Promise<TestRegistry> | undefined;
  return {
    async acquire() {
      users++;
      registry ??= start();
      return registry;
    },
    async release() {
      if (--users > 0) return;
      const r = registry;
      registry = undefined;
      await (await r)?.close();
    },
  };
}

/** Lazily unmounts, deepest first, every mount below `dir`. */
export async function unmountUnder(dir: string): Promise<void> {
  await runCommand('sh', ['-c', `grep ' ${dir}' /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l`], { allowFailure: true });
}

/**
 * Writes podman's containers.conf, storage.conf and registries.conf into
 * `dir` (cgroupfs, file locks and events, CNI, rlimits this host allows,
 * `insecureRegistry` as plain HTTP) and returns the environment that points
 * podman at them.
 */
export async function podmanEnv(dir: string, insecureRegistry: string): Promise<NodeJS.ProcessEnv> {
  await fs.writeFile(path.join(dir, 'containers.conf'), [
    '[containers]', 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
    '[engine]', 'cgroup_manager = "cgroupfs"', 'events_logger = "file"', 'lock_type = "file"',
    '[network]', 'network_backend = "cni"', 'cni_plugin_dirs = ["/usr/lib/cni"]', '',
  ].join('\n'));
  await fs.writeFile(path.join(dir, 'storage.conf'), ['[storage]', 'driver = "overlay"', `graphroot = "${dir}/graph"`, `runroot = "${dir}/run"`, ''].join('\n'));
  await fs.writeFile(path.join(dir, 'registries.conf'), ['[[registry]]', `location = "${insecureRegistry}"`, 'insecure = true', ''].join('\n'));
  return {
    ...process.env,
    CONTAINERS_CONF: path.join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: path.join(dir, 'registries.conf'),
  };
}

/**
 * Closes an embedded engine, then its image service (the service, its
 * snapshotter, its store), then unmounts and removes their temp dir.
 */
export async function closeEmbedded(
  engine: { close(): Promise<void> } | undefined,
  images: { close(): Promise<void>; snapshotter: { close(): Promise<void> }; store: { close(): Promise<void> } } | undefined,
  dir: { path: string; cleanup(): Promise<void> } | undefined,
): Promise<void> {
  await engine?.close();
  await images?.close();
  await images?.snapshotter.close();
  await images?.store.close();
  if (dir) {
    await unmountUnder(dir.path);
    await dir.cleanup();
  }
}

/** Resets a private podman (its storage under `dir`), unmounts what it left there and removes `dir`. */
export async function resetPodman(dir: { path: string; cleanup(): Promise<void> }, env: NodeJS.ProcessEnv): Promise<void> {
  await runCommand('podman', ['system', 'reset', '-f'], { env, allowFailure: true, output: 'ignore' });
  await unmountUnder(dir.path);
  await dir.cleanup();
}

/** An engine and its local image service, embedded in the bench process. */
export interface Embedded {
  engine: LocalEngine;
  images: LocalImageService;
}

/** Opens an engine (root `<dir>/root`, run root `<dir>/run`) with a local image service, and pulls `ref` into it. */
export async function openEmbedded(dir: string, ref: string): Promise<Embedded> {
  const root = path.join(dir, 'root');
  const events = await openJournalEventBus({ root });
  const images = await openLocalImageService({ root, events });
  const engine = await openEngine({ root, runRoot: path.join(dir, 'run'), eventBus: events, imageService: images });
  await images.pull(ref);
  return { engine, images };
}

/** Docker's defaults for a `create` of `image` (no network, no limits, json-file log), then `o`. */
export function createDefaults(image: string, o: Partial<CreateContainerOptions> = {}): CreateContainerOptions {
  return {
    image, env: [], tty: false, openStdin: false, labels: {}, mounts: [], publish: [], publishAll: false, expose: [],
    networkMode: 'none', networkAliases: [], autoRemove: false, memory: 0, nanoCpus: 0, restartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    logConfig: { Type: 'json-file', Config: {} }, readOnly: false, privileged: false, capAdd: [], capDrop: [], extraHosts: [], dns: [], init: false,
    ...o,
  };
}
