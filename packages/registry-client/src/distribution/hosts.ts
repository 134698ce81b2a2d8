/**
 * Host handling: which origin a reference's registry host is reached at,
 * which mirrors are tried first, and when plain HTTP is allowed.
 */
import net from 'node:net';

/** Per-host configuration. */
export interface HostConfig {
  /** Mirrors (`host[:port]`) tried in order before the origin, for pulls only. */
  mirrors?: string[];
  /** Allow plain HTTP and skip TLS verification for this host (like Docker's `insecure-registries`). */
  insecure?: boolean;
  /** Force a scheme instead of probing https then falling back to http. */
  scheme?: 'https' | 'http';
  /** Extra CA certificates (PEM) trusted for this host. */
  ca?: string | Buffer;
}

/** Docker Hub's registry API host; never contacted in berth's tests. */
export const dockerHubRegistryHost = 'registry-1.docker.io';

/** The host actually contacted for a reference domain (`docker.io` → `registry-1.docker.io`). */
export function apiHost(domain: string): string {
  return domain === 'docker.io' || domain === 'index.docker.io' ? dockerHubRegistryHost : domain;
}

/** Splits `host[:port]`, `[v6]:port` into the bare hostname. */
export function hostname(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const c = host.lastIndexOf(':');
  if (c > 0 && host.indexOf(':') === c) return host.slice(0, c);
  return host;
}

/** Is the host loopback: `localhost`, 127.0.0.0/8 or ::1? */
export function isLoopbackHost(host: string): boolean {
  const h = hostname(host).toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return false;
}
