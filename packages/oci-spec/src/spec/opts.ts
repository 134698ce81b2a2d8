/**
 * The `with…` runtime spec options, learnt from containerd's
 * `pkg/oci/spec_opts.go` and Docker's daemon (`daemon/oci_linux.go`). Each
 * returns a {@link SpecOpt} that edits the spec in place; compose them with
 * `generateSpec(...opts)`.
 */
import { InvalidSpecOptionError } from '../errors.js';
import {
  NamespaceType, type LinuxConfig, type LinuxIdMapping, type LinuxNamespace, type LinuxResources,
  type LinuxSeccomp, type PosixRlimit, type RuntimeHook, type RuntimeHooks, type RuntimeMount,
  type RuntimeProcess, type RuntimeSpec,
} from '../runtime-spec.js';
import type { ImageExecConfig } from '../image.js';
import type { SpecOpt } from '../spec-opts.js';
import { ALL_CAPABILITIES, DEFAULT_PATH_ENV } from './defaults.js';
import { resolveUser, type UserDatabase } from './user.js';

function processOf(spec: RuntimeSpec): RuntimeProcess {
  spec.process ??= { user: { uid: 0, gid: 0 }, cwd: '/', env: [DEFAULT_PATH_ENV] };
  return spec.process;
}

function linuxOf(spec: RuntimeSpec): LinuxConfig {
  spec.linux ??= {};
  return spec.linux;
}

function resourcesOf(spec: RuntimeSpec): LinuxResources {
  const linux = linuxOf(spec);
  linux.resources ??= {};
  return linux.resources;
}

const isUint32 = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= 0xffffffff;

function fail(option: string, reason: string): never {
  throw new InvalidSpecOptionError(option, reason);
}

/** Sets the process arguments; `args[0]` is the executable. */
export function withArgs(args: readonly string[]): SpecOpt {
  if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === 'string')) {
    fail('withArgs', 'needs at least one string argument');
  }
  return (spec) => {
    processOf(spec).args = [...args];
  };
}

/**
 * Merges `KEY=value` entries into the environment, as containerd's `WithEnv`:
 * a key already present is replaced in place, a new key is appended, and an
 * entry without `=` (`KEY`) removes that key.
 */
export function withEnv(env: readonly string[]): SpecOpt {
  for (const e of env) if (typeof e !== 'string' || e === '' || e.startsWith('=')) fail('withEnv', `invalid entry ${JSON.stringify(e)}`);
  return (spec) => {
    const p = processOf(spec);
    p.env = mergeEnv(p.env ?? [], env);
  };
}

/**
 * containerd's `replaceOrAppendEnvValues`: overrides replace entries with the
 * same key, are appended otherwise, and `KEY` alone unsets `KEY`.
 */
export function mergeEnv(defaults: readonly string[], overrides: readonly string[]): string[] {
  const results: (string | undefined)[] = [];
  const index = new Map<string, number>();
  const keyOf = (e: string): string => {
    const i = e.indexOf('=');
    return i === -1 ? e : e.slice(0, i);
  };
  for (const e of defaults) {
    index.set(keyOf(e), results.length);
    results.push(e);
  }
  for (const value of overrides) {
    const k = keyOf(value);
    const i = index.get(k);
    if (!value.includes('=')) {
      if (i !== undefined) results[i] = undefined;
      continue;
    }
    if (i !== undefined) {
      results[i] = value;
    } else {
      index.set(k, results.length);
      results.push(value);
    }
  }
  return results.filter((e): e is string => e !== undefined);
}

/** Sets the working directory; it must be absolute. */
export function withCwd(cwd: string): SpecOpt {
  if (typeof cwd !== 'string' || !cwd.startsWith('/')) fail('withCwd', `working directory ${JSON.stringify(cwd)} is not absolute`);
  return (spec) => {
    processOf(spec).cwd = cwd;
  };
}

/** The user of {@link withUser}: numeric ids; names must be resolved against the image's `/etc/passwd` first. */
export interface UserSpec {
  /** User id. */
  uid: number;
  /** Group id; defaults to 0 as with `docker run --user <uid>`. */
  gid?: number;
  /** Supplementary group ids. */
  additionalGids?: number[];
  /** File creation mask. */
  umask?: number;
}

/**
 * Sets the process user: a uid, a {@link UserSpec}, or a string as `docker run
 * --user` takes it (`uid`, `uid:gid`, `name`, `name:group`…). Names are
 * resolved against `db`, the contents of the container's `/etc/passwd` and
 * `/etc/group` that the caller read (see `resolveUser`); without `db` only
 * numeric strings work. A string user without a group gets the primary group
 * from passwd (0 when unknown) and the supplementary groups that list it.
 */
export function withUser(user: number | string | UserSpec, db?: UserDatabase): SpecOpt {
  let u: UserSpec;
  if (typeof user === 'number') {
    u = { uid: user };
  } else if (typeof user === 'string') {
    if (db === undefined && !/^[0-9]+(?::[0-9]+)?$/.test(user)) {
      fail('withUser', `user ${JSON.stringify(user)} is not numeric "uid" or "uid:gid"; pass /etc/passwd and /etc/group to resolve names`);
    }
    const r = resolveUser(user, db, 'withUser');
    u = { uid: r.uid, gid: r.gid, additionalGids: r.additionalGids };
  } else {
    u = user;
  }
  const gid = u.gid ?? 0;
  if (!isUint32(u.uid) || !isUint32(gid)) fail('withUser', `uid ${u.uid} / gid ${gid} out of range`);
  if (u.additionalGids !== undefined && !u.additionalGids.every(isUint32)) fail('withUser', 'additional gid out of range');
  if (u.umask !== undefined && !(isUint32(u.umask) && u.umask <= 0o777)) fail('withUser', `umask ${u.umask} out of range`);
  return (spec) => {
    const p = processOf(spec);
    p.user = {
      uid: u.uid,
      gid,
      ...(u.additionalGids === undefined || u.additionalGids.length === 0 ? {} : { additionalGids: [...u.additionalGids] }),
      ...(u.umask === undefined ? {} : { umask: u.umask }),
    };
  };
}

// RFC 1123 host name: labels of letters, digits and dashes, up to 63 each.
const hostnameRe = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Sets the hostname (needs the UTS namespace, which the defaults create). */
export function withHostname(hostname: string): SpecOpt {
  if (typeof hostname !== 'string' || !hostnameRe.test(hostname)) fail('withHostname', `invalid hostname ${JSON.stringify(hostname)}`);
  return (spec) => {
    spec.hostname = hostname;
  };
}

/** Sets the NIS domain name. */
export function withDomainname(domainname: string): SpecOpt {
  if (typeof domainname !== 'string' || !hostnameRe.test(domainname)) fail('withDomainname', `invalid domain name ${JSON.stringify(domainname)}`);
  return (spec) => {
    spec.domainname = domainname;
  };
}

function checkMount(option: string, m: RuntimeMount): void {
  if (typeof m?.destination !== 'string' || !m.destination.startsWith('/')) {
    fail(option, `mount destination ${JSON.stringify(m?.destination)} is not absolute`);
  }
}

/**
 * Adds mounts after the existing ones. A mount whose destination is already
 * mounted replaces that mount in place (as Docker lets a user mount replace a
 * default one, `/dev/shm` for example).
 */
export function withMounts(mounts: readonly RuntimeMount[]): SpecOpt {
  for (const m of mounts) checkMount('withMounts', m);
  return (spec) => {
    const list = spec.mounts ?? [];
    for (const m of mounts) {
      const copy: RuntimeMount = { ...m, ...(m.options === undefined ? {} : { options: [...m.options] }) };
      const i = list.findIndex((x) => x.destination === m.destination);
      if (i === -1) list.push(copy);
      else list[i] = copy;
    }
    spec.mounts = list;
  };
}

/** Adds one mount; see {@link withMounts}. */
export function withMount(mount: RuntimeMount): SpecOpt {
  return withMounts([mount]);
}

/** Sets the size of `/dev/shm` (Docker's `--shm-size`), in bytes. */
export function withShmSize(bytes: number): SpecOpt {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) fail('withShmSize', `size ${bytes} is not a positive integer`);
  return (spec) => {
    const shm = spec.mounts?.find((m) => m.destination === '/dev/shm');
    if (shm === undefined) return;
    shm.options = [...(shm.options ?? []).filter((o) => !o.startsWith('size=')), `size=${Math.ceil(bytes / 1024)}k`];
  };
}

/** Sets the memory limit in bytes (`docker run --memory`). */
export function withMemoryLimit(bytes: number): SpecOpt {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) fail('withMemoryLimit', `limit ${bytes} is not a positive integer`);
  return (spec) => {
    const r = resourcesOf(spec);
    r.memory = { ...r.memory, limit: bytes };
  };
}

/** The CFS period Docker uses for `--cpus`: 100 ms. */
export const DEFAULT_CPU_PERIOD = 100_000;

/**
 * Limits CPU time to `cpus` CPUs (`docker run --cpus 1.5`): CFS quota
 * `cpus × 100000` µs per 100000 µs period.
 */
export function withCpus(cpus: number): SpecOpt {
  if (!Number.isFinite(cpus) || cpus <= 0) fail('withCpus', `cpus ${cpus} is not a positive number`);
  const quota = Math.round(cpus * DEFAULT_CPU_PERIOD);
  if (quota < 1000) fail('withCpus', `cpus ${cpus} gives a quota below 1ms`);
  return withCpuQuota(quota, DEFAULT_CPU_PERIOD);
}

/** Sets the relative CPU weight (`--cpu-shares`, cgroup v1 `cpu.shares`, 2…262144). */
export function withCpuShares(shares: number): SpecOpt {
  if (!Number.isSafeInteger(shares) || shares < 2 || shares > 262144) fail('withCpuShares', `shares ${shares} not in 2…262144`);
  return (spec) => {
    const r = resourcesOf(spec);
    r.cpu = { ...r.cpu, shares };
  };
}

/** Sets the CFS quota and optionally the period, in µs (`--cpu-quota`, `--cpu-period`); -1 quota is unlimited. */
export function withCpuQuota(quota: number, period?: number): SpecOpt {
  if (!Number.isSafeInteger(quota) || (quota !== -1 && quota < 1000)) fail('withCpuQuota', `quota ${quota} is not -1 or ≥ 1000`);
  if (period !== undefined && (!Number.isSafeInteger(period) || period < 1000 || period > 1_000_000)) {
    fail('withCpuQuota', `period ${period} not in 1000…1000000`);
  }
  return (spec) => {
    const r = resourcesOf(spec);
    r.cpu = { ...r.cpu, quota, ...(period === undefined ? {} : { period }) };
  };
}

/** Sets the CPUs and memory nodes the container may use (`--cpuset-cpus`, `--cpuset-mems`), such as `0-1,3`. */
export function withCpuset(cpus: string, mems?: string): SpecOpt {
  const re = /^[0-9]+(?:-[0-9]+)?(?:,[0-9]+(?:-[0-9]+)?)*$/;
  if (!re.test(cpus) || (mems !== undefined && !re.test(mems))) fail('withCpuset', `invalid cpuset ${JSON.stringify(cpus)}`);
  return (spec) => {
    const r = resourcesOf(spec);
    r.cpu = { ...r.cpu, cpus, ...(mems === undefined ? {} : { mems }) };
  };
}

/** Limits the number of processes (`--pids-limit`); 0 or -1 is unlimited. */
export function withPidsLimit(limit: number): SpecOpt {
  if (!Number.isSafeInteger(limit) || limit < -1) fail('withPidsLimit', `limit ${limit} is not an integer ≥ -1`);
  return (spec) => {
    resourcesOf(spec).pids = { limit };
  };
}

/** Mounts the rootfs read-only (`--read-only`). */
export function withReadonlyRootfs(readonly = true): SpecOpt {
  return (spec) => {
    spec.root = { path: spec.root?.path ?? 'rootfs', readonly };
  };
}

/** Sets the rootfs path, absolute or relative to the bundle. */
export function withRootfs(path: string): SpecOpt {
  if (typeof path !== 'string' || path === '') fail('withRootfs', 'path is empty');
  return (spec) => {
    spec.root = { ...spec.root, path };
  };
}

const namespaceTypes = new Set<string>(Object.values(NamespaceType));

function checkNamespace(option: string, ns: LinuxNamespace): void {
  if (!namespaceTypes.has(ns?.type)) fail(option, `unknown namespace type ${JSON.stringify(ns?.type)}`);
  if (ns.path !== undefined && !ns.path.startsWith('/')) fail(option, `namespace path ${JSON.stringify(ns.path)} is not absolute`);
}

/** Replaces the whole namespace list. */
export function withNamespaces(namespaces: readonly LinuxNamespace[]): SpecOpt {
  for (const ns of namespaces) checkNamespace('withNamespaces', ns);
  if (new Set(namespaces.map((n) => n.type)).size !== namespaces.length) fail('withNamespaces', 'duplicate namespace type');
  return (spec) => {
    linuxOf(spec).namespaces = namespaces.map((n) => ({ ...n }));
  };
}

/**
 * Creates a namespace of `type`, or joins the one at `path`
 * (`/proc/<pid>/ns/net`); replaces an existing entry of that type (containerd `WithLinuxNamespace`).
 */
export function withNamespace(type: NamespaceType, path?: string): SpecOpt {
  const ns: LinuxNamespace = path === undefined ? { type } : { type, path };
  checkNamespace('withNamespace', ns);
  return (spec) => {
    const linux = linuxOf(spec);
    const list = linux.namespaces ?? [];
    const i = list.findIndex((n) => n.type === type);
    if (i === -1) list.push({ ...ns });
    else list[i] = { ...ns };
    linux.namespaces = list;
  };
}

/** Removes the namespace of `type`, so the container shares the host's (`--network host`, `--pid host`). */
export function withoutNamespace(type: NamespaceType): SpecOpt {
  if (!namespaceTypes.has(type)) fail('withoutNamespace', `unknown namespace type ${JSON.stringify(type)}`);
  return (spec) => {
    const linux = linuxOf(spec);
    linux.namespaces = (linux.namespaces ?? []).filter((n) => n.type !== type);
  };
}

/**
 * Gives the process a terminal (`docker run -t`), optionally sized, and sets
 * `TERM=xterm` unless the environment has a TERM, as Docker does.
 */
export function withTty(consoleSize?: { width: number; height: number }): SpecOpt {
  if (consoleSize !== undefined && !(isUint32(consoleSize.width) && isUint32(consoleSize.height))) {
    fail('withTty', 'console size must be non-negative integers');
  }
  return (spec) => {
    const p = processOf(spec);
    p.terminal = true;
    if (consoleSize !== undefined) p.consoleSize = { height: consoleSize.height, width: consoleSize.width };
    if (!(p.env ?? []).some((e) => e.startsWith('TERM='))) p.env = [...(p.env ?? []), 'TERM=xterm'];
  };
}

const allCaps = new Set(ALL_CAPABILITIES);

/** Normalizes capability names: uppercase, `CAP_` prefix (`net_admin` → `CAP_NET_ADMIN`). */
function normalizeCaps(option: string, caps: readonly string[]): string[] {
  return caps.map((c) => {
    if (typeof c !== 'string') fail(option, 'capability names must be strings');
    const up = c.toUpperCase();
    const name = up.startsWith('CAP_') ? up : `CAP_${up}`;
    if (!allCaps.has(name)) fail(option, `unknown capability ${JSON.stringify(c)}`);
    return name;
  });
}

function setCaps(spec: RuntimeSpec, caps: string[]): void {
  const p = processOf(spec);
  const inheritable = p.capabilities?.inheritable;
  const ambient = p.capabilities?.ambient;
  p.capabilities = {
    bounding: [...caps],
    effective: [...caps],
    permitted: [...caps],
    ...(inheritable === undefined ? {} : { inheritable: inheritable.filter((c) => caps.includes(c)) }),
    ...(ambient === undefined ? {} : { ambient: ambient.filter((c) => caps.includes(c)) }),
  };
}

/** Sets the bounding, effective and permitted capability sets to exactly `caps` (containerd `WithCapabilities`). */
export function withCapabilities(caps: readonly string[]): SpecOpt {
  const names = normalizeCaps('withCapabilities', caps);
  return (spec) => setCaps(spec, [...new Set(names)]);
}

/** Adds capabilities to the current sets (`--cap-add`); `ALL` adds every one. */
export function withAddedCapabilities(caps: readonly string[]): SpecOpt {
  const names = caps.some((c) => c.toUpperCase() === 'ALL') ? [...ALL_CAPABILITIES] : normalizeCaps('withAddedCapabilities', caps);
  return (spec) => {
    const current = processOf(spec).capabilities?.bounding ?? [];
    setCaps(spec, [...new Set([...current, ...names])]);
  };
}

/** Removes capabilities from the current sets (`--cap-drop`); `ALL` removes every one. */
export function withDroppedCapabilities(caps: readonly string[]): SpecOpt {
  const all = caps.some((c) => c.toUpperCase() === 'ALL');
  const names = new Set(all ? [] : normalizeCaps('withDroppedCapabilities', caps));
  return (spec) => {
    const current = processOf(spec).capabilities?.bounding ?? [];
    setCaps(spec, all ? [] : current.filter((c) => !names.has(c)));
  };
}

/**
 * Runs privileged, as containerd's `WithPrivileged` and `docker run --privileged`:
 * every capability, no masked or read-only paths, all devices allowed in the
 * device cgroup, writable `/sys` and `/sys/fs/cgroup`, no seccomp and no AppArmor
 * profile. Host device nodes are not added to `linux.devices`.
 */
export function withPrivileged(): SpecOpt {
  return (spec) => {
    setCaps(spec, [...ALL_CAPABILITIES]);
    const linux = linuxOf(spec);
    linux.maskedPaths = [];
    linux.readonlyPaths = [];
    delete linux.seccomp;
    resourcesOf(spec).devices = [{ allow: true, access: 'rwm' }];
    for (const m of spec.mounts ?? []) {
      if (m.destination === '/sys' || m.destination === '/sys/fs/cgroup') {
        m.options = (m.options ?? []).map((o) => (o === 'ro' ? 'rw' : o));
      }
    }
    delete processOf(spec).apparmorProfile;
  };
}

function checkMappings(option: string, maps: readonly LinuxIdMapping[]): void {
  if (maps.length === 0) fail(option, 'needs at least one mapping');
  for (const m of maps) {
    if (!isUint32(m?.containerID) || !isUint32(m.hostID) || !isUint32(m.size) || m.size === 0) {
      fail(option, `invalid mapping ${JSON.stringify(m)}`);
    }
  }
}

/**
 * Runs in a new user namespace with these id mappings (containerd
 * `WithUserNamespace`). Without gid mappings the uid mappings are used for both.
 */
export function withUserNamespace(uidMappings: readonly LinuxIdMapping[], gidMappings: readonly LinuxIdMapping[] = uidMappings): SpecOpt {
  checkMappings('withUserNamespace', uidMappings);
  checkMappings('withUserNamespace', gidMappings);
  const ns = withNamespace(NamespaceType.User);
  return (spec) => {
    ns(spec);
    const linux = linuxOf(spec);
    linux.uidMappings = uidMappings.map((m) => ({ ...m }));
    linux.gidMappings = gidMappings.map((m) => ({ ...m }));
  };
}

/** Installs a seccomp profile (`--security-opt seccomp=profile.json`), already parsed. */
export function withSeccomp(profile: LinuxSeccomp): SpecOpt {
  if (typeof profile?.defaultAction !== 'string' || !profile.defaultAction.startsWith('SCMP_ACT_')) {
    fail('withSeccomp', 'profile needs a SCMP_ACT_ defaultAction');
  }
  return (spec) => {
    linuxOf(spec).seccomp = structuredClone(profile);
  };
}

/** Removes any seccomp profile (`--security-opt seccomp=unconfined`). */
export function withSeccompUnconfined(): SpecOpt {
  return (spec) => {
    delete linuxOf(spec).seccomp;
  };
}

/** Sets `no_new_privs` (`--security-opt no-new-privileges`). */
export function withNoNewPrivileges(on = true): SpecOpt {
  return (spec) => {
    processOf(spec).noNewPrivileges = on;
  };
}

/** Sets the AppArmor profile (`--security-opt apparmor=…`). */
export function withApparmorProfile(profile: string): SpecOpt {
  return (spec) => {
    processOf(spec).apparmorProfile = profile;
  };
}

/** Sets `oom_score_adj` (-1000…1000). */
export function withOomScoreAdj(adj: number): SpecOpt {
  if (!Number.isSafeInteger(adj) || adj < -1000 || adj > 1000) fail('withOomScoreAdj', `${adj} not in -1000…1000`);
  return (spec) => {
    processOf(spec).oomScoreAdj = adj;
  };
}

/**
 * Sets resource limits (`--ulimit`); a limit of a type already set replaces
 * it. `type` may be given as `nofile` or `RLIMIT_NOFILE`. Hard limits above the
 * caller's own need CAP_SYS_RESOURCE (this machine's hard nofile is 20000).
 */
export function withRlimits(rlimits: readonly PosixRlimit[]): SpecOpt {
  const list = rlimits.map((r) => {
    const type = (r?.type ?? '').toUpperCase();
    const name = type.startsWith('RLIMIT_') ? type : `RLIMIT_${type}`;
    if (!/^RLIMIT_[A-Z]+$/.test(name)) fail('withRlimits', `invalid rlimit type ${JSON.stringify(r?.type)}`);
    if (!Number.isSafeInteger(r.soft) || !Number.isSafeInteger(r.hard) || r.soft < 0 || r.hard < 0 || r.soft > r.hard) {
      fail('withRlimits', `${name}: soft ${r.soft} / hard ${r.hard} invalid`);
    }
    return { type: name, soft: r.soft, hard: r.hard };
  });
  return (spec) => {
    const p = processOf(spec);
    const current = p.rlimits ?? [];
    for (const r of list) {
      const i = current.findIndex((x) => x.type === r.type);
      if (i === -1) current.push(r);
      else current[i] = r;
    }
    p.rlimits = current;
  };
}

/** Merges `/proc/sys` settings (`--sysctl net.ipv4.ip_forward=1`). */
export function withSysctl(sysctl: Readonly<Record<string, string>>): SpecOpt {
  for (const [k, v] of Object.entries(sysctl)) {
    if (!/^[a-z0-9_]+(?:[./][A-Za-z0-9_-]+)+$/.test(k) || typeof v !== 'string') fail('withSysctl', `invalid sysctl ${JSON.stringify(k)}`);
  }
  return (spec) => {
    const linux = linuxOf(spec);
    linux.sysctl = { ...linux.sysctl, ...sysctl };
  };
}

/** Sets the cgroup path (absolute, or relative to the runtime's cgroup). */
export function withCgroupsPath(path: string): SpecOpt {
  if (typeof path !== 'string' || path === '' || path.split('/').includes('..')) fail('withCgroupsPath', `invalid cgroup path ${JSON.stringify(path)}`);
  return (spec) => {
    linuxOf(spec).cgroupsPath = path;
  };
}

/** Merges annotations. */
export function withAnnotations(annotations: Readonly<Record<string, string>>): SpecOpt {
  return (spec) => {
    spec.annotations = { ...spec.annotations, ...annotations };
  };
}

/** Appends a hook at a lifecycle point. */
export function withHook(stage: keyof RuntimeHooks, hook: RuntimeHook): SpecOpt {
  if (typeof hook?.path !== 'string' || !hook.path.startsWith('/')) fail('withHook', `hook path ${JSON.stringify(hook?.path)} is not absolute`);
  return (spec) => {
    spec.hooks ??= {};
    spec.hooks[stage] = [...(spec.hooks[stage] ?? []), { ...hook }];
  };
}

/**
 * Applies an image config's execution defaults, as containerd's
 * `WithImageConfig` and Docker do: environment merged over the current one
 * (see {@link withEnv}), `HOME` from /etc/passwd when the image sets none,
 * args = `Entrypoint` + `Cmd`, cwd = `WorkingDir` (or `/`), and the user
 * resolved against the container's `/etc/passwd` and `/etc/group`, whose
 * contents the caller reads (safely, inside the rootfs) and passes in `db`.
 */
export function withImageConfig(config: ImageExecConfig | null | undefined, db: UserDatabase = {}): SpecOpt {
  const c = config ?? {};
  const user = resolveUser(c.User ?? '', db, 'withImageConfig');
  const env = c.Env ?? [];
  for (const e of env) if (!e.includes('=')) fail('withImageConfig', `Env entry ${JSON.stringify(e)} has no "="`);
  const args = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  const cwd = c.WorkingDir || '/';
  if (!cwd.startsWith('/')) fail('withImageConfig', `WorkingDir ${JSON.stringify(cwd)} is not absolute`);
  return (spec) => {
    const p = processOf(spec);
    p.env = mergeEnv(p.env ?? [], env);
    if (!p.env.some((e) => e.startsWith('HOME='))) p.env.push(`HOME=${user.home}`);
    if (args.length > 0) p.args = args;
    p.cwd = cwd;
    p.user = { uid: user.uid, gid: user.gid, ...(user.additionalGids.length > 0 ? { additionalGids: user.additionalGids } : {}) };
  };
}
