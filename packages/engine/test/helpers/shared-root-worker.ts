/**
 * One berth process on a shared root, for the tests of several processes
 * changing the same state at once (berth is daemonless: every CLI process
 * opens the same root). Run as `node shared-root-worker.js <op> <root> …`:
 * it prints `ready`, waits for `<root>/go` (so that every worker starts its
 * work together), does `op`, prints one JSON line with what it did and exits.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openCniNetworkManager, openEngine, openFileContainerStore, openJournalEventBus, openLocalVolumeStore } from '@berth/engine';

const [op, root, ...args] = process.argv.slice(2) as [string, string, ...string[]];

function codeOf(e: unknown): string {
  return (e as { code?: string }).code ?? String(e);
}

async function main(): Promise<unknown> {
  switch (op) {
    case 'label': {
      // Adds labels <prefix>0…<prefix>n-1 to one record, one update each.
      const [ref, prefix, n] = args as [string, string, string];
      const store = await openFileContainerStore({ root });
      await go();
      for (let i = 0; i < Number(n); i++) await store.update(ref, (r) => { r.Config.Labels[`${prefix}${i}`] = '1'; }, { sync: false });
      return { done: Number(n) };
    }
    case 'names': {
      // Tries to create containers named <prefix>0…<prefix>n-1; returns the names it got.
      const [prefix, n] = args as [string, string];
      const store = await openFileContainerStore({ root });
      await go();
      const won: string[] = [];
      const refused: Record<string, string> = {};
      for (let i = 0; i < Number(n); i++) {
        try {
          await store.create({ image: 'busybox', path: 'true', name: `${prefix}${i}` });
          won.push(`${prefix}${i}`);
        } catch (e) {
          refused[`${prefix}${i}`] = codeOf(e);
        }
      }
      return { won, refused };
    }
    case 'volume-prune': {
      // Prunes every unreferenced volume until <root>/stop exists; returns what it removed.
      const volumes = await openLocalVolumeStore({ root });
      await go();
      const deleted: string[] = [];
      while (!fs.existsSync(path.join(root, 'stop'))) {
        deleted.push(...(await volumes.prune({ all: true })).VolumesDeleted);
        await sleep(0);
      }
      return { deleted };
    }
    case 'network-create': {
      // Opens the network manager (which makes the predefined networks on a fresh root) and creates `name`.
      const [name] = args as [string];
      const networks = await (async () => {
        await go();
        return openCniNetworkManager({ root, pool: '10.211.0.0/16', defaultSubnet: '10.210.0.0/16', defaultBridge: 'berth-none0' });
      })();
      try {
        const n = await networks.create({ name });
        return { id: n.Id, subnet: n.IPAM.Config[0]?.Subnet };
      } catch (e) {
        return { error: codeOf(e) };
      }
    }
    case 'sandbox': {
      // Makes a network namespace file for container <id> under <root>/run/netns (a fresh run root's first ones).
      const [id] = args as [string];
      const networks = await openCniNetworkManager({ root, pool: '10.211.0.0/16', defaultSubnet: '10.210.0.0/16', defaultBridge: 'berth-none0' });
      await go();
      return { file: await networks.createSandbox(id) };
    }
    case 'info': {
      // The engine's id, as `berth info` prints it.
      const engine = await openEngine({ root });
      await go();
      const info = await engine.info();
      await engine.close();
      return { id: info.ID };
    }
    case 'events': {
      // Publishes n events on a journal rotated past maxBytes.
      const [n, maxBytes] = args as [string, string];
      const bus = await openJournalEventBus({ root, maxBytes: Number(maxBytes) });
      await go();
      // After each, the size of the rotated journal (the smallest seen).
      let smallest = Infinity;
      for (let i = 0; i < Number(n); i++) {
        await bus.publish({ Type: 'volume', Action: 'create', Actor: { ID: `${process.pid}-${i}`, Attributes: { pad: 'x'.repeat(100) } } });
        const rotated = fs.statSync(path.join(root, 'events.jsonl.1'), { throwIfNoEntry: false });
        if (rotated) smallest = Math.min(smallest, rotated.size);
      }
      await bus.close();
      return { smallest };
    }
    default:
      throw new Error(`unknown op ${op}`);
  }
}

/** Says ready, then waits for the go file. */
async function go(): Promise<void> {
  process.stdout.write('ready\n');
  while (!fs.existsSync(path.join(root, 'go'))) await sleep(1);
}

main().then((out) => {
  process.stdout.write(`${JSON.stringify(out)}\n`);
}, (e) => {
  process.stdout.write(`${JSON.stringify({ fatal: codeOf(e), message: String((e as Error)?.stack ?? e) })}\n`);
  process.exitCode = 1;
});
