/**
 * Platform parsing, normalization and matching, ported from containerd's
 * `platforms` package (`platforms.go`, `database.go`, `compare.go`).
 */
import os from 'node:os';
import { InvalidPlatformError } from '../errors.js';
import type { Descriptor } from '../descriptor.js';
import type { Platform, PlatformMatcher } from '../platform.js';

const knownOS = new Set(['aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js',
  'linux', 'nacl', 'netbsd', 'openbsd', 'plan9', 'solaris', 'windows', 'zos']);
const knownArch = new Set(['386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'ppc64', 'ppc64le',
  'loong64', 'mips', 'mipsle', 'mips64', 'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'riscv', 'riscv64',
  's390', 's390x', 'sparc', 'sparc64', 'wasm']);

const specifierPart = /^[A-Za-z0-9_.-]+$/;
// `windows(10.0.17763)`: an OS with an optional version in parentheses.
const osAndVersion = /^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.-]*)\))?$/;

/** Node's `process.arch` and `process.platform` in Go's names. */
function goArch(): { architecture: string; variant?: string } {
  switch (process.arch) {
    case 'x64': return { architecture: 'amd64' };
    case 'ia32': return { architecture: '386' };
    case 'arm64': return { architecture: 'arm64' };
    case 'arm': {
      const v = (process.config.variables as Record<string, unknown>).arm_version;
      return { architecture: 'arm', variant: `v${typeof v === 'string' || typeof v === 'number' ? v : '7'}` };
    }
    case 'ppc64': return { architecture: os.endianness() === 'LE' ? 'ppc64le' : 'ppc64' };
    case 'mipsel': return { architecture: 'mipsle' };
    default: return { architecture: process.arch };
  }
}

function goOS(): string {
  switch (process.platform) {
    case 'win32': return 'windows';
    case 'sunos': return 'solaris';
    default: return process.platform;
  }
}

function normalizeOS(value: string): string {
  if (value === '') return goOS();
  const lower = value.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

/** Normalizes an architecture and variant (containerd `normalizeArch`). */
function normalizeArch(arch: string, variant: string): [string, string] {
  arch = arch.toLowerCase();
  variant = variant.toLowerCase();
  switch (arch) {
    case 'i386':
      return ['386', ''];
    case 'x86_64': case 'x86-64': case 'amd64':
      // amd64 v1 is the baseline: the same as no variant.
      return ['amd64', variant === 'v1' ? '' : variant];
    case 'aarch64': case 'arm64':
      // arm64 v8 is the baseline: the same as no variant.
      return ['arm64', variant === '8' || variant === 'v8' ? '' : variant];
    case 'armhf':
      return ['arm', 'v7'];
    case 'armel':
      return ['arm', 'v6'];
    case 'arm':
      if (variant === '' || variant === '7') return ['arm', 'v7'];
      if (variant === '5' || variant === '6' || variant === '8') return ['arm', `v${variant}`];
      return ['arm', variant];
    default:
      return [arch, variant];
  }
}

function build(osName: string, architecture: string, variant: string, osVersion = ''): Platform {
  const p: Platform = { architecture, os: osName };
  if (osVersion !== '') p['os.version'] = osVersion;
  if (variant !== '') p.variant = variant;
  return p;
}

/** The platform of this machine in OCI terms (`linux/amd64`, `linux/arm64`, `linux/arm/v7`…), normalized. */
export function hostPlatform(): Platform {
  const { architecture, variant = '' } = goArch();
  return normalizePlatform(build(goOS(), architecture, variant));
}

/**
 * Normalizes a platform as containerd does: lowercase names, `macos` → `darwin`,
 * `x86_64` → `amd64`, `aarch64` → `arm64`, `i386` → `386`, `armhf` → `arm/v7`,
 * `armel` → `arm/v6`; drops the baseline variants `amd64/v1` and `arm64/v8`;
 * gives `arm` the default `v7`. An empty OS becomes the host's.
 */
export function normalizePlatform(p: Platform): Platform {
  const [architecture, variant] = normalizeArch(p.architecture ?? '', p.variant ?? '');
  const out = build(normalizeOS(p.os ?? ''), architecture, variant, p['os.version'] ?? '');
  if (p['os.features'] !== undefined) out['os.features'] = [...p['os.features']];
  if (p.features !== undefined) out.features = [...p.features];
  return out;
}

/**
 * Parses a platform specifier (containerd `platforms.Parse`):
 * `os/arch[/variant]`, `os`, or `arch`. One part is taken as an OS if it is a
 * known one (the architecture is then the host's), else as a known
 * architecture (the OS is then the host's). The result is normalized, except
 * that a variant given explicitly is kept (`linux/arm64/v8` keeps `v8`) and
 * `arm` without a variant stays without one.
 *
 * @throws InvalidPlatformError `ERR_OCI_INVALID_PLATFORM`.
 */
export function parsePlatform(specifier: string): Platform {
  if (typeof specifier !== 'string' || specifier === '') throw new InvalidPlatformError(String(specifier), 'empty specifier');
  if (specifier.includes('*')) throw new InvalidPlatformError(specifier, 'wildcards are not supported');
  const parts = specifier.split('/');
  const [first = '', second = '', third = ''] = parts;
  const osm = osAndVersion.exec(first);
  for (const [i, part] of parts.entries()) {
    if (i === 0 && osm !== null) continue;
    if (!specifierPart.test(part)) throw new InvalidPlatformError(specifier, `invalid component ${JSON.stringify(part)}`);
  }
  const osName = normalizeOS(osm?.[1] ?? first);
  const osVersion = osm?.[2] ?? '';
  switch (parts.length) {
    case 1: {
      if (knownOS.has(osName)) {
        const host = goArch();
        return build(osName, host.architecture, host.architecture === 'arm' && host.variant !== 'v7' ? host.variant ?? '' : '', osVersion);
      }
      let [arch, variant] = normalizeArch(first, '');
      if (arch === 'arm' && variant === 'v7') variant = '';
      if (knownArch.has(arch)) return build(goOS(), arch, variant);
      throw new InvalidPlatformError(specifier, 'unknown operating system or architecture');
    }
    case 2: {
      let [arch, variant] = normalizeArch(second, '');
      if (arch === 'arm' && variant === 'v7') variant = '';
      return build(osName, arch, variant, osVersion);
    }
    case 3: {
      let [arch, variant] = normalizeArch(second, third);
      if (arch === 'arm64' && variant === '') variant = 'v8';
      return build(osName, arch, variant, osVersion);
    }
    default:
      throw new InvalidPlatformError(specifier, 'expected os/arch[/variant]');
  }
}

/** Formats a platform as `os/arch[/variant]` (containerd `Format`); the OS version, if any, in parentheses. */
export function formatPlatform(p: Platform): string {
  if (!p.os) return 'unknown';
  const osPart = p['os.version'] ? `${p.os}(${p['os.version']})` : p.os;
  return [osPart, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

/** Formats the normalized form, so equivalent platforms give the same string. */
export function formatNormalizedPlatform(p: Platform): string {
  return formatPlatform(normalizePlatform(p));
}

/**
 * A matcher for exactly one normalized platform (containerd `NewMatcher`).
 * Like containerd on Linux, it compares OS, architecture and variant only;
 * `os.version` and features matter to Windows hosts, which berth does not run.
 */
function exactMatcher(p: Platform): (q: Platform) => boolean {
  const want = normalizePlatform(p);
  return (q: Platform): boolean => {
    const n = normalizePlatform(q);
    return n.os === want.os && n.architecture === want.architecture && (n.variant ?? '') === (want.variant ?? '');
  };
}

/** Builds an ordered matcher: the first platform in the list is the most preferred (containerd `Ordered`). */
export function orderedPlatforms(...platforms: Platform[]): PlatformMatcher {
  const matchers = platforms.map(exactMatcher);
  return {
    match: (p) => matchers.some((m) => m(p)),
    less(a, b) {
      for (const m of matchers) {
        const am = m(a);
        const bm = m(b);
        if (am && !bm) return true;
        if (am || bm) return false;
      }
      return false;
    },
  };
}

/** A matcher that accepts any of `platforms` with no preference among them (containerd `Any`). */
export function anyPlatform(...platforms: Platform[]): PlatformMatcher {
  const matchers = platforms.map(exactMatcher);
  const match = (p: Platform): boolean => matchers.some((m) => m(p));
  return { match, less: (a, b) => match(a) && !match(b) };
}

/** A matcher that accepts every platform and prefers none (containerd `All`). */
export const allPlatforms: PlatformMatcher = Object.freeze({ match: () => true, less: () => false });

const vN = (v: string | undefined, prefix = 'v'): number => {
  if (v === undefined || !v.startsWith(prefix)) return Number.NaN;
  const s = v.slice(prefix.length);
  return /^[0-9]+$/.test(s) ? Number(s) : Number.NaN;
};

/**
 * The platforms a host of `platform` can run, most preferred first
 * (containerd `platformVector`): amd64/vN also runs amd64/v(N-1)…v1 and 386;
 * arm/vN runs arm/v(N-1)…v5; arm64 (v8) runs arm/v8…v5; arm64/v9.x runs
 * arm64/v9.(x-1)…v9, v8.(x+5)…v8 and arm/v8…v5; arm64/v8.x runs v8.(x-1)…v8.
 */
export function compatiblePlatforms(platform: Platform): Platform[] {
  const p = normalizePlatform(platform);
  const base = { os: p.os, ...(p['os.version'] === undefined ? {} : { 'os.version': p['os.version'] }),
    ...(p['os.features'] === undefined ? {} : { 'os.features': p['os.features'] }) };
  const out: Platform[] = [p];
  const arch = p.architecture;
  if (arch === 'amd64') {
    const v = vN(p.variant);
    if (v > 1) for (let i = v - 1; i >= 1; i--) out.push({ ...base, architecture: 'amd64', variant: `v${i}` });
    out.push({ ...base, architecture: '386' });
  } else if (arch === 'arm') {
    const v = vN(p.variant);
    if (v > 5) for (let i = v - 1; i >= 5; i--) out.push({ ...base, architecture: 'arm', variant: `v${i}` });
  } else if (arch === 'arm64') {
    let variant = p.variant ?? 'v8';
    const [majorPart = '', minorPart] = variant.split('.');
    let major = vN(majorPart);
    if (major >= 8) {
      let minor = minorPart !== undefined && /^[0-9]$/.test(minorPart) ? Number(minorPart) : 0;
      const name = (ma: number, mi: number): string => (mi === 0 ? `v${ma}` : `v${ma}.${mi}`);
      if (major === 9) {
        for (let i = minor - 1; i >= 0; i--) out.push({ ...base, architecture: 'arm64', variant: name(9, i) });
        // v9.0 diverged from v8.5: v9.x runs v8.(x+5) and below.
        minor += 5;
        major = 8;
        out.push({ ...base, architecture: 'arm64', variant: `v8.${minor}` });
      }
      for (let i = minor - 1; i >= 0; i--) out.push({ ...base, architecture: 'arm64', variant: name(major, i) });
    }
    if (variant.startsWith('v8.') || variant.startsWith('v9.') || variant === 'v9') variant = 'v8';
    out.push(...compatiblePlatforms({ ...base, architecture: 'arm', variant }));
  }
  return out;
}

/**
 * The default matcher for a host of `platform` (containerd `Only`): accepts
 * the platform and everything {@link compatiblePlatforms} lists, preferring them
 * in that order. `onlyPlatform(hostPlatform())` picks what `docker pull` picks.
 */
export function onlyPlatform(platform: Platform): PlatformMatcher {
  return orderedPlatforms(...compatiblePlatforms(platform));
}

/** A matcher for exactly `platform` after normalization, with no fallbacks (containerd `OnlyStrict`). */
export function onlyStrictPlatform(platform: Platform): PlatformMatcher {
  return orderedPlatforms(normalizePlatform(platform));
}

/** The default matcher for this machine: `onlyPlatform(hostPlatform())`. */
export function defaultPlatformMatcher(): PlatformMatcher {
  return onlyPlatform(hostPlatform());
}

/**
 * Chooses the best entry of an index's `manifests` for `matcher`, as
 * containerd's `images.Manifest` does: entries with a matching `platform`,
 * stably sorted by `matcher.less`, first one wins. Entries without a
 * platform are used only when no entry with one matches.
 * Returns undefined when nothing matches.
 */
export function selectPlatformEntry<D extends Pick<Descriptor, 'platform'>>(
  manifests: readonly D[],
  matcher: PlatformMatcher = defaultPlatformMatcher(),
): D | undefined {
  const candidates = manifests.filter((d) => d.platform !== undefined && matcher.match(d.platform));
  if (candidates.length === 0) return manifests.find((d) => d.platform === undefined);
  // Array.prototype.sort is stable (ES2019).
  candidates.sort((a, b) => {
    const pa = a.platform as Platform;
    const pb = b.platform as Platform;
    if (matcher.less(pa, pb)) return -1;
    if (matcher.less(pb, pa)) return 1;
    return 0;
  });
  return candidates[0];
}
