/**
 * Docker's default Linux runtime spec (moby `oci/defaults.go` and the
 * daemon's `/dev/shm` size), and `generateSpec`, which applies `with…`
 * options to it in order (containerd `pkg/oci/spec.go`: GenerateSpec).
 */
import { RUNTIME_SPEC_VERSION, type LinuxDeviceCgroup, type RuntimeMount, type RuntimeSpec } from '../runtime-spec.js';
import type { SpecOpt } from '../spec-opts.js';

/** The PATH Docker and containerd give a process whose image sets none. */
export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Docker's default capability set (moby `oci/caps/defaults.go`). */
export const DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL',
  'CAP_AUDIT_WRITE',
]);

/** Every capability of Linux 6.x, for privileged containers. */
export const ALL_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
]);

/** Paths Docker hides from containers (moby `oci/defaults.go`). */
export const DEFAULT_MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware',
  // Added by moby 25 (CVE-2020-8694: RAPL energy counters leak).
  '/sys/devices/virtual/powercap',
]);

/** Paths Docker makes read-only in containers (moby `oci/defaults.go`). */
export const DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze([
  '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
]);

/** Docker's default `/dev/shm` size: 64 MiB. */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** Docker's default mounts (moby `oci/defaults.go`, with the daemon's shm size). */
export function defaultMounts(): RuntimeMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${DEFAULT_SHM_SIZE / 1024}k`] },
  ];
}

/**
 * Docker's device cgroup rules (moby `oci/defaults.go`): deny everything,
 * allow zero 1:5, null 1:3, urandom 1:9, random 1:8, tty 5:0 and console 5:1,
 * deny fuse 10:229. Then the rules runc appends to every container, which
 * berth's runtime cannot rely on being added: `mknod` of any char or block
 * device, full 1:7, ptmx 5:2 and the pty slaves 136:*. The device nodes
 * themselves are the runtime-spec's default devices, which every runtime
 * creates without being told, so `linux.devices` stays empty.
 */
export function defaultDeviceRules(): LinuxDeviceCgroup[] {
  const c = (major: number | undefined, minor: number | undefined, access = 'rwm', allow = true): LinuxDeviceCgroup => ({
    allow, type: 'c', ...(major === undefined ? {} : { major }), ...(minor === undefined ? {} : { minor }), access,
  });
  return [
    // moby
    { allow: false, access: 'rwm' },
    c(1, 5), c(1, 3), c(1, 9), c(1, 8), c(5, 0), c(5, 1),
    c(10, 229, 'rwm', false),
    // runc's AllowedDevices
    c(undefined, undefined, 'm'),
    { allow: true, type: 'b', access: 'm' },
    c(1, 7), c(5, 2), c(136, undefined),
  ];
}

/**
 * Docker's default spec: process as root in `/` with the default PATH and
 * capabilities, rootfs `rootfs`, the default mounts, namespaces pid, ipc, uts,
 * mount and network, masked and read-only paths and device rules.
 * No rlimits (Docker's nofile 1048576 needs CAP_SYS_RESOURCE; use `withRlimits`).
 */
export function defaultSpec(): RuntimeSpec {
  return {
    ociVersion: RUNTIME_SPEC_VERSION,
    root: { path: 'rootfs', readonly: false },
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [],
      env: [DEFAULT_PATH_ENV],
      cwd: '/',
      // Since the fix for CVE-2022-24769 Docker leaves the inheritable set empty.
      capabilities: {
        bounding: [...DEFAULT_CAPABILITIES],
        effective: [...DEFAULT_CAPABILITIES],
        permitted: [...DEFAULT_CAPABILITIES],
      },
      noNewPrivileges: false,
    },
    mounts: defaultMounts(),
    linux: {
      devices: [],
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }],
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      resources: { devices: defaultDeviceRules() },
    },
  };
}

/**
 * Builds a runtime spec: Docker's defaults ({@link defaultSpec}), then each
 * option in order; later options win. Options may throw
 * `InvalidSpecOptionError` (`ERR_OCI_INVALID_SPEC_OPTION`).
 *
 * ```ts
 * const spec = generateSpec(withRootfs('/b/rootfs'), withArgs(['sh', '-c', 'echo hi']),
 *   withEnv(['HOME=/root']), withHostname('box'), withMemoryLimit(64 << 20));
 * ```
 */
export function generateSpec(...opts: SpecOpt[]): RuntimeSpec {
  return applySpecOpts(defaultSpec(), ...opts);
}

/** Applies options, in order, to an existing spec (edited in place and returned). */
export function applySpecOpts(spec: RuntimeSpec, ...opts: SpecOpt[]): RuntimeSpec {
  for (const opt of opts) opt(spec);
  return spec;
}
