/**
 * The CNI network manager: Docker-style networks realised with the CNI
 * reference plugins (Debian's /usr/lib/cni). Each network is a conflist
 * `bridge` (+ `host-local` IPAM) → `portmap` → `firewall`; `ipMasq` stays
 * false so nothing is NATed to the outside. Each container gets a network
 * namespace bound at `<runRoot>/netns/<id>`.
 *
 * On disk: `<root>/networks/<id>.json` (definitions),
 * `<root>/networks/endpoints/<networkId>/<containerId>.json` (endpoints with
 * the cached CNI result that DEL and CHECK need), `<root>/networks/ipam/`
 * (host-local's leases).
 *
 * Several processes share these (berth is daemonless): creating a network
 * and making the predefined ones hold flock(2) on `<root>/networks` over the
 * read of every record and the write (one name, distinct subnets, one
 * `bridge`); attach, detach and remove hold flock on the network's record, so
 * nothing attaches to a network being removed. host-local locks its own
 * leases.
 */
import fs from 'node:fs/promises';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  AlreadyConnectedError, InvalidArgumentError, InvalidFilterError, NetworkExistsError, NetworkInUseError,
  NetworkNotFoundError, NetworkPredefinedError, NotConnectedError, SubnetExhaustedError, AmbiguousIdError, InvalidNameError,
} from '../errors.js';
import { atomicWriteJson, readJsonIfExists } from '../internal/atomic.js';
import { run } from '../internal/exec.js';
import { isoToNs, pruneFilter } from '../internal/prune-filters.js';
import { newId, validName } from '../internal/ids.js';
import { withFlock } from '../internal/flock.js';
import { flockExclusive } from '@berth/namespaces';
import { KeyedMutex } from '../internal/mutex.js';
import type {
  AttachOptions, CreateNetworkOptions, Endpoint, NetworkInspect, NetworkListener, NetworkManager,
} from '../network.js';
import { addNetworkList, checkNetworkList, delNetworkList, execPlugin, type CniConfList, type CniResult } from './cni-exec.js';
import { buildHosts, writeInPlace, type HostsEntry } from './hosts.js';
import { formatCidr, intToIp, overlaps, parseCidr, ipToInt, contains, type Cidr } from './ipv4.js';
import { createNetns, deleteNetns } from './netns.js';

/** The predefined network names. */
export const predefinedNetworks = ['bridge', 'host', 'none'] as const;

/** Options of {@link openCniNetworkManager}. */
export interface CniNetworkManagerOptions {
  /** Engine root (definitions, endpoints, IPAM state). */
  root: string;
  /** Runtime root; namespaces go to `<runRoot>/netns`. Default `<root>/run`. */
  runRoot?: string;
  /** Plugin directories, first one holds the binaries. Default `/usr/lib/cni`. */
  pluginDirs?: string[];
  /** The default bridge network's subnet (default `10.89.0.0/16`) and bridge (default `berth0`). */
  defaultSubnet?: string;
  defaultBridge?: string;
  /** The pool user networks get /24s from (default `10.90.0.0/16`). */
  pool?: string;
  listener?: NetworkListener;
}

interface NetworkRecord {
  Name: string;
  Id: string;
  Created: string;
  Driver: 'bridge' | 'host' | 'null';
  Subnet: string;
  Gateway: string;
  Bridge: string;
  Internal: boolean;
  Attachable: boolean;
  Labels: Record<string, string>;
  Options: Record<string, string>;
}

interface EndpointRecord extends Endpoint { cniResult: CniResult }

/** Opens the manager, creating the predefined networks on first use. */
export async function openCniNetworkManager(opts: CniNetworkManagerOptions): Promise<CniNetworkManager> {
  const m = new CniNetworkManager(opts);
  await m.init();
  return m;
}

/** The {@link NetworkManager} on CNI plugins. Create with {@link openCniNetworkManager}. */
export class CniNetworkManager implements NetworkManager {
  readonly #dir: string;
  readonly #epDir: string;
  readonly #ipamDir: string;
  readonly #netnsDir: string;
  readonly #pluginDirs: string[];
  readonly #defaultSubnet: string;
  readonly #defaultBridge: string;
  readonly #pool: Cidr;
  readonly #listener: NetworkListener | undefined;
  readonly #mutex = new KeyedMutex();

  constructor(opts: CniNetworkManagerOptions) {
    this.#dir = path.join(opts.root, 'networks');
    this.#epDir = path.join(this.#dir, 'endpoints');
    this.#ipamDir = path.join(this.#dir, 'ipam');
    this.#netnsDir = path.join(opts.runRoot ?? path.join(opts.root, 'run'), 'netns');
    this.#pluginDirs = opts.pluginDirs ?? ['/usr/lib/cni'];
    this.#defaultSubnet = opts.defaultSubnet ?? '10.89.0.0/16';
    this.#defaultBridge = opts.defaultBridge ?? 'berth0';
    const pool = parseCidr(opts.pool ?? '10.90.0.0/16');
    if (!pool || pool.prefix > 24) throw new InvalidArgumentError('pool', opts.pool, 'must be an IPv4 CIDR of /24 or larger');
    this.#pool = pool;
    this.#listener = opts.listener;
  }

  /** Creates directories and the predefined networks. */
  async init(): Promise<void> {
    await fs.mkdir(this.#epDir, { recursive: true, mode: 0o700 });
    await fs.mkdir(this.#ipamDir, { recursive: true, mode: 0o700 });
    const names = this.#namesOnDisk();
    if (predefinedNetworks.every((n) => names.has(n))) return;
    // Made under the networks lock, re-read there: processes opening a fresh root at once make them once.
    await this.#withNetworksLock(() => this.#makePredefined());
  }

  /** The names of the networks recorded on disk (small files, read synchronously). */
  #namesOnDisk(): Set<string> {
    const names = new Set<string>();
    for (const f of readdirSync(this.#dir)) {
      if (!/^[0-9a-f]{64}\.json$/.test(f)) continue;
      try {
        names.add((JSON.parse(readFileSync(path.join(this.#dir, f), 'utf8')) as NetworkRecord).Name);
      } catch {
        // removed meanwhile
      }
    }
    return names;
  }

  async #makePredefined(): Promise<void> {
    const existing = await this.#records();
    const names = new Set(existing.map((r) => r.Name));
    const created = new Date().toISOString();
    const base = { Created: created, Internal: false, Attachable: false, Labels: {}, Options: {}, Subnet: '', Gateway: '', Bridge: '' };
    if (!names.has('bridge')) {
      const subnet = parseCidr(this.#defaultSubnet);
      if (!subnet) throw new InvalidArgumentError('defaultSubnet', this.#defaultSubnet, 'not an IPv4 CIDR');
      await this.#save({
        ...base, Name: 'bridge', Id: newId(), Driver: 'bridge', Subnet: formatCidr(subnet), Gateway: intToIp(subnet.network + 1),
        Bridge: this.#defaultBridge,
        Options: { 'com.docker.network.bridge.default_bridge': 'true', 'com.docker.network.bridge.name': this.#defaultBridge },
      });
    }
    if (!names.has('host')) await this.#save({ ...base, Name: 'host', Id: newId(), Driver: 'host' });
    if (!names.has('none')) await this.#save({ ...base, Name: 'none', Id: newId(), Driver: 'null' });
  }

  /**
   * Runs `fn` holding the lock of the network list (across processes: flock(2)
   * on `<root>/networks`): a name's uniqueness, a subnet's allocation and the
   * predefined networks are decided by reading every record, so two
   * processes must not decide at once.
   */
  #withNetworksLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.#mutex.run('networks', () => withFlock(this.#dir, 'directory', fn));
  }

  /**
   * Runs `fn` holding network `r`'s lock (across processes: flock(2) on its
   * record, which is never rewritten): attach, detach and remove, so that no
   * process attaches to a network another one is removing. Throws
   * `ERR_ENGINE_NETWORK_NOT_FOUND` when the network is gone.
   */
  #withNetworkLock<T>(r: NetworkRecord, fn: () => Promise<T>): Promise<T> {
    return this.#mutex.run(`net:${r.Id}`, async () => {
      const file = path.join(this.#dir, `${r.Id}.json`);
      let fd: number;
      try {
        fd = openSync(file, 'r');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NetworkNotFoundError(r.Name);
        throw e;
      }
      try {
        await flockExclusive(fd);
        if (!existsSync(file)) throw new NetworkNotFoundError(r.Name); // removed while this process waited
        return await fn();
      } finally {
        closeSync(fd);
      }
    });
  }

  async #save(r: NetworkRecord): Promise<void> {
    await atomicWriteJson(path.join(this.#dir, `${r.Id}.json`), r);
  }

  async #records(): Promise<NetworkRecord[]> {
    const out: NetworkRecord[] = [];
    for (const f of await fs.readdir(this.#dir)) {
      if (!/^[0-9a-f]{64}\.json$/.test(f)) continue;
      const r = await readJsonIfExists<NetworkRecord>(path.join(this.#dir, f));
      if (r) out.push(r);
    }
    return out.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0)); // code units (localeCompare loads ICU's collation, ~15 ms)
  }

  async #find(ref: string): Promise<NetworkRecord> {
    const all = await this.#records();
    const byId = all.find((r) => r.Id === ref);
    if (byId) return byId;
    const byName = all.find((r) => r.Name === ref);
    if (byName) return byName;
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = all.filter((r) => r.Id.startsWith(ref));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw new AmbiguousIdError(ref, matches.map((m) => m.Id));
    }
    throw new NetworkNotFoundError(ref);
  }

  async #endpointsOf(netId: string): Promise<EndpointRecord[]> {
    const dir = path.join(this.#epDir, netId);
    const out: EndpointRecord[] = [];
    for (const f of await fs.readdir(dir).catch(() => [] as string[])) {
      if (!f.endsWith('.json')) continue;
      const e = await readJsonIfExists<EndpointRecord>(path.join(dir, f));
      if (e) out.push(e);
    }
    return out.sort((a, b) => (a.containerName < b.containerName ? -1 : a.containerName > b.containerName ? 1 : 0));
  }

  async #inspectRecord(r: NetworkRecord): Promise<NetworkInspect> {
    const containers: NetworkInspect['Containers'] = {};
    for (const e of await this.#endpointsOf(r.Id)) {
      containers[e.containerId] = {
        Name: e.containerName, EndpointID: e.endpointId, MacAddress: e.macAddress,
        IPv4Address: `${e.ipAddress}/${e.prefixLen}`, IPv6Address: '',
      };
    }
    return {
      Name: r.Name, Id: r.Id, Created: r.Created, Scope: 'local', Driver: r.Driver, EnableIPv6: false,
      IPAM: { Driver: 'default', Options: r.Driver === 'bridge' ? {} : null, Config: r.Subnet ? [{ Subnet: r.Subnet, Gateway: r.Gateway }] : [] },
      Internal: r.Internal, Attachable: r.Attachable, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false,
      Containers: containers, Options: r.Options, Labels: r.Labels,
    };
  }

  /** The CNI conflist of a bridge network. */
  conflist(r: NetworkRecord): CniConfList {
    return {
      cniVersion: '1.0.0',
      name: r.Name,
      plugins: [
        {
          type: 'bridge', bridge: r.Bridge, isGateway: true, ipMasq: false, hairpinMode: true,
          ipam: {
            type: 'host-local', ranges: [[{ subnet: r.Subnet, gateway: r.Gateway }]],
            routes: r.Internal ? [] : [{ dst: '0.0.0.0/0' }], dataDir: this.#ipamDir,
          },
        },
        // snat: masquerade hairpin and localhost-originated traffic so replies come back through the DNAT.
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        { type: 'firewall', backend: 'iptables' },
      ],
    };
  }

  async create(opts: CreateNetworkOptions): Promise<NetworkInspect> {
    const name = opts.name;
    if ((predefinedNetworks as readonly string[]).includes(name)) throw new NetworkPredefinedError(name);
    if (!validName.test(name)) throw new InvalidNameError('network', name);
    const driver = opts.driver ?? 'bridge';
    if (driver !== 'bridge') throw new InvalidArgumentError('network driver', driver, 'only "bridge" networks can be created');
    return this.#withNetworksLock(async () => {
      const all = await this.#records();
      if (all.some((r) => r.Name === name)) throw new NetworkExistsError(name);
      const used = all.map((r) => parseCidr(r.Subnet)).filter((c): c is Cidr => !!c);
      let subnet: Cidr;
      if (opts.subnet) {
        const c = parseCidr(opts.subnet);
        if (!c || c.prefix > 30) throw new InvalidArgumentError('subnet', opts.subnet, 'not an IPv4 CIDR of /30 or larger');
        if (used.some((u) => overlaps(u, c))) throw new InvalidArgumentError('subnet', opts.subnet, 'overlaps an existing network');
        subnet = c;
      } else subnet = this.#allocateSubnet(used);
      let gateway = intToIp(subnet.network + 1);
      if (opts.gateway) {
        const g = ipToInt(opts.gateway);
        if (g === undefined || !contains(subnet, g)) throw new InvalidArgumentError('gateway', opts.gateway, 'not inside the subnet');
        gateway = opts.gateway;
      }
      const id = newId();
      const options = { ...(opts.options ?? {}) };
      const bridge = options['com.docker.network.bridge.name'] ?? `br-${id.slice(0, 12)}`;
      if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge)) throw new InvalidArgumentError('bridge name', bridge, 'must be 1-15 interface-name characters');
      if (all.some((r) => r.Bridge === bridge)) throw new InvalidArgumentError('bridge name', bridge, 'used by another network');
      const rec: NetworkRecord = {
        Name: name, Id: id, Created: new Date().toISOString(), Driver: 'bridge', Subnet: formatCidr(subnet), Gateway: gateway,
        Bridge: bridge, Internal: !!opts.internal, Attachable: !!opts.attachable, Labels: { ...(opts.labels ?? {}) }, Options: options,
      };
      await this.#save(rec);
      const out = await this.#inspectRecord(rec);
      this.#listener?.('create', out);
      return out;
    });
  }

  #allocateSubnet(used: Cidr[]): Cidr {
    const host = Object.values(os.networkInterfaces()).flat()
      .filter((a) => a?.family === 'IPv4' && a.cidr).map((a) => parseCidr(a!.cidr!)).filter((c): c is Cidr => !!c);
    const count = 2 ** (24 - this.#pool.prefix);
    for (let i = 0; i < count; i++) {
      const c: Cidr = { network: (this.#pool.network + i * 256) >>> 0, prefix: 24 };
      if (![...used, ...host].some((u) => overlaps(u, c))) return c;
    }
    throw new SubnetExhaustedError(formatCidr(this.#pool));
  }

  async inspect(ref: string): Promise<NetworkInspect> {
    return this.#inspectRecord(await this.#find(ref));
  }

  async list(opts: { filters?: Record<string, string[]> } = {}): Promise<NetworkInspect[]> {
    const out: NetworkInspect[] = [];
    const filters = opts.filters ?? {};
    for (const k of Object.keys(filters)) {
      if (!['name', 'id', 'driver', 'label', 'type', 'dangling', 'scope'].includes(k)) throw new InvalidFilterError(k, 'unknown filter key');
    }
    for (const r of await this.#records()) {
      const n = await this.#inspectRecord(r);
      const builtin = (predefinedNetworks as readonly string[]).includes(n.Name);
      const ok = Object.entries(filters).every(([k, vs]) => !vs.length || vs.some((v) => {
        switch (k) {
          case 'name': return n.Name.includes(v);
          case 'id': return n.Id.startsWith(v);
          case 'driver': return n.Driver === v;
          case 'scope': return v === 'local';
          case 'type': return v === (builtin ? 'builtin' : 'custom');
          case 'dangling': return (v === 'true' || v === '1') === (!builtin && Object.keys(n.Containers).length === 0);
          case 'label': {
            const i = v.indexOf('=');
            return i < 0 ? v in n.Labels : n.Labels[v.slice(0, i)] === v.slice(i + 1);
          }
          default: return false;
        }
      }));
      if (ok) out.push(n);
    }
    return out;
  }

  async remove(ref: string): Promise<void> {
    const r = await this.#find(ref);
    if ((predefinedNetworks as readonly string[]).includes(r.Name)) throw new NetworkPredefinedError(r.Name);
    await this.#withNetworkLock(r, async () => {
      const eps = await this.#endpointsOf(r.Id);
      if (eps.length) throw new NetworkInUseError(r.Name, eps.map((e) => e.containerId));
      const out = await this.#inspectRecord(r);
      await fs.rm(path.join(this.#dir, `${r.Id}.json`), { force: true });
      await fs.rm(path.join(this.#epDir, r.Id), { recursive: true, force: true });
      await fs.rm(path.join(this.#ipamDir, r.Name), { recursive: true, force: true });
      // The bridge plugin never deletes bridges; the network's owner does.
      await run('ip', ['link', 'del', r.Bridge], { allowFailure: true });
      this.#listener?.('destroy', out);
    });
  }

  async prune(opts: { filters?: Record<string, string[]> } = {}): Promise<{ NetworksDeleted: string[] }> {
    const matches = pruneFilter(opts.filters);
    const deleted: string[] = [];
    for (const n of await this.list({ filters: { type: ['custom'] } })) {
      if (Object.keys(n.Containers).length) continue;
      if (!matches({ createdNs: isoToNs(n.Created), labels: n.Labels ?? {} })) continue;
      try {
        await this.remove(n.Id);
        deleted.push(n.Name);
      } catch (e) {
        if (!(e instanceof NetworkInUseError)) throw e;
      }
    }
    return { NetworksDeleted: deleted };
  }

  sandboxPath(containerId: string): string {
    return path.join(this.#netnsDir, containerId);
  }

  async createSandbox(containerId: string): Promise<string> {
    const file = this.sandboxPath(containerId);
    // lo comes up in createNetns (as the CNI loopback plugin would do, one child fewer).
    await this.#mutex.run('netns-dir', () => createNetns(file));
    return file;
  }

  async removeSandbox(containerId: string): Promise<void> {
    for (const e of await this.endpoints(containerId)) await this.detach(e.networkId, containerId);
    await deleteNetns(this.sandboxPath(containerId));
  }

  async endpoints(containerId: string): Promise<Endpoint[]> {
    const out: Endpoint[] = [];
    for (const r of await this.#records()) {
      const e = await readJsonIfExists<EndpointRecord>(path.join(this.#epDir, r.Id, `${containerId}.json`));
      if (e) {
        const { cniResult: _, ...ep } = e;
        out.push(ep);
      }
    }
    return out;
  }

  async attach(network: string, opts: AttachOptions): Promise<Endpoint> {
    const r = await this.#find(network);
    if (r.Driver !== 'bridge') throw new InvalidArgumentError('network', r.Name, `a ${r.Driver} network is a mode, not something to attach to`);
    return this.#withNetworkLock(r, async () => {
      const file = path.join(this.#epDir, r.Id, `${opts.containerId}.json`);
      if (await readJsonIfExists(file)) throw new AlreadyConnectedError(r.Name, opts.containerId);
      const ifname = opts.ifname ?? `eth${(await this.endpoints(opts.containerId)).length}`;
      const base = {
        containerId: opts.containerId, netns: opts.netnsPath, ifname,
        args: opts.ipv4Address ? `IgnoreUnknown=1;IP=${opts.ipv4Address}` : undefined,
      };
      const rt = { portMappings: opts.portMappings ?? [] };
      const list = this.conflist(r);
      let result: CniResult;
      try {
        result = await addNetworkList(this.#pluginDirs, list, base, rt);
      } catch (e) {
        // Undo whatever part of the chain succeeded (spec: DEL must tolerate partial ADDs).
        await delNetworkList(this.#pluginDirs, list, base, rt).catch(() => undefined);
        throw e;
      }
      // portmap's localhost DNAT needs route_localnet on the bridge (portmap README, "snat").
      await fs.writeFile(`/proc/sys/net/ipv4/conf/${r.Bridge}/route_localnet`, '1').catch(() => undefined);
      const ifIndex = result.interfaces?.findIndex((i) => i.name === ifname && i.sandbox) ?? -1;
      const ip = result.ips?.find((i) => i.interface === ifIndex) ?? result.ips?.[0];
      const [addr, prefix] = (ip?.address ?? '/0').split('/');
      const ep: EndpointRecord = {
        networkId: r.Id, networkName: r.Name, containerId: opts.containerId, containerName: opts.containerName,
        endpointId: newId(), ifname, netnsPath: opts.netnsPath, ipAddress: addr ?? '', prefixLen: Number(prefix),
        gateway: ip?.gateway ?? r.Gateway, macAddress: ifIndex >= 0 ? result.interfaces![ifIndex]!.mac ?? '' : '',
        aliases: opts.aliases ?? [], portMappings: opts.portMappings ?? [], hostsPath: opts.hostsPath, hostname: opts.hostname,
        cniResult: result,
      };
      await fs.mkdir(path.dirname(file), { recursive: true });
      await atomicWriteJson(file, ep);
      await this.#refreshHosts(r);
      this.#listener?.('connect', await this.#inspectRecord(r), opts.containerId);
      const { cniResult: _, ...out } = ep;
      return out;
    });
  }

  async detach(network: string, containerId: string): Promise<void> {
    const r = await this.#find(network);
    await this.#withNetworkLock(r, async () => {
      const file = path.join(this.#epDir, r.Id, `${containerId}.json`);
      const ep = await readJsonIfExists<EndpointRecord>(file);
      if (!ep) throw new NotConnectedError(r.Name, containerId);
      const netnsExists = await fs.access(ep.netnsPath).then(() => true, () => false);
      await delNetworkList(this.#pluginDirs, this.conflist(r),
        { containerId, netns: netnsExists ? ep.netnsPath : '', ifname: ep.ifname }, { portMappings: ep.portMappings }, ep.cniResult);
      await fs.rm(file, { force: true });
      await this.#refreshHosts(r);
      this.#listener?.('disconnect', await this.#inspectRecord(r), containerId);
    });
  }

  async check(network: string, containerId: string): Promise<void> {
    const r = await this.#find(network);
    const ep = await readJsonIfExists<EndpointRecord>(path.join(this.#epDir, r.Id, `${containerId}.json`));
    if (!ep) throw new NotConnectedError(r.Name, containerId);
    await checkNetworkList(this.#pluginDirs, this.conflist(r), { containerId, netns: ep.netnsPath, ifname: ep.ifname },
      { portMappings: ep.portMappings }, ep.cniResult);
  }

  /**
   * Rewrites the hosts file of every endpoint on a user network so each
   * container resolves the others by name and alias (the default `bridge`
   * network has no name resolution, as in Docker). Holding flock(2) on
   * `<root>/networks/hosts.lock` (after the network's own lock, never before
   * one): a container on two networks gets its file from the endpoints of
   * both, and two processes attaching peers to the two at once would
   * otherwise each write it from a view without the other's peer. Serialized,
   * the later refresh reads both endpoint records (each written before its
   * refresh).
   */
  async #refreshHosts(r: NetworkRecord): Promise<void> {
    await this.#mutex.run('hosts', () => withFlock(path.join(this.#dir, 'hosts.lock'), 'file', () => this.#writeHosts(r)));
  }

  async #writeHosts(r: NetworkRecord): Promise<void> {
    const eps = await this.#endpointsOf(r.Id);
    for (const e of eps) {
      if (!e.hostsPath) continue;
      const own: HostsEntry = { ip: e.ipAddress, names: [e.hostname ?? e.containerId.slice(0, 12)] };
      const peers: HostsEntry[] = [];
      for (const other of await this.endpoints(e.containerId)) {
        if (other.networkName === 'bridge') continue;
        for (const p of await this.#endpointsOf(other.networkId)) {
          if (p.containerId === e.containerId) continue;
          peers.push({ ip: p.ipAddress, names: [p.containerName, p.containerId.slice(0, 12), ...p.aliases] });
        }
      }
      await writeInPlace(e.hostsPath, buildHosts(own, peers)).catch(() => undefined);
    }
  }
}
