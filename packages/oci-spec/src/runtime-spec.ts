/**
 * OCI runtime-spec v1.2 `config.json` (`config.md`, `config-linux.md`): the
 * bundle configuration a runtime such as runc, crun or berth's own executes.
 * Only the Linux (POSIX) platform is modelled.
 */

/** The runtime-spec version berth writes. */
export const RUNTIME_SPEC_VERSION = '1.2.0';

/** A container's runtime configuration (`config.json`). */
export interface RuntimeSpec {
  /** The runtime-spec version, such as `1.2.0`. */
  ociVersion: string;
  /** The container's root filesystem. */
  root?: RuntimeRoot;
  /** Extra mounts, in order, after the root. */
  mounts?: RuntimeMount[];
  /** The container process. Required for `start`. */
  process?: RuntimeProcess;
  /** The container's hostname (needs a UTS namespace). */
  hostname?: string;
  /** The container's NIS domain name (needs a UTS namespace). */
  domainname?: string;
  /** Lifecycle hooks. */
  hooks?: RuntimeHooks;
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
  /** Linux-specific configuration. */
  linux?: LinuxConfig;
}

/** The root filesystem. */
export interface RuntimeRoot {
  /** Path to the rootfs, absolute or relative to the bundle. */
  path: string;
  /** Mount the rootfs read-only. */
  readonly?: boolean;
}

/** A mount in runtime-spec form (`config.md#mounts`), unlike the snapshotter's {@link Mount}. */
export interface RuntimeMount {
  /** Absolute path in the container. */
  destination: string;
  /** Filesystem type (`proc`, `tmpfs`, `bind`…). */
  type?: string;
  /** Device, directory or label. */
  source?: string;
  /** `mount(8)` options, including `bind`/`rbind`. */
  options?: string[];
  /** ID-mapped mount: user mappings. */
  uidMappings?: LinuxIdMapping[];
  /** ID-mapped mount: group mappings. */
  gidMappings?: LinuxIdMapping[];
}

/** The container process (`config.md#process`). */
export interface RuntimeProcess {
  /** Allocate a pseudo-terminal. */
  terminal?: boolean;
  /** Initial console size, with `terminal`. */
  consoleSize?: { height: number; width: number };
  /** The user the process runs as. */
  user: RuntimeUser;
  /** Arguments, `args[0]` being the executable. */
  args?: string[];
  /** Windows only: the whole command line. */
  commandLine?: string;
  /** `KEY=value` environment entries. */
  env?: string[];
  /** Absolute working directory. */
  cwd: string;
  /** Capability sets. */
  capabilities?: LinuxCapabilities;
  /** Resource limits (`setrlimit(2)`). */
  rlimits?: PosixRlimit[];
  /** Set `PR_SET_NO_NEW_PRIVS`. */
  noNewPrivileges?: boolean;
  /** AppArmor profile name. */
  apparmorProfile?: string;
  /** `/proc/self/oom_score_adj` (-1000…1000). */
  oomScoreAdj?: number;
  /** SELinux process label. */
  selinuxLabel?: string;
  /** I/O priority (v1.2). */
  ioPriority?: { class: 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE'; priority: number };
  /** Scheduler (v1.2). */
  scheduler?: Record<string, unknown>;
  /** CPU affinity (v1.2). */
  execCPUAffinity?: { initial?: string; final?: string };
}

/** The process user (`config.md#user`). */
export interface RuntimeUser {
  /** User id in the container's user namespace. */
  uid: number;
  /** Group id in the container's user namespace. */
  gid: number;
  /** File mode creation mask. */
  umask?: number;
  /** Supplementary group ids. */
  additionalGids?: number[];
  /** Windows only. */
  username?: string;
}

/** The five capability sets, each a list of `CAP_…` names. */
export interface LinuxCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

/** One resource limit, such as `{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }`. */
export interface PosixRlimit {
  /** `RLIMIT_…` name. */
  type: string;
  /** Soft limit. */
  soft: number;
  /** Hard limit. */
  hard: number;
}

/** One hook: a program run at a lifecycle point. */
export interface RuntimeHook {
  /** Absolute path of the executable. */
  path: string;
  /** Arguments, `args[0]` included. */
  args?: string[];
  /** Environment. */
  env?: string[];
  /** Seconds before the hook is aborted. */
  timeout?: number;
}

/** Hooks by lifecycle point (`config.md#posix-platform-hooks`). */
export interface RuntimeHooks {
  /** Deprecated; run after `create` in the runtime namespace. */
  prestart?: RuntimeHook[];
  createRuntime?: RuntimeHook[];
  createContainer?: RuntimeHook[];
  startContainer?: RuntimeHook[];
  poststart?: RuntimeHook[];
  poststop?: RuntimeHook[];
}

/** Namespace types (`config-linux.md#namespaces`). */
export const NamespaceType = {
  Pid: 'pid',
  Network: 'network',
  Mount: 'mount',
  Ipc: 'ipc',
  Uts: 'uts',
  User: 'user',
  Cgroup: 'cgroup',
  Time: 'time',
} as const;
/** One of the values of {@link NamespaceType}. */
export type NamespaceType = (typeof NamespaceType)[keyof typeof NamespaceType];

/** A namespace to create, or to join when `path` is given. */
export interface LinuxNamespace {
  /** The namespace type. */
  type: NamespaceType;
  /** A namespace file to join (`/proc/<pid>/ns/net`). */
  path?: string;
}

/** One id-mapping range of a user namespace or id-mapped mount. */
export interface LinuxIdMapping {
  /** First id in the container. */
  containerID: number;
  /** First id on the host. */
  hostID: number;
  /** Number of ids. */
  size: number;
}

/** A device node to create in the container (`config-linux.md#devices`). */
export interface LinuxDevice {
  /** Path in the container. */
  path: string;
  /** `c`, `b`, `u` or `p`. */
  type: 'c' | 'b' | 'u' | 'p';
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** A device cgroup rule (`config-linux.md#allowed-device-list`). */
export interface LinuxDeviceCgroup {
  /** Allow (true) or deny (false). */
  allow: boolean;
  /** `a` (all), `c` or `b`; absent means all. */
  type?: 'a' | 'c' | 'b';
  /** Absent means all. */
  major?: number;
  /** Absent means all. */
  minor?: number;
  /** Some of `r`, `w`, `m`. */
  access?: string;
}

/** Memory limits (`config-linux.md#memory`), in bytes; -1 is unlimited. */
export interface LinuxMemory {
  limit?: number;
  reservation?: number;
  swap?: number;
  kernel?: number;
  kernelTCP?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

/** CPU limits (`config-linux.md#cpu`). */
export interface LinuxCpu {
  shares?: number;
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

/** A per-device block I/O weight. */
export interface LinuxWeightDevice {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
}

/** A per-device block I/O rate. */
export interface LinuxThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

/** Block I/O limits (`config-linux.md#block-io`). */
export interface LinuxBlockIO {
  weight?: number;
  leafWeight?: number;
  weightDevice?: LinuxWeightDevice[];
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

/** A huge page limit, such as `{ pageSize: '2MB', limit: 209715200 }`. */
export interface LinuxHugepageLimit {
  pageSize: string;
  limit: number;
}

/** cgroup resource limits (`config-linux.md#control-groups`). */
export interface LinuxResources {
  /** Device access rules, applied in order. */
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCpu;
  pids?: { limit: number };
  blockIO?: LinuxBlockIO;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
  rdma?: Record<string, { hcaHandles?: number; hcaObjects?: number }>;
  /** cgroup v2 key/values written as files. */
  unified?: Record<string, string>;
}

/** A seccomp syscall rule argument. */
export interface LinuxSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

/** A seccomp syscall rule. */
export interface LinuxSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

/** A seccomp profile (`config-linux.md#seccomp`). */
export interface LinuxSeccomp {
  /** `SCMP_ACT_…` default action. */
  defaultAction: string;
  defaultErrnoRet?: number;
  /** `SCMP_ARCH_…` names. */
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
}

/** Intel RDT (`config-linux.md#intelrdt`). */
export interface LinuxIntelRdt {
  closID?: string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  enableCMT?: boolean;
  enableMBM?: boolean;
}

/** Linux-specific configuration (`config-linux.md`). */
export interface LinuxConfig {
  /** Namespaces to create or join. */
  namespaces?: LinuxNamespace[];
  /** User namespace uid mappings. */
  uidMappings?: LinuxIdMapping[];
  /** User namespace gid mappings. */
  gidMappings?: LinuxIdMapping[];
  /** Device nodes to create. */
  devices?: LinuxDevice[];
  /** cgroup path, absolute or relative to the runtime's cgroup. */
  cgroupsPath?: string;
  /** cgroup limits. */
  resources?: LinuxResources;
  /** `/proc/sys` settings, such as `{ 'net.ipv4.ip_forward': '1' }`. */
  sysctl?: Record<string, string>;
  /** Seccomp filter. */
  seccomp?: LinuxSeccomp;
  /** `shared`, `slave`, `private`, `unbindable` (with optional `r` prefix). */
  rootfsPropagation?: string;
  /** Paths to hide (bind `/dev/null` or an empty tmpfs over them). */
  maskedPaths?: string[];
  /** Paths to remount read-only. */
  readonlyPaths?: string[];
  /** SELinux mount label. */
  mountLabel?: string;
  /** Intel RDT. */
  intelRdt?: LinuxIntelRdt;
  /** Personality (`config-linux.md#personality`). */
  personality?: { domain: 'LINUX' | 'LINUX32'; flags?: string[] };
  /** Time namespace offsets. */
  timeOffsets?: Record<string, { secs?: number; nanosecs?: number }>;
}
