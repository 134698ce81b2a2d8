/**
 * Several berth processes changing one root at once (berth is daemonless:
 * two `berth run` in two shells, a `volume prune` beside a `run`, a
 * supervisor recording an exit beside a `rename`). Each test starts real
 * processes (test/helpers/shared-root-worker.ts) that begin their work
 * together, or a second engine on the root of a first.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deleteNetns, openCniNetworkManager, openEngine, openFileContainerStore, run, openJournalEventBus, openLocalImageService, openLocalVolumeStore } from '@berth/engine';
import { tempDir, isRoot } from './helpers/tmp.js';
import { createOptions, openPulledEngine } from './helpers/pulled-engine.js';

const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers', 'shared-root-worker.js');

interface Worker { ready: Promise<void>; result: Promise<Record<string, unknown>> }

function startWorker(root: string, args: string[]): Worker {
  const child = spawn(process.execPath, [worker, args[0]!, root, ...args.slice(1)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let readyFn!: () => void;
  const ready = new Promise<void>((r) => { readyFn = r; });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    out += d;
    if (out.startsWith('ready\n')) readyFn();
  });
  const result = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      readyFn();
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        const parsed = JSON.parse(last) as Record<string, unknown>;
        if (code !== 0) reject(new Error(`worker ${args.join(' ')} exited ${code}: ${last}`));
        else resolve(parsed);
      } catch {
        reject(new Error(`worker ${args.join(' ')} exited ${code}: ${out}`));
      }
    });
  });
  result.catch(() => undefined);
  return { ready, result };
}

/** Starts one worker per argument list, lets them all go at once, returns their results. */
async function runTogether(root: string, argLists: string[][]): Promise<Array<Record<string, unknown>>> {
  const workers = argLists.map((a) => startWorker(root, a));
  await Promise.all(workers.map((w) => w.ready));
  fs.writeFileSync(path.join(root, 'go'), '');
  return Promise.all(workers.map((w) => w.result));
}

test('four processes updating one container record at once lose none of each other\'s changes', async (t) => {
  const root = await tempDir();
  const store = await openFileContainerStore({ root });
  const r = await store.create({ image: 'busybox', path: 'true', name: 'shared' });
  const n = 120;
  await runTogether(root, ['a', 'b', 'c', 'd'].map((p) => ['label', r.Id, p, String(n)]));
  const labels = (await store.get(r.Id)).Config.Labels;
  const missing = ['a', 'b', 'c', 'd'].flatMap((p) => Array.from({ length: n }, (_, i) => `${p}${i}`)).filter((k) => labels[k] !== '1');
  t.deepEqual(missing, [], `${missing.length} of ${4 * n} updates were lost`);
});

test('six processes creating containers of the same names at once: each name goes to exactly one container', async (t) => {
  const root = await tempDir();
  const n = 25;
  const results = await runTogether(root, Array.from({ length: 6 }, () => ['names', 'n', String(n)]));
  const store = await openFileContainerStore({ root });
  const all = await store.list({ all: true });
  for (let i = 0; i < n; i++) {
    const name = `n${i}`;
    const winners = results.filter((r) => (r.won as string[]).includes(name)).length;
    t.is(winners, 1, `${name} was given to ${winners} containers`);
    t.is(all.filter((c) => c.Name === `/${name}`).length, 1, `${name}: one record`);
    for (const r of results) {
      const code = (r.refused as Record<string, string>)[name];
      if (code !== undefined) t.is(code, 'ERR_ENGINE_NAME_IN_USE');
    }
  }
  // Every name resolves to the record that holds it.
  for (const c of all) t.is((await store.get(c.Name.slice(1))).Id, c.Id);
});

test('six processes opening the networks of a fresh root and creating networks at once: one of each predefined network, distinct subnets', async (t) => {
  const root = await tempDir();
  const results = await runTogether(root, Array.from({ length: 6 }, (_, i) => ['network-create', `net${i}`]));
  for (const r of results) t.is(r.error, undefined);
  const subnets = results.map((r) => r.subnet as string);
  t.is(new Set(subnets).size, subnets.length, `subnets: ${subnets.join(' ')}`);
  const records = fs.readdirSync(path.join(root, 'networks')).filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(root, 'networks', f), 'utf8')) as { Name: string });
  const names = records.map((r) => r.Name).sort();
  t.deepEqual(names, ['bridge', 'host', 'net0', 'net1', 'net2', 'net3', 'net4', 'net5', 'none']);
});

test('four processes creating one network name at once: one gets it, the others ERR_ENGINE_NETWORK_EXISTS', async (t) => {
  const root = await tempDir();
  const results = await runTogether(root, Array.from({ length: 4 }, () => ['network-create', 'same']));
  t.is(results.filter((r) => r.error === undefined).length, 1);
  for (const r of results) if (r.error !== undefined) t.is(r.error, 'ERR_ENGINE_NETWORK_EXISTS');
  const records = fs.readdirSync(path.join(root, 'networks')).filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(root, 'networks', f), 'utf8')) as { Name: string });
  t.is(records.filter((r) => r.Name === 'same').length, 1);
});

const rootTest = isRoot ? test.serial : test.skip;

rootTest('a volume prune in another process never removes the volumes of a container being created (root, registry)', async (t) => {
  const env = await openPulledEngine({ bridgePrefix: 'bv', subnet: '10.213.0.0/16', pool: '10.214.0.0/16' });
  t.teardown(() => env.close());
  const root = env.engine.root;
  const pruner = startWorker(root, ['volume-prune']);
  await pruner.ready;
  fs.writeFileSync(path.join(root, 'go'), '');
  const made: string[] = [];
  try {
    for (let i = 0; i < 40; i++) {
      const c = await env.engine.containers.create(createOptions(env.ref, {
        cmd: ['true'],
        mounts: [
          { Type: 'volume', Source: '', Target: '/anon', ReadOnly: false },
          { Type: 'volume', Source: `named${i}`, Target: '/named', ReadOnly: false },
        ],
      }));
      made.push(c.Id);
      await env.engine.volumes.create({ name: `decoy${i}` }); // unreferenced: the other process's to prune
    }
  } finally {
    fs.writeFileSync(path.join(root, 'stop'), '');
  }
  const pruned = (await pruner.result).deleted as string[];
  t.true(pruned.some((v) => v.startsWith('decoy')), 'the other process pruned meanwhile');
  t.false(pruned.some((v) => !v.startsWith('decoy')), `pruned: ${pruned.join(' ')}`);
  const volumes = await openLocalVolumeStore({ root });
  for (const id of made) {
    const r = await env.engine.containers.store.get(id);
    for (const m of r.Mounts) {
      if (m.Type !== 'volume') continue;
      t.true(fs.existsSync(path.join(root, 'volumes', m.Name!, 'volume.json')), `volume ${m.Name} of ${id.slice(0, 12)} exists`);
      t.true((await volumes.holders(m.Name!)).includes(id), `volume ${m.Name} is held by ${id.slice(0, 12)}`);
    }
  }
});

/** A second engine (as another CLI process opens it) on the root of `env`, with an image service of its own. */
async function secondEngine(env: Awaited<ReturnType<typeof openPulledEngine>>) {
  const root = env.engine.root;
  const events = await openJournalEventBus({ root });
  const images = await openLocalImageService({ root, events });
  const engine = await openEngine({ root, eventBus: events, imageService: images, defaultBridge: env.bridge, defaultSubnet: '10.213.0.0/16', subnetPool: '10.214.0.0/16' });
  return {
    engine,
    async close() {
      await engine.close();
      await images.close();
      await images.snapshotter.close();
      await images.store.close();
    },
  };
}

/** An engine on a root with the busybox image pulled, and a second engine on the same root (as a second CLI process opens it); both closed at teardown. */
async function twoEnginesOnOneRoot(t: ExecutionContext, net: Parameters<typeof openPulledEngine>[0]) {
  const env = await openPulledEngine(net);
  t.teardown(() => env.close());
  const other = await secondEngine(env);
  t.teardown(() => other.close());
  return { env, other };
}

rootTest('two engines on one root starting one container at once: it runs once, the other start is refused (root, registry)', async (t) => {
  const { env, other } = await twoEnginesOnOneRoot(t, { bridgePrefix: 'bv', subnet: '10.213.0.0/16', pool: '10.214.0.0/16' });
  for (let round = 0; round < 3; round++) {
    const c = await env.engine.containers.create(createOptions(env.ref, { cmd: ['sh', '-c', 'echo started; sleep 1'] }));
    const starts = await Promise.allSettled([env.engine.containers.start(c.Id), other.engine.containers.start(c.Id)]);
    const ok = starts.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    t.is(ok.length, 1, `round ${round}: ${starts.map((s) => (s.status === 'rejected' ? (s.reason as { code?: string }).code ?? String(s.reason) : 'started')).join(', ')}`);
    for (const s of starts) if (s.status === 'rejected') t.is((s.reason as { code?: string }).code, 'ERR_ENGINE_INVALID_ARGUMENT');
    if (ok.length === 0) continue;
    t.is((await ok[0]!.wait()).StatusCode, 0);
    const lines: string[] = [];
    for await (const e of env.engine.containers.logs(c.Id)) lines.push(e.log);
    t.deepEqual(lines.join('').split('\n').filter(Boolean), ['started'], `round ${round}`);
    t.is((await env.engine.containers.store.get(c.Id)).State.Status, 'exited');
  }
});

rootTest('a remove in a second engine while the first starts the container: either the start or the remove is refused, nothing runs without a record (root, registry)', async (t) => {
  const { env, other } = await twoEnginesOnOneRoot(t, { bridgePrefix: 'bv', subnet: '10.213.0.0/16', pool: '10.214.0.0/16' });
  for (let round = 0; round < 10; round++) {
    const c = await env.engine.containers.create(createOptions(env.ref, { cmd: ['sh', '-c', 'sleep 1'] }));
    // The remove goes 0, 2, 4… ms after the start, to land in different steps of it.
    const later = new Promise<void>((r) => setTimeout(r, round * 2));
    const [start, rm] = await Promise.allSettled([env.engine.containers.start(c.Id), later.then(() => other.engine.containers.remove(c.Id))]);
    const codes = [start, rm].map((s) => (s.status === 'rejected' ? (s.reason as { code?: string }).code ?? String(s.reason) : 'ok'));
    if (start.status === 'fulfilled') {
      t.is(rm.status, 'rejected', `round ${round}: ${codes.join(', ')}`);
      t.is((await start.value.wait()).StatusCode, 0, `round ${round}`);
      t.is((await env.engine.containers.store.get(c.Id)).State.Status, 'exited');
      await env.engine.containers.remove(c.Id);
    } else {
      t.is(rm.status, 'fulfilled', `round ${round}: ${codes.join(', ')}`);
      await t.throwsAsync(env.engine.containers.store.get(c.Id), { code: 'ERR_ENGINE_CONTAINER_NOT_FOUND' });
    }
    // Nothing of the container is left running or mounted.
    t.false(fs.existsSync(path.join(env.engine.root, 'run', 'bundles', c.Id, 'rootfs', 'bin')), `round ${round}: rootfs still mounted`);
  }
});

test('four processes asking a fresh root for the engine id at once all get the one that stays', async (t) => {
  const root = await tempDir();
  const results = await runTogether(root, Array.from({ length: 4 }, () => ['info']));
  const ids = new Set(results.map((r) => r.id as string));
  t.is(ids.size, 1, [...ids].join(' '));
  t.is(fs.readFileSync(path.join(root, 'engine-id'), 'utf8').trim(), [...ids][0]);
});

test('four processes appending events past the rotation size: a rotated journal is a full one, never a just-rotated one renamed again', async (t) => {
  const root = await tempDir();
  const maxBytes = 4096; // every append looks at the size (maxBytes / 8 is less than an event)
  const results = await runTogether(root, Array.from({ length: 4 }, () => ['events', '300', String(maxBytes)]));
  // Each process looked at the rotated journal after each of its appends.
  for (const r of results) t.true((r.smallest as number) > maxBytes, `events.jsonl.1 had ${r.smallest as number} bytes`);
  t.true(fs.statSync(path.join(root, 'events.jsonl.1')).size > maxBytes);
});

rootTest('four processes making the first network namespaces of a fresh run root: its directory is made a private mount point once (root)', async (t) => {
  const root = await tempDir();
  const ids = Array.from({ length: 4 }, (_, i) => `${i}`.repeat(64));
  const results = await runTogether(root, ids.map((id) => ['sandbox', id]));
  const dir = fs.realpathSync(path.join(root, 'run', 'netns'));
  const mountsAt = (p: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === p);
  t.is(mountsAt(dir).length, 1);
  for (const r of results) {
    const at = mountsAt(r.file as string);
    t.is(at.length, 1, `${r.file as string} is bound once`);
    t.is(at[0]?.split(' - ')[1]?.split(' ')[0], 'nsfs', 'a namespace file');
  }
  for (const r of results) await deleteNetns(r.file as string);
});

rootTest('a network removed by a second manager while the first attaches a container to it: either the remove or the attach is refused (root, CNI)', async (t) => {
  const root = await tempDir();
  const opts = { root, pool: '10.216.0.0/16', defaultSubnet: '10.215.0.0/16', defaultBridge: `bw${process.pid % 10000}` };
  const a = await openCniNetworkManager(opts);
  const b = await openCniNetworkManager(opts);
  const bridges: string[] = [];
  t.teardown(async () => { for (const br of bridges) await run('ip', ['link', 'del', br], { allowFailure: true }); });
  for (let round = 0; round < 6; round++) {
    const bridge = `bw${process.pid % 10000}r${round}`;
    bridges.push(bridge);
    const n = await a.create({ name: `race${round}`, options: { 'com.docker.network.bridge.name': bridge } });
    const id = `${round}`.repeat(64);
    const ns = await a.createSandbox(id);
    // The remove goes 0, 4, 8… ms after the attach began, to land in different steps of it.
    const later = new Promise<void>((r) => setTimeout(r, round * 4));
    const [attach, rm] = await Promise.allSettled([
      a.attach(n.Id, { containerId: id, containerName: `c${round}`, netnsPath: ns }),
      later.then(() => b.remove(n.Id)),
    ]);
    const codes = [attach, rm].map((s) => (s.status === 'rejected' ? (s.reason as { code?: string }).code ?? String(s.reason) : 'ok'));
    if (attach.status === 'fulfilled') {
      t.is(rm.status, 'rejected', `round ${round}: ${codes.join(', ')}`);
      if (rm.status === 'rejected') t.is((rm.reason as { code?: string }).code, 'ERR_ENGINE_NETWORK_IN_USE');
      t.deepEqual(Object.keys((await b.inspect(n.Id)).Containers), [id]);
    } else {
      t.is(rm.status, 'fulfilled', `round ${round}: ${codes.join(', ')}`);
      t.is((attach.reason as { code?: string }).code, 'ERR_ENGINE_NETWORK_NOT_FOUND');
    }
    // No endpoint is left recorded on a network that is gone.
    t.deepEqual((await a.endpoints(id)).filter((e) => e.networkId === n.Id && rm.status === 'fulfilled'), [], `round ${round}`);
    await a.removeSandbox(id);
    await a.remove(n.Id).catch(() => undefined);
  }
});

rootTest('a tmpfs volume mounted for a container by one store while another unmounts it for its last user: it stays mounted for the new one (root)', async (t) => {
  const root = await tempDir();
  const a = await openLocalVolumeStore({ root });
  const b = await openLocalVolumeStore({ root });
  const v = await a.create({ name: 'scratch', options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' } });
  const mounted = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === v.Mountpoint);
  for (let round = 0; round < 8; round++) {
    const first = `${round}a`.padEnd(64, '0');
    const second = `${round}b`.padEnd(64, '0');
    await a.mount(v.Name, first);
    // The new user's mount goes 0, 1, 2… ms after the last user's unmount began.
    const later = new Promise<void>((r) => setTimeout(r, round));
    await Promise.all([a.unmount(v.Name, first), later.then(() => b.mount(v.Name, second))]);
    t.true(mounted(), `round ${round}: mounted for its user`);
    await b.unmount(v.Name, second);
    t.false(mounted(), `round ${round}: unmounted after its last user`);
  }
});

rootTest('two engines starting containers that publish one host port at once: one gets it, the other ERR_ENGINE_PORT_ALLOCATED; free again after the exit (root, registry, CNI)', async (t) => {
  const { env, other } = await twoEnginesOnOneRoot(t, { bridgePrefix: 'bp', subnet: '10.213.0.0/16', pool: '10.214.0.0/16' });
  const hostPort = 20000 + (process.pid % 20000);
  const publishing = () => createOptions(env.ref, {
    cmd: ['sleep', '1'], networkMode: 'bridge', publish: [{ hostIP: '', hostPort, containerPort: 80, protocol: 'tcp' }],
  });
  const [c1, c2] = [await env.engine.containers.create(publishing()), await other.engine.containers.create(publishing())];
  const starts = await Promise.allSettled([env.engine.containers.start(c1.Id), other.engine.containers.start(c2.Id)]);
  const ok = starts.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  t.is(ok.length, 1, starts.map((s) => (s.status === 'rejected' ? (s.reason as { code?: string }).code ?? String(s.reason) : 'started')).join(', '));
  for (const s of starts) if (s.status === 'rejected') t.is((s.reason as { code?: string }).code, 'ERR_ENGINE_PORT_ALLOCATED');
  if (ok.length !== 1) return;
  const winner = ok[0]!.id;
  t.is((await env.engine.containers.store.get(winner)).NetworkSettings.Ports['80/tcp']?.[0]?.HostPort, String(hostPort));
  t.is((await ok[0]!.wait()).StatusCode, 0);
  // Exited: the port is free for the other one.
  const loser = winner === c1.Id ? c2.Id : c1.Id;
  const h = await (loser === c1.Id ? env : other).engine.containers.start(loser);
  t.is((await h.wait()).StatusCode, 0);
});

rootTest('a user network removed by a second engine while the first creates containers on it: no container is left naming a removed network (root, registry)', async (t) => {
  const { env, other } = await twoEnginesOnOneRoot(t, { bridgePrefix: 'bu', subnet: '10.213.0.0/16', pool: '10.214.0.0/16' });
  for (let round = 0; round < 8; round++) {
    const n = await env.engine.networks.create({ name: `users${round}` });
    const later = new Promise<void>((r) => setTimeout(r, round * 3));
    const creates = (async () => {
      const out: Array<string> = [];
      for (let i = 0; i < 3; i++) {
        try {
          out.push((await env.engine.containers.create(createOptions(env.ref, { cmd: ['true'], networkMode: n.Name }))).Id);
        } catch (e) {
          t.is((e as { code?: string }).code, 'ERR_ENGINE_NETWORK_NOT_FOUND', `round ${round}`);
        }
      }
      return out;
    })();
    const [made, rm] = await Promise.all([creates, later.then(() => other.engine.networks.remove(n.Id).then(() => 'removed', (e: { code?: string }) => e.code ?? String(e)))]);
    if (rm === 'removed') {
      const naming = (await env.engine.containers.store.list({ all: true })).filter((r) => n.Name in r.NetworkSettings.Networks);
      t.deepEqual(naming.map((r) => r.Id), [], `round ${round}: the network was removed under ${naming.length} containers`);
    } else {
      t.is(rm, 'ERR_ENGINE_NETWORK_IN_USE', `round ${round}`);
    }
    for (const id of made) await env.engine.containers.remove(id);
    await env.engine.networks.remove(n.Id).catch(() => undefined);
  }
});
