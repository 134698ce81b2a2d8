/** Generated /etc/hosts and /etc/resolv.conf contents for containers, as Docker writes them. */
import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';

/** The fixed head of a container's hosts file (Docker's defaults). */
export const defaultHosts = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

/** One hosts line: an address and its names. */
export interface HostsEntry { ip: string; names: string[] }

/** Builds a hosts file: defaults, the container's own entry, then peers. */
export function buildHosts(own: HostsEntry | undefined, peers: readonly HostsEntry[]): string {
  const lines = [...defaultHosts];
  if (own) lines.push(`${own.ip}\t${[...new Set(own.names)].join(' ')}`);
  for (const p of peers) lines.push(`${p.ip}\t${[...new Set(p.names)].join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Writes a hosts file in place (truncate + write, not rename): the file is
 * bind-mounted into a running container, and a rename would leave the
 * container looking at the old inode.
 */
export async function writeInPlace(file: string, content: string): Promise<void> {
  const fh = await fs.open(file, 'w', 0o644);
  try {
    await fh.writeFile(content);
  } finally {
    await fh.close();
  }
}

/**
 * A container's resolv.conf for a network mode. `host` copies the host's
 * file; other modes drop loopback nameservers (unreachable from a network
 * namespace) and fall back to Docker's defaults, 8.8.8.8 and 8.8.4.4, when
 * none remain.
 */
export async function resolvConfFor(mode: 'host' | 'bridge' | 'none', hostFile = '/etc/resolv.conf'): Promise<string> {
  // Synchronously: a small local file, not four trips through the libuv pool (each an event-loop wake-up).
  let host = '';
  try {
    host = readFileSync(hostFile, 'utf8');
  } catch { /* no resolv.conf: Docker's defaults below */ }
  if (mode === 'host') return host;
  const lines = host.split('\n').filter((l) => {
    if (l.trim() === '') return false;
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    return !m || !(m[1]!.startsWith('127.') || m[1] === '::1');
  });
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) lines.push('nameserver 8.8.8.8', 'nameserver 8.8.4.4');
  return `${lines.join('\n')}\n`;
}
