/**
 * Commands whose engine side needs packages that are not composed into the
 * engine yet (runtime, image store, registry, snapshotter). They parse their
 * full docker flag sets, validate what can be validated, then call the
 * engine, which rejects with `ERR_ENGINE_NOT_IMPLEMENTED`. Nothing is faked.
 */
import type { CommandSpec, FlagSpec } from '../args.js';
import type { CliContext } from '../context.js';
import { createFlags, createOptionsFrom, runFlags } from './run-options.js';

const t = (long: string, help: string, short?: string): FlagSpec => ({ long, short, type: 'string', value: 'string', help });
const b = (long: string, help: string, short?: string): FlagSpec => ({ long, short, type: 'bool', help });
const l = (long: string, help: string, short?: string): FlagSpec => ({ long, short, type: 'list', value: 'list', help });

/** `berth run`: parses and validates everything, then asks the engine (not wired yet). */
export const runCommand: CommandSpec<CliContext> = {
  name: 'run', usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]', summary: 'Create and run a new container from an image',
  args: { min: 1 }, stopAtFirstArg: true, flags: runFlags,
  run: async (cmd, ctx) => {
    const opts = createOptionsFrom(cmd, ctx.env);
    const e = await ctx.engine();
    await e.containers.create(opts);
    return 0;
  },
};

/** `berth create`. */
export const createCommand: CommandSpec<CliContext> = {
  name: 'create', usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]', summary: 'Create a new container',
  args: { min: 1 }, stopAtFirstArg: true, flags: createFlags,
  run: async (cmd, ctx) => {
    const opts = createOptionsFrom(cmd, ctx.env);
    await (await ctx.engine()).containers.create(opts);
    return 0;
  },
};

type Call = (ctx: CliContext, args: string[]) => Promise<unknown>;
function cmd(name: string, usage: string, summary: string, min: number, flags: FlagSpec[], call: Call, extra: Partial<CommandSpec<CliContext>> = {}): CommandSpec<CliContext> {
  return {
    name, usage, summary, args: { min }, flags, ...extra,
    run: async (c, ctx) => {
      await call(ctx, c.args);
      return 0;
    },
  };
}

const eng = async (ctx: CliContext) => ctx.engine();

/** Container commands that need the runtime. */
export const runtimeCommands: Array<CommandSpec<CliContext>> = [
  cmd('start', '[OPTIONS] CONTAINER [CONTAINER...]', 'Start one or more stopped containers', 1, [b('attach', 'Attach STDOUT/STDERR and forward signals', 'a'), b('interactive', "Attach container's STDIN", 'i')], async (ctx, a) => (await eng(ctx)).containers.start(a[0]!)),
  cmd('stop', '[OPTIONS] CONTAINER [CONTAINER...]', 'Stop one or more running containers', 1, [t('signal', 'Signal to send to the container', 's'), { long: 'time', short: 't', type: 'int', value: 'int', help: 'Seconds to wait before killing the container' }], async (ctx, a) => (await eng(ctx)).containers.stop(a[0]!)),
  cmd('kill', '[OPTIONS] CONTAINER [CONTAINER...]', 'Kill one or more running containers', 1, [t('signal', 'Signal to send to the container', 's')], async (ctx, a) => (await eng(ctx)).containers.kill(a[0]!)),
  cmd('restart', '[OPTIONS] CONTAINER [CONTAINER...]', 'Restart one or more containers', 1, [t('signal', 'Signal to send to the container', 's'), { long: 'time', short: 't', type: 'int', value: 'int', help: 'Seconds to wait before killing the container' }], async (ctx, a) => (await eng(ctx)).containers.restart(a[0]!)),
  cmd('pause', 'CONTAINER [CONTAINER...]', 'Pause all processes within one or more containers', 1, [], async (ctx, a) => (await eng(ctx)).containers.pause(a[0]!)),
  cmd('unpause', 'CONTAINER [CONTAINER...]', 'Unpause all processes within one or more containers', 1, [], async (ctx, a) => (await eng(ctx)).containers.unpause(a[0]!)),
  cmd('wait', 'CONTAINER [CONTAINER...]', 'Block until one or more containers stop, then print their exit codes', 1, [], async (ctx, a) => (await eng(ctx)).containers.wait(a[0]!)),
  cmd('exec', '[OPTIONS] CONTAINER COMMAND [ARG...]', 'Execute a command in a running container', 2,
    [b('detach', 'Detached mode: run command in the background', 'd'), l('env', 'Set environment variables', 'e'), b('interactive', 'Keep STDIN open even if not attached', 'i'),
      b('privileged', 'Give extended privileges to the command'), b('tty', 'Allocate a pseudo-TTY', 't'), t('user', 'Username or UID', 'u'), t('workdir', 'Working directory inside the container', 'w')],
    async (ctx, a) => (await eng(ctx)).containers.exec(a[0]!, a.slice(1)), { stopAtFirstArg: true }),
  cmd('attach', '[OPTIONS] CONTAINER', 'Attach local standard input, output, and error streams to a running container', 1, [b('no-stdin', 'Do not attach STDIN')], async (ctx, a) => (await eng(ctx)).containers.attach(a[0]!)),
  cmd('top', 'CONTAINER [ps OPTIONS]', 'Display the running processes of a container', 1, [], async (ctx, a) => (await eng(ctx)).containers.top(a[0]!), { stopAtFirstArg: true }),
  cmd('stats', '[OPTIONS] [CONTAINER...]', 'Display a live stream of container(s) resource usage statistics', 0, [b('all', 'Show all containers', 'a'), b('no-stream', 'Disable streaming stats'), t('format', 'Format output')], async (ctx, a) => (await eng(ctx)).containers.stats(a[0] ?? '')),
  cmd('commit', '[OPTIONS] CONTAINER [REPOSITORY[:TAG]]', "Create a new image from a container's changes", 1, [t('author', 'Author', 'a'), l('change', 'Apply Dockerfile instruction to the created image', 'c'), t('message', 'Commit message', 'm'), b('pause', 'Pause container during commit', 'p')], async (ctx, a) => (await eng(ctx)).containers.commit(a[0]!)),
  cmd('cp', '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-', 'Copy files/folders between a container and the local filesystem', 2, [b('archive', 'Archive mode (copy all uid/gid information)', 'a'), b('follow-link', 'Always follow symbol link in SRC_PATH', 'L')], async (ctx, a) => (await eng(ctx)).containers.copy(a[0]!)),
];
