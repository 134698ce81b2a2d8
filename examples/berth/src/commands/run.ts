/**
 * `berth run`, `berth create` and the container lifecycle commands (start,
 * stop, kill, restart, pause, unpause, wait, exec, attach, top, stats,
 * commit, cp) over the engine's ContainerService.
 *
 * berth has no daemon: a foreground `run` supervises its container in this
 * process (output to the terminal and the json-file log, exit code
 * returned). `run -d` and `start` hand the container to a detached
 * supervisor — this same binary, `berth container start --supervise ID` —
 * which starts it, logs its output and records its exit, as conmon does for
 * podman.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ContainerRecord, CreateContainerOptions, ImageProgress, LocalEngine } from '@berth/engine';
import type { CommandSpec, FlagSpec } from '../args.js';
import { write, type CliContext } from '../context.js';
import { createFlags, createOptionsFrom, runFlags } from './run-options.js';
import { forEachName } from './common.js';

const t = (long: string, help: string, short?: string): FlagSpec => ({ long, short, type: 'string', value: 'string', help });
const b = (long: string, help: string, short?: string): FlagSpec => ({ long, short, type: 'bool', help });
const l = (long: string, help: string, short?: string): FlagSpec => ({ long, short, type: 'list', value: 'list', help });
const timeFlag: FlagSpec = { long: 'time', short: 't', type: 'int', value: 'int', help: 'Seconds to wait before killing the container' };

/** The binary a detached supervisor runs (this package's main). */
const mainPath = fileURLToPath(new URL('../main.js', import.meta.url));

/** Pull progress as docker prints it under `run` (on stderr, one line per message). */
function progressTo(ctx: CliContext): (p: ImageProgress) => void {
  return (p) => {
    ctx.stderr.write(`${p.id ? `${p.id}: ` : ''}${p.status}${p.progress ? ` ${p.progress}` : ''}\n`);
  };
}

/** Creates the container, pulling its image first when it is missing (`--pull missing`, docker's default). */
async function createPulling(ctx: CliContext, e: LocalEngine, opts: CreateContainerOptions, pull: string): Promise<ContainerRecord> {
  const doPull = async () => {
    await e.images.pull(opts.image, { onProgress: progressTo(ctx) });
  };
  if (pull === 'always') await doPull();
  try {
    return await e.containers.create(opts);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_ENGINE_IMAGE_NOT_FOUND' || pull === 'never' || pull === 'always') throw err;
    await write(ctx.stderr, `Unable to find image '${opts.image}' locally\n`);
    await doPull();
    return e.containers.create(opts);
  }
}

/**
 * Hands a created container to a detached supervisor process and resolves
 * once it reports the container started (or rejects with its error).
 */
async function startDetached(e: LocalEngine, id: string): Promise<void> {
  const child = spawn(process.execPath, [mainPath, '--root', e.root, '--run-root', e.runRoot, 'container', 'start', '--supervise', id], {
    detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { err += c; });
  // The supervisor prints "started\n" once the container runs; after that its stdio is not used.
  const started = await new Promise<boolean>((resolve) => {
    child.stdout.on('data', () => { if (out.includes('started\n')) resolve(true); });
    child.once('exit', () => resolve(out.includes('started\n')));
  });
  child.stdout.destroy();
  child.stderr.destroy();
  child.unref();
  if (!started) {
    if (child.exitCode === null) await once(child, 'exit');
    throw Object.assign(new Error(err.trim().replace(/^Error: /, '') || 'the supervisor failed to start the container'), {
      exitCode: child.exitCode ?? 125,
    });
  }
}

/** Runs a container in the foreground: output to ctx, signals forwarded, its exit status returned. */
async function runAttached(ctx: CliContext, e: LocalEngine, r: ContainerRecord, sigProxy: boolean): Promise<number> {
  let h;
  try {
    h = await e.containers.start(r.Id, {
      onOutput: (stream, chunk) => { (stream === 'stdout' ? ctx.stdout : ctx.stderr).write(chunk); },
    });
  } catch (err) {
    // docker run --rm removes a container that could not start.
    if (r.HostConfig.AutoRemove) await e.containers.remove(r.Id, { force: true, volumes: true }).catch(() => undefined);
    throw err;
  }
  if (h.stdin) ctx.stdin.pipe(h.stdin);
  const forward = (sig: NodeJS.Signals) => { void e.containers.kill(r.Id, sig).catch(() => undefined); };
  const signals: NodeJS.Signals[] = sigProxy ? ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] : [];
  for (const s of signals) process.on(s, forward);
  try {
    return (await h.wait()).StatusCode;
  } finally {
    for (const s of signals) process.off(s, forward);
    if (h.stdin) ctx.stdin.unpipe(h.stdin);
  }
}

/** `berth run`. */
export const runCommand: CommandSpec<CliContext> = {
  name: 'run', usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]', summary: 'Create and run a new container from an image',
  args: { min: 1 }, stopAtFirstArg: true, flags: runFlags,
  run: async (cmd, ctx) => {
    const opts = createOptionsFrom(cmd, ctx.env);
    const e = await ctx.engine();
    const r = await createPulling(ctx, e, opts, cmd.flags.pull as string);
    if (cmd.flags.detach) {
      await startDetached(e, r.Id);
      await write(ctx.stdout, `${r.Id}\n`);
      return 0;
    }
    return runAttached(ctx, e, r, cmd.flags['sig-proxy'] !== false);
  },
};

/** `berth create`. */
export const createCommand: CommandSpec<CliContext> = {
  name: 'create', usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]', summary: 'Create a new container',
  args: { min: 1 }, stopAtFirstArg: true, flags: createFlags,
  run: async (cmd, ctx) => {
    const opts = createOptionsFrom(cmd, ctx.env);
    const r = await createPulling(ctx, await ctx.engine(), opts, cmd.flags.pull as string);
    await write(ctx.stdout, `${r.Id}\n`);
    return 0;
  },
};

const startCommand: CommandSpec<CliContext> = {
  name: 'start', usage: '[OPTIONS] CONTAINER [CONTAINER...]', summary: 'Start one or more stopped containers', args: { min: 1 },
  flags: [
    b('attach', 'Attach STDOUT/STDERR and forward signals', 'a'), b('interactive', "Attach container's STDIN", 'i'),
    { long: 'supervise', type: 'bool', help: 'Start and supervise the container in this process (used by run -d)', hidden: true },
  ],
  run: async (cmd, ctx) => {
    const e = await ctx.engine();
    if (cmd.flags.supervise) {
      // The detached supervisor: report the start, then stay until the container exits.
      const h = await e.containers.start(cmd.args[0]!);
      await write(ctx.stdout, 'started\n');
      await h.wait();
      return 0;
    }
    if (cmd.flags.attach) {
      return runAttached(ctx, e, await e.containers.inspect(cmd.args[0]!), true);
    }
    return forEachName(ctx, cmd.args, async (n) => {
      await startDetached(e, (await e.containers.inspect(n)).Id);
      return n;
    });
  },
};

function each(name: string, usage: string, summary: string, flags: FlagSpec[],
  fn: (e: LocalEngine, ref: string, f: Record<string, unknown>) => Promise<unknown>): CommandSpec<CliContext> {
  return {
    name, usage, summary, args: { min: 1 }, flags,
    run: async (cmd, ctx) => {
      const e = await ctx.engine();
      return forEachName(ctx, cmd.args, async (n) => {
        await fn(e, n, cmd.flags);
        return n;
      });
    },
  };
}

const waitCommand: CommandSpec<CliContext> = {
  name: 'wait', usage: 'CONTAINER [CONTAINER...]', summary: 'Block until one or more containers stop, then print their exit codes', args: { min: 1 },
  run: async (cmd, ctx) => {
    const e = await ctx.engine();
    for (const n of cmd.args) await write(ctx.stdout, `${(await e.containers.wait(n)).StatusCode}\n`);
    return 0;
  },
};

/** Container commands that need the runtime. */
export const runtimeCommands: Array<CommandSpec<CliContext>> = [
  startCommand,
  each('stop', '[OPTIONS] CONTAINER [CONTAINER...]', 'Stop one or more running containers', [t('signal', 'Signal to send to the container', 's'), timeFlag],
    (e, n, f) => e.containers.stop(n, { ...(f.time !== undefined ? { timeout: f.time as number } : {}), ...(f.signal ? { signal: f.signal as string } : {}) })),
  each('kill', '[OPTIONS] CONTAINER [CONTAINER...]', 'Kill one or more running containers', [t('signal', 'Signal to send to the container', 's')],
    (e, n, f) => e.containers.kill(n, (f.signal as string | undefined) || 'SIGKILL')),
  each('restart', '[OPTIONS] CONTAINER [CONTAINER...]', 'Restart one or more containers', [t('signal', 'Signal to send to the container', 's'), timeFlag],
    (e, n) => e.containers.restart(n)),
  each('pause', 'CONTAINER [CONTAINER...]', 'Pause all processes within one or more containers', [], (e, n) => e.containers.pause(n)),
  each('unpause', 'CONTAINER [CONTAINER...]', 'Unpause all processes within one or more containers', [], (e, n) => e.containers.unpause(n)),
  waitCommand,
  {
    name: 'exec', usage: '[OPTIONS] CONTAINER COMMAND [ARG...]', summary: 'Execute a command in a running container', args: { min: 2 }, stopAtFirstArg: true,
    flags: [b('detach', 'Detached mode: run command in the background', 'd'), l('env', 'Set environment variables', 'e'), b('interactive', 'Keep STDIN open even if not attached', 'i'),
      b('privileged', 'Give extended privileges to the command'), b('tty', 'Allocate a pseudo-TTY', 't'), t('user', 'Username or UID', 'u'), t('workdir', 'Working directory inside the container', 'w')],
    run: async (cmd, ctx) => {
      await (await ctx.engine()).containers.exec(cmd.args[0]!, cmd.args.slice(1));
      return 0;
    },
  },
  each('attach', '[OPTIONS] CONTAINER', 'Attach local standard input, output, and error streams to a running container', [b('no-stdin', 'Do not attach STDIN')],
    (e, n) => e.containers.attach(n)),
  {
    name: 'top', usage: 'CONTAINER [ps OPTIONS]', summary: 'Display the running processes of a container', args: { min: 1 }, stopAtFirstArg: true,
    run: async (cmd, ctx) => {
      await (await ctx.engine()).containers.top(cmd.args[0]!);
      return 0;
    },
  },
  {
    name: 'stats', usage: '[OPTIONS] [CONTAINER...]', summary: 'Display a live stream of container(s) resource usage statistics', args: { min: 0 },
    flags: [b('all', 'Show all containers', 'a'), b('no-stream', 'Disable streaming stats'), t('format', 'Format output')],
    run: async (cmd, ctx) => {
      await (await ctx.engine()).containers.stats(cmd.args[0] ?? '');
      return 0;
    },
  },
  {
    name: 'commit', usage: '[OPTIONS] CONTAINER [REPOSITORY[:TAG]]', summary: "Create a new image from a container's changes", args: { min: 1, max: 2 },
    flags: [t('author', 'Author', 'a'), l('change', 'Apply Dockerfile instruction to the created image', 'c'), t('message', 'Commit message', 'm'), b('pause', 'Pause container during commit', 'p')],
    run: async (cmd, ctx) => {
      await (await ctx.engine()).containers.commit(cmd.args[0]!);
      return 0;
    },
  },
  {
    name: 'cp', usage: '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-', summary: 'Copy files/folders between a container and the local filesystem', args: { min: 2, max: 2 },
    flags: [b('archive', 'Archive mode (copy all uid/gid information)', 'a'), b('follow-link', 'Always follow symbol link in SRC_PATH', 'L')],
    run: async (cmd, ctx) => {
      await (await ctx.engine()).containers.copy(cmd.args[0]!);
      return 0;
    },
  },
];
