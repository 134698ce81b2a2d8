/**
 * Host port reservations shared by every berth process on one root:
 * `<root>/ports/<protocol>-<port>` holds the id of the container whose
 * published port it is, from its network set-up until its tear-down.
 *
 * Published ports are iptables DNAT rules (CNI portmap) that bind nothing on
 * the host, so the kernel neither refuses a second container the same port
 * nor keeps `listen(0)` from handing out a port a container already uses:
 * these files do. Reserving holds flock(2) on the directory over the check
 * and the write (two processes starting containers at once would both find
 * a port free). A reservation whose holder no longer runs (a supervisor that
 * died before its tear-down) is taken over. A port is reserved whatever host
 * address it is published on (Docker would allow one port on two addresses).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PortAllocatedError } from '../errors.js';
import { withFlock } from '../internal/flock.js';
import type { PortMapping } from '../network.js';

/** How many free ports `listen(0)` may offer that another container holds before reserving gives up. */
const allocateTries = 32;

/** Options of {@link reservePorts}. */
export interface ReservePortsOptions {
  /** `<root>/ports`. */
  dir: string;
  /** The container the ports are for. */
  id: string;
  /** The mappings wanted; `hostPort: 0` takes a free port. */
  wanted: readonly PortMapping[];
  /** A free host port (the kernel's choice) for an empty `HostPort`. */
  allocate: (hostIP: string, protocol: PortMapping['protocol']) => Promise<number>;
  /** Whether container `holder` still holds its ports (runs, or is being started). */
  holds: (holder: string) => Promise<boolean>;
}

function file(dir: string, protocol: string, port: number): string {
  return path.join(dir, `${protocol}-${port}`);
}

/**
 * Reserves the host ports of `wanted` for container `id` and returns the
 * mappings with every port chosen; throws `ERR_ENGINE_PORT_ALLOCATED` when
 * an explicit port is another live container's (reserving nothing then).
 */
export async function reservePorts(opts: ReservePortsOptions): Promise<PortMapping[]> {
  if (opts.wanted.length === 0) return [];
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  return withFlock(opts.dir, 'directory', async () => {
    const taken = new Set<string>();
    /** Whether `port` is free for `id` (no reservation, its own, or a dead holder's). */
    const free = async (protocol: string, port: number): Promise<boolean> => {
      if (taken.has(`${protocol}-${port}`)) return false;
      let holder: string;
      try {
        holder = readFileSync(file(opts.dir, protocol, port), 'utf8').trim();
      } catch {
        return true;
      }
      return holder === opts.id || holder === '' || !(await opts.holds(holder));
    };
    const out: PortMapping[] = [];
    for (const m of opts.wanted) {
      let port = m.hostPort;
      if (port) {
        if (!(await free(m.protocol, port))) {
          const holder = taken.has(`${m.protocol}-${port}`) ? opts.id : readFileSync(file(opts.dir, m.protocol, port), 'utf8').trim();
          throw new PortAllocatedError(m.protocol, port, holder);
        }
      } else {
        for (let i = 0; ; i++) {
          port = await opts.allocate(m.hostIP ?? '', m.protocol);
          if (await free(m.protocol, port)) break;
          if (i >= allocateTries) throw new PortAllocatedError(m.protocol, port, readFileSync(file(opts.dir, m.protocol, port), 'utf8').trim());
        }
      }
      taken.add(`${m.protocol}-${port}`);
      out.push({ ...m, hostPort: port });
    }
    for (const m of out) writeFileSync(file(opts.dir, m.protocol, m.hostPort), opts.id, { mode: 0o600 });
    return out;
  });
}

/** Drops every reservation container `id` holds. */
export async function releasePorts(dir: string, id: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  await withFlock(dir, 'directory', () => {
    for (const n of names) {
      try {
        if (readFileSync(path.join(dir, n), 'utf8').trim() === id) rmSync(path.join(dir, n), { force: true });
      } catch {
        // gone meanwhile
      }
    }
  });
}
