/**
 * `berth run` / `berth create` flags, and their translation into the
 * engine's {@link CreateContainerOptions} (mount, port and size parsing are
 * the engine's, so bad values fail here with the engine's typed errors).
 */
import fs from 'node:fs';
import {
  parseMountFlag, parsePublishFlag, parseTmpfsFlag, parseVolumeFlag, parseSize, type CreateContainerOptions,
} from '@berth/engine/local';
import type { FlagSpec, ParsedCommand } from '../args.js';
import { CliErrorCode, CliUsageError } from '../errors.js';
import { mapFrom } from './common.js';

/** The flags of `docker create` (and `run`, which adds detach/attach ones). */
export const createFlags: FlagSpec[] = [
  { long: 'add-host', type: 'list', value: 'list', help: 'Add a custom host-to-IP mapping (host:ip)' },
  { long: 'attach', short: 'a', type: 'list', value: 'list', help: 'Attach to STDIN, STDOUT or STDERR' },
  { long: 'cap-add', type: 'list', value: 'list', help: 'Add Linux capabilities' },
  { long: 'cap-drop', type: 'list', value: 'list', help: 'Drop Linux capabilities' },
  { long: 'cpus', type: 'string', value: 'decimal', help: 'Number of CPUs' },
  { long: 'dns', type: 'list', value: 'list', help: 'Set custom DNS servers' },
  { long: 'entrypoint', type: 'string', value: 'string', help: 'Overwrite the default ENTRYPOINT of the image' },
  { long: 'env', short: 'e', type: 'list', value: 'list', help: 'Set environment variables' },
  { long: 'env-file', type: 'list', value: 'list', help: 'Read in a file of environment variables' },
  { long: 'expose', type: 'list', value: 'list', help: 'Expose a port or a range of ports' },
  { long: 'hostname', short: 'h', type: 'string', value: 'string', help: 'Container host name' },
  { long: 'init', type: 'bool', help: 'Run an init inside the container that forwards signals and reaps processes' },
  { long: 'interactive', short: 'i', type: 'bool', help: 'Keep STDIN open even if not attached' },
  { long: 'ip', type: 'string', value: 'string', help: 'IPv4 address (e.g., 172.30.100.104)' },
  { long: 'label', short: 'l', type: 'list', value: 'list', help: 'Set meta data on a container' },
  { long: 'log-driver', type: 'string', value: 'string', help: 'Logging driver for the container', default: 'json-file' },
  { long: 'log-opt', type: 'list', value: 'list', help: 'Log driver options (max-size, max-file)' },
  { long: 'memory', short: 'm', type: 'string', value: 'bytes', help: 'Memory limit' },
  { long: 'mount', type: 'list', value: 'mount', help: 'Attach a filesystem mount to the container' },
  { long: 'name', type: 'string', value: 'string', help: 'Assign a name to the container' },
  { long: 'network', type: 'string', value: 'network', help: 'Connect a container to a network', default: 'bridge' },
  { long: 'net', type: 'string', value: 'network', help: 'Connect a container to a network', hidden: true },
  { long: 'network-alias', type: 'list', value: 'list', help: 'Add network-scoped alias for the container' },
  { long: 'pids-limit', type: 'int', value: 'int', help: 'Tune container pids limit (set -1 for unlimited)' },
  { long: 'platform', type: 'string', value: 'string', help: 'Set platform if server is multi-platform capable' },
  { long: 'privileged', type: 'bool', help: 'Give extended privileges to this container' },
  { long: 'publish', short: 'p', type: 'list', value: 'list', help: "Publish a container's port(s) to the host" },
  { long: 'publish-all', short: 'P', type: 'bool', help: 'Publish all exposed ports to random ports' },
  { long: 'pull', type: 'string', value: 'string', help: 'Pull image before running ("always", "missing", "never")', default: 'missing' },
  { long: 'read-only', type: 'bool', help: "Mount the container's root filesystem as read only" },
  { long: 'restart', type: 'string', value: 'string', help: 'Restart policy to apply when a container exits', default: 'no' },
  { long: 'rm', type: 'bool', help: 'Automatically remove the container and its associated anonymous volumes when it exits' },
  { long: 'security-opt', type: 'list', value: 'list', help: 'Security Options' },
  { long: 'stop-signal', type: 'string', value: 'string', help: 'Signal to stop the container' },
  { long: 'stop-timeout', type: 'int', value: 'int', help: 'Timeout (in seconds) to stop a container' },
  { long: 'tmpfs', type: 'list', value: 'list', help: 'Mount a tmpfs directory' },
  { long: 'tty', short: 't', type: 'bool', help: 'Allocate a pseudo-TTY' },
  { long: 'user', short: 'u', type: 'string', value: 'string', help: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { long: 'volume', short: 'v', type: 'list', value: 'list', help: 'Bind mount a volume' },
  { long: 'workdir', short: 'w', type: 'string', value: 'string', help: 'Working directory inside the container' },
];

/** `run` adds these to {@link createFlags}. */
export const runFlags: FlagSpec[] = [
  ...createFlags,
  { long: 'detach', short: 'd', type: 'bool', help: 'Run container in background and print container ID' },
  { long: 'detach-keys', type: 'string', value: 'string', help: 'Override the key sequence for detaching a container' },
  { long: 'sig-proxy', type: 'bool', help: 'Proxy received signals to the process', default: true },
];

function envFile(where: string, file: string, env: NodeJS.ProcessEnv): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new CliUsageError(CliErrorCode.InvalidValue, where, `open ${file}: no such file or directory`);
  }
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith('#')) continue;
    if (line.includes('=')) out.push(line);
    else if (env[line.trim()] !== undefined) out.push(`${line.trim()}=${env[line.trim()]}`);
  }
  return out;
}

/** Builds the engine's create options from parsed `run`/`create` flags; positionals are IMAGE [COMMAND] [ARG...]. */
export function createOptionsFrom(cmd: ParsedCommand, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): CreateContainerOptions {
  const where = `berth ${cmd.path.join(' ')}`;
  const f = cmd.flags;
  const [image, ...rest] = cmd.args;
  const list = (k: string) => (f[k] as string[] | undefined) ?? [];
  const envs: string[] = [];
  for (const file of list('env-file')) envs.push(...envFile(where, file, env));
  for (const e of list('env')) {
    if (e.includes('=')) envs.push(e);
    else if (env[e] !== undefined) envs.push(`${e}=${env[e]}`);
  }
  let nanoCpus = 0;
  if (f.cpus !== undefined) {
    const n = Number(f.cpus);
    if (!Number.isFinite(n) || n < 0) throw new CliUsageError(CliErrorCode.InvalidValue, where, `invalid argument ${JSON.stringify(f.cpus)} for "--cpus" flag`);
    nanoCpus = Math.round(n * 1e9);
  }
  const memory = f.memory === undefined ? 0 : parseSize(`--memory=${f.memory}`, f.memory as string);
  const restart = (f.restart as string).split(':');
  if (!['no', 'always', 'on-failure', 'unless-stopped'].includes(restart[0]!)) {
    throw new CliUsageError(CliErrorCode.InvalidValue, where, `invalid restart policy ${JSON.stringify(f.restart)}`);
  }
  const networkMode = (f.net as string | undefined) ?? (f.network as string);
  if (f.rm && restart[0] !== 'no') throw new CliUsageError(CliErrorCode.InvalidValue, where, 'conflicting options: cannot specify both --restart and --rm');
  const mounts = [
    ...list('volume').map((v) => parseVolumeFlag(v, cwd)),
    ...list('mount').map((m) => parseMountFlag(m, cwd)),
    ...list('tmpfs').map((t) => parseTmpfsFlag(t)),
  ];
  const seen = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.Target)) throw new CliUsageError(CliErrorCode.InvalidValue, where, `duplicate mount point: ${m.Target}`);
    seen.add(m.Target);
  }
  const logOpts = mapFrom(list('log-opt'));
  return {
    image: image!,
    name: f.name as string | undefined,
    cmd: rest.length ? rest : undefined,
    entrypoint: f.entrypoint === undefined ? undefined : (f.entrypoint as string) === '' ? [] : [f.entrypoint as string],
    env: envs,
    workingDir: f.workdir as string | undefined,
    user: f.user as string | undefined,
    hostname: f.hostname as string | undefined,
    tty: !!f.tty,
    openStdin: !!f.interactive,
    // docker run -i closes the container's stdin when ours ends; run -d -i keeps it open for later attaches.
    stdinOnce: !!f.interactive && !f.detach,
    labels: mapFrom(list('label')),
    mounts,
    publish: list('publish').flatMap((p) => parsePublishFlag(p)),
    publishAll: !!f['publish-all'],
    expose: list('expose'),
    networkMode,
    networkAliases: list('network-alias'),
    ipv4Address: f.ip as string | undefined,
    autoRemove: !!f.rm,
    memory,
    nanoCpus,
    pidsLimit: f['pids-limit'] as number | undefined,
    restartPolicy: { Name: restart[0]!, MaximumRetryCount: Number(restart[1] ?? 0) },
    logConfig: { Type: f['log-driver'] as string, Config: logOpts },
    stopSignal: f['stop-signal'] as string | undefined,
    stopTimeout: f['stop-timeout'] as number | undefined,
    readOnly: !!f['read-only'],
    privileged: !!f.privileged,
    ...(list('security-opt').length ? { securityOpt: list('security-opt') } : {}),
    capAdd: list('cap-add'),
    capDrop: list('cap-drop'),
    extraHosts: list('add-host'),
    dns: list('dns'),
    init: !!f.init,
  };
}
