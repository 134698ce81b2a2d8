/** An engine on a temp root with busybox pulled from a test registry: the set-up the container tests share. */
import { randomBytes } from 'node:crypto';
import { fixture, startRegistry, type TestRegistry } from '@berth/testkit';
import { openEngine, openJournalEventBus, openLocalImageService, run, type CreateContainerOptions, type LocalEngine, type LocalImageService } from '@berth/engine';
import { tempDir } from './tmp.js';

/** What {@link openPulledEngine} made; `close` undoes all of it. */
export interface PulledEngine {
  reg: TestRegistry;
  engine: LocalEngine;
  images: LocalImageService;
  /** The busybox fixture's reference in `reg`. */
  ref: string;
  /** The default bridge's name, unique to this test file's run. */
  bridge: string;
  close(): Promise<void>;
}

/**
 * Starts a registry, opens an engine whose default bridge and subnets are the
 * test file's own (so files running at once do not share a bridge), and
 * pulls busybox. `close` force-removes containers a failed test left, closes
 * everything, and deletes the bridge (the engine never does).
 */
export async function openPulledEngine(net: { bridgePrefix: string; subnet: string; pool: string }): Promise<PulledEngine> {
  const reg = await startRegistry();
  const root = await tempDir();
  const events = await openJournalEventBus({ root });
  const images = await openLocalImageService({ root, events });
  const bridge = `${net.bridgePrefix}${randomBytes(3).toString('hex')}`;
  const engine = await openEngine({ root, eventBus: events, imageService: images, defaultBridge: bridge, defaultSubnet: net.subnet, subnetPool: net.pool });
  const f = fixture('busybox', 'oci-gzip');
  const ref = `${reg.host}/${f.repo}:${f.tag}`;
  await images.pull(ref);
  return {
    reg, engine, images, ref, bridge,
    async close() {
      for (const c of await engine.containers.list({ all: true })) await engine.containers.remove(c.Id, { force: true }).catch(() => undefined);
      await engine.close();
      await images.close();
      await images.snapshotter.close();
      await images.store.close();
      await reg.close();
      await run('ip', ['link', 'del', bridge], { allowFailure: true });
    },
  };
}

/** Docker's defaults for a `create` of `image` (no network, no limits, json-file log), then `o`. */
export function createOptions(image: string, o: Partial<CreateContainerOptions> = {}): CreateContainerOptions {
  return {
    image, env: [], tty: false, openStdin: false, labels: {}, mounts: [], publish: [], publishAll: false, expose: [],
    networkMode: 'none', networkAliases: [], autoRemove: false, memory: 0, nanoCpus: 0, restartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    logConfig: { Type: 'json-file', Config: {} }, readOnly: false, privileged: false, capAdd: [], capDrop: [], extraHosts: [], dns: [], init: false,
    ...o,
  };
}

/** Creates and starts a container of `options` on `engine`, collecting its output, and waits for its exit. */
export async function runToExit(engine: LocalEngine, options: CreateContainerOptions): Promise<{ id: string; code: number; out: string }> {
  const r = await engine.containers.create(options);
  let out = '';
  const h = await engine.containers.start(r.Id, { onOutput: (_s, c) => { out += c; } });
  return { id: r.Id, code: (await h.wait()).StatusCode, out };
}
