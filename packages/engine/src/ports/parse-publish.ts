/**
 * Parsing of `-p/--publish` values (docker's nat.ParsePortSpec):
 * `[ip:][hostPort[-end]:]containerPort[-end][/proto]`, IPv6 host addresses in
 * brackets. An empty host port means "any free port", resolved later.
 */
import { InvalidPortError } from '../errors.js';
import type { PortBinding } from '../container.js';
import type { PortMapping } from '../network.js';
import net from 'node:net';

/** One parsed publish entry, one per container port. */
export interface PublishSpec {
  hostIP: string;
  /** 0 when the host port is to be allocated. */
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

function range(spec: string, s: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new InvalidPortError(spec, `invalid ${what} ${JSON.stringify(s)}`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 1 || b > 65535 || b < a) throw new InvalidPortError(spec, `${what} out of range`);
  return [a, b];
}

/** Parses one `-p` value into one {@link PublishSpec} per container port. */
export function parsePublishFlag(spec: string): PublishSpec[] {
  let rest = spec;
  let protocol: PublishSpec['protocol'] = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') throw new InvalidPortError(spec, `invalid protocol ${JSON.stringify(p)}`);
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIP = '';
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(rest);
  if (v6) {
    hostIP = v6[1]!;
    rest = v6[2]!;
    if (!net.isIPv6(hostIP)) throw new InvalidPortError(spec, 'invalid IPv6 address');
  }
  const parts = rest.split(':');
  let hostPart = '';
  let containerPart: string;
  if (parts.length === 1) containerPart = parts[0]!;
  else if (parts.length === 2) [hostPart, containerPart] = [parts[0]!, parts[1]!];
  else if (parts.length === 3 && !v6) {
    [hostIP, hostPart, containerPart] = [parts[0]!, parts[1]!, parts[2]!];
    if (!net.isIPv4(hostIP)) throw new InvalidPortError(spec, `invalid host address ${JSON.stringify(hostIP)}`);
  } else throw new InvalidPortError(spec, 'expected [ip:][hostPort:]containerPort[/proto]');
  const [cStart, cEnd] = range(spec, containerPart, 'container port');
  let hStart = 0;
  let hEnd = 0;
  if (hostPart) [hStart, hEnd] = range(spec, hostPart, 'host port');
  if (hostPart && hEnd - hStart !== cEnd - cStart && hStart !== hEnd) throw new InvalidPortError(spec, 'port ranges differ in length');
  const out: PublishSpec[] = [];
  for (let p = cStart; p <= cEnd; p++) {
    out.push({ hostIP, hostPort: hostPart ? (hStart === hEnd ? hStart : hStart + (p - cStart)) : 0, containerPort: p, protocol });
  }
  return out;
}

/** Picks a free host port by binding port 0 on `hostIP` (like docker's port allocator, without the range). */
export async function allocateHostPort(hostIP: string, protocol: PublishSpec['protocol']): Promise<number> {
  if (protocol !== 'tcp') {
    const dgram = await import('node:dgram');
    const sock = dgram.createSocket(hostIP.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => { sock.once('error', reject); sock.bind(0, hostIP || undefined, () => resolve()); });
    const port = sock.address().port;
    sock.close();
    return port;
  }
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(0, hostIP || undefined, () => resolve()); });
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Resolves host port 0 and turns specs into CNI port mappings and Docker's `PortBindings`. */
export async function resolvePublish(specs: readonly PublishSpec[]): Promise<{ mappings: PortMapping[]; bindings: Record<string, PortBinding[]> }> {
  const mappings: PortMapping[] = [];
  const bindings: Record<string, PortBinding[]> = {};
  for (const s of specs) {
    const hostPort = s.hostPort || (await allocateHostPort(s.hostIP, s.protocol));
    mappings.push({ hostPort, containerPort: s.containerPort, protocol: s.protocol, ...(s.hostIP ? { hostIP: s.hostIP } : {}) });
    (bindings[`${s.containerPort}/${s.protocol}`] ??= []).push({ HostIp: s.hostIP, HostPort: String(hostPort) });
  }
  return { mappings, bindings };
}
