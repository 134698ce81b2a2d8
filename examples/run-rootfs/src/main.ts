#!/usr/bin/env node
/**
 * run-rootfs: runs a command in a root filesystem directory, in new
 * namespaces and a cgroup with limits, using only `@berth/namespaces`: what
 * `runc run` does with a bundle, from Node.
 *
 *   run-rootfs [options] ROOTFS [COMMAND [ARG...]]
 *
 * The runtime spec is built here, in code (a runc-like default with
 * Docker's capabilities); `runContainer` clones a child that makes the
 * namespaces, mounts, cgroup and process before execve, and `wait()` waits
 * on a thread of its own. The container's exit status is printed on stderr
 * and becomes ours.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_RUNTIME_ROOT, runContainer, type Container, type RuntimeSpec } from '@berth/namespaces';

const usage = `usage: run-rootfs [options] ROOTFS [COMMAND [ARG...]]

Runs COMMAND (default: sh) as root in ROOTFS with new pid, mount, uts, ipc,
cgroup and network namespaces, like \`runc run\` on a bundle. Exits with the
command's status (128+n when killed by signal n), 127 when the command is not
found, 125 when run-rootfs itself fails.

  --hostname NAME     the container's hostname (default: the id)
  --memory BYTES      memory limit (suffix k, m or g)
  --pids N            most processes at once
  --cpus N            CPU time, in CPUs (0.5 = half of one)
  -e, --env K=V       an environment variable (repeatable)
  -w, --cwd DIR       working directory (default /)
  --network host      keep the host's network namespace (default: a new, empty one)
  --read-only         mount ROOTFS read-only
  --id ID             container id (default: run-rootfs-<pid>)
  --root DIR          runtime state directory (default ${DEFAULT_RUNTIME_ROOT})
`;

class UsageError extends Error {}

/** Docker's default capabilities (moby `oci/caps/defaults.go`). */
const capabilities = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];

function parseBytes(s: string): number {
  const m = /^(\d+)([kmg]?)b?$/i.exec(s);
  if (!m) throw new UsageError(`bad size "${s}"`);
  return Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase());
}

function positive(s: string, what: string): number {
  const n = Number(s);
  if (!(n > 0)) throw new UsageError(`bad ${what} "${s}"`);
  return n;
}

const options = {
  hostname: { type: 'string' }, memory: { type: 'string' }, pids: { type: 'string' }, cpus: { type: 'string' },
  env: { type: 'string', short: 'e', multiple: true }, cwd: { type: 'string', short: 'w' }, network: { type: 'string' },
  'read-only': { type: 'boolean' }, id: { type: 'string' }, root: { type: 'string' }, help: { type: 'boolean', short: 'h' },
} as const;

async function main(argv: string[]): Promise<number> {
  // Options end at ROOTFS, so that the command's own flags (sh -c …) pass through.
  const takesValue = new Set(Object.entries(options).filter(([, o]) => o.type === 'string')
    .flatMap(([name, o]) => [`--${name}`, ...('short' in o ? [`-${o.short}`] : [])]));
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-') && argv[i] !== '--') i += takesValue.has(argv[i]!) ? 2 : 1;
  const { values } = parseArgs({ args: argv.slice(0, i), options });
  if (values.help) { process.stdout.write(usage); return 0; }
  const [rootfs, ...args] = argv.slice(argv[i] === '--' ? i + 1 : i);
  if (!rootfs) throw new UsageError('expected ROOTFS');
  if (values.network !== undefined && values.network !== 'host') throw new UsageError('--network takes only "host"');
  const id = values.id ?? `run-rootfs-${process.pid}`;

  const spec: RuntimeSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: args.length ? args : ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `HOSTNAME=${values.hostname ?? id}`, ...(values.env ?? [])],
      cwd: values.cwd ?? '/',
      capabilities: { bounding: capabilities, effective: capabilities, permitted: capabilities },
      noNewPrivileges: true,
    },
    root: { path: path.resolve(rootfs), readonly: values['read-only'] === true },
    hostname: values.hostname ?? id,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }, { type: 'ipc' }, { type: 'cgroup' },
        ...(values.network === 'host' ? [] : [{ type: 'network' as const }])],
      // The cgroup (/berth/<id> in every hierarchy) and its limits; devices: only the default ones.
      cgroupsPath: id,
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        ...(values.memory ? { memory: { limit: parseBytes(values.memory) } } : {}),
        ...(values.pids ? { pids: { limit: positive(values.pids, '--pids') } } : {}),
        ...(values.cpus ? { cpu: { period: 100_000, quota: Math.round(positive(values.cpus, '--cpus') * 100_000) } } : {}),
      },
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };

  // Signals for us go to the container's init (pid 1 ignores those it has no handler for, as in docker).
  // Handlers come first: one that arrives while the container starts is passed on once it runs.
  let container: Container | undefined;
  const pending: NodeJS.Signals[] = [];
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => (container ? container.kill(sig) : pending.push(sig)));

  // The bundle is the rootfs's parent (nothing is written there); state goes under --root.
  container = await runContainer(id, spec, {
    bundle: path.dirname(path.resolve(rootfs)), stdio: 'inherit', ...(values.root ? { root: values.root } : {}),
  });
  for (const sig of pending) container.kill(sig);
  const { exitCode, signal, oomKilled } = await container.wait();
  await container.delete();
  const status = exitCode ?? 128 + (signal ? os.constants.signals[signal] : 0);
  process.stderr.write(`run-rootfs: ${id} exited with status ${status}${signal ? ` (${signal})` : ''}${oomKilled ? ' (OOM-killed)' : ''}\n`);
  return status;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError || String((e as { code?: string }).code).startsWith('ERR_PARSE_ARGS_')) {
    process.stderr.write(`run-rootfs: ${(e as Error).message}\n\n${usage}`);
    process.exitCode = 125;
  } else {
    // namespaces errors have a stable `code`; set-up failures in the child also carry errno, syscall and path.
    const { message, code } = e as { message: string; code?: string };
    process.stderr.write(`run-rootfs: ${message}${code ? ` [${code}]` : ''}\n`);
    process.exitCode = code === 'ERR_NS_EXEC_NOT_FOUND' ? 127 : 125;
  }
}
