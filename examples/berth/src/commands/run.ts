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
import os from 'node:os';
import type { ContainerOperations, ContainerRecord, CreateContainerOptions, ImageProgress, LocalEngine } from '@berth/engine';
import type { CommandSpec, FlagSpec } from '../args.js';
import { write, type CliContext } from '../context.js';
import { createFlags, createOptionsFrom, runFlags } from './run-options.js';
import { forEachName } from './common.js';
import { changesToConfig } from './image.js';
import { CliErrorCode, CliUsageError } from '../errors.js';
import { holdTerminal, pumpAttachment, terminalSize } from './terminal.js';
import { statsCommand } from './stats.js';

const t = (long: string, help: string, short?: string): FlagSpec => ({ long, short, type: 'string', value: 'string', help });
const b = (long: string, help: string, short?: string): FlagSpec => ({ long, short, type: 'bool', help });
const l = (long: string, help: string, short?: string): FlagSpec => ({ long, short, type: 'list', value: 'list', help });
const timeFlag: FlagSpec = { long: 'time', short: 't', type: 'int', value: 'int', help: 'Seconds to wait before killing the container' };

/** The binary a detached supervisor runs (this package's main). */
const mainPath = fileURLToPath(new URL('../main.cjs', import.meta.url));

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
 * `env` as the binary's shebang passes it on (main.cts): `NODE_EXTRA_CA_CERTS`
 * moved to `BERTH_EXTRA_CA_CERTS`, so the supervisor's Node does not load the
 * certificates at start-up, before it can start the container (it never
 * contacts a registry), and its main.cjs puts the variable back.
 */
export function deferringCaCerts(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: ca, ...rest } = env;
  return ca ? { ...rest, BERTH_EXTRA_CA_CERTS: ca } : env;
}

/**
 * Hands a created container to a detached supervisor process and resolves
 * once it reports the container started (or rejects with its error).
 */
async function startDetached(e: LocalEngine, id: string, attachFirst = false): Promise<{ started: Promise<void> }> {
  const child = spawn(process.execPath, [mainPath, '--root', e.root, '--run-root', e.runRoot, 'container', 'start', '--supervise', id,
    ...(attachFirst ? ['--attach-first'] : [])], {
    detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: deferringCaCerts(process.env),
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { err += c; });
  // With attachFirst the supervisor prints "ready\n" once its attach socket listens (the process waits for the attach).
  if (attachFirst) {
    const ready = await new Promise<boolean>((resolve) => {
      child.stdout.on('data', () => { if (out.includes('ready\n')) resolve(true); });
      child.once('exit', () => resolve(out.includes('ready\n')));
    });
    if (!ready) {
      if (child.exitCode === null) await once(child, 'exit');
      throw Object.assign(new Error(err.trim().replace(/^Error: /, '') || 'the supervisor failed to start the container'), { exitCode: child.exitCode ?? 125 });
    }
  }
  // The supervisor prints "started\n" once the container runs; after that its stdio is not used.
  const started = new Promise<boolean>((resolve) => {
    if (out.includes('started\n')) resolve(true);
    child.stdout.on('data', () => { if (out.includes('started\n')) resolve(true); });
    child.once('exit', () => resolve(out.includes('started\n')));
  }).then(async (ok) => {
    child.stdout.destroy();
    child.stderr.destroy();
    child.unref();
    if (!ok) {
      if (child.exitCode === null) await once(child, 'exit');
      throw Object.assign(new Error(err.trim().replace(/^Error: /, '') || 'the supervisor failed to start the container'), {
        exitCode: child.exitCode ?? 125,
      });
    }
  });
  if (attachFirst) {
    started.catch(() => undefined);
    return { started };
  }
  await started;
  return { started };
}

/**
 * `run -it`: a detached supervisor creates the container's pty and waits
 * for this attach before the process runs, so the container outlives a
 * detach (ctrl-p ctrl-q) as with docker. The terminal is raw meanwhile and
 * SIGWINCH becomes a resize.
 */
async function runTty(ctx: CliContext, e: LocalEngine, r: ContainerRecord, f: Record<string, unknown>): Promise<number> {
  const { started } = await startDetached(e, r.Id, true);
  const a = await e.containers.attach(r.Id, {
    stdin: !!f.interactive, stdout: true, stderr: true, ...(f['detach-keys'] !== undefined ? { detachKeys: f['detach-keys'] as string } : {}),
  });
  const restore = holdTerminal(ctx, true, (size) => a.resize(size));
  try {
    await started;
    const end = await pumpAttachment(ctx, a);
    if (end.reason === 'exited') return end.exit?.StatusCode ?? 0;
    return 0; // detached: the container runs on under its supervisor
  } catch (err) {
    a.close();
    throw err;
  } finally {
    restore();
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
  const keep = setInterval(() => undefined, 1 << 30); // see execCommand
  try {
    return (await h.wait()).StatusCode;
  } finally {
    clearInterval(keep);
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
    const size = opts.tty ? terminalSize(ctx) : undefined;
    if (size) opts.consoleSize = { rows: size.h, cols: size.w };
    const e = await ctx.engine();
    const r = await createPulling(ctx, e, opts, cmd.flags.pull as string);
    if (opts.tty && !cmd.flags.detach) return runTty(ctx, e, r, cmd.flags);
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
    { long: 'attach-first', type: 'bool', help: 'With --supervise: wait for an attach before the process runs (used by run -it)', hidden: true },
  ],
  run: async (cmd, ctx) => {
    const e = await ctx.engine();
    if (cmd.flags.supervise) {
      // The detached supervisor: report the start, then stay until the container exits.
      const h = await e.containers.start(cmd.args[0]!, cmd.flags['attach-first']
        ? { waitForAttach: true, onAttachReady: () => { ctx.stdout.write('ready\n'); } } : {});
      await write(ctx.stdout, 'started\n');
      const keep = setInterval(() => undefined, 1 << 30); // see execCommand
      await h.wait().finally(() => clearInterval(keep));
      return 0;
    }
    if (cmd.flags.attach) {
      const r = await e.containers.inspect(cmd.args[0]!);
      // A TTY container runs under a detached supervisor this process attaches to (as run -it).
      if (r.Config.Tty) return runTty(ctx, e, r, { interactive: cmd.flags.interactive });
      return runAttached(ctx, e, r, true);
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

/** docker stop's flags as the engine's stop options (the engine waits for the supervisor's recorded exit). */
function stopOptions(f: Record<string, unknown>): { timeout?: number; signal?: string } {
  return {
    ...(f.time !== undefined ? { timeout: f.time as number } : {}),
    ...(f.signal ? { signal: f.signal as string } : {}),
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

/** The engine's runtime operations (pause, exec, top, stats, commit, cp); the image service opens only when one needs it. */
function opsFor(e: LocalEngine): ContainerOperations {
  return e.containers.operations;
}

/** Prints rows in columns as docker's tabwriter (min width 20, padding 3) does. */
async function printColumns(ctx: CliContext, titles: string[], rows: string[][]): Promise<void> {
  const w = titles.map((tt, i) => Math.max(20, ...[tt, ...rows.map((r) => r[i] ?? '')].map((c) => c.length + 3)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('');
  await write(ctx.stdout, [titles, ...rows].map((r) => `${line(r)}\n`).join(''));
}

function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(2).replace(/\.?0+$/, '')}${units[i]}`;
}

/** `docker exec`: the process's stdio joined to ours; resolves to its exit status. */
async function execCommand(ctx: CliContext, e: LocalEngine, ref: string, cmd: string[], f: Record<string, unknown>): Promise<number> {
  const tty = !!f.tty;
  const stdin = ctx.stdin as NodeJS.ReadStream;
  const p = await opsFor(e).exec(ref, cmd, {
    env: (f.env as string[] | undefined) ?? [], user: f.user as string | undefined, workingDir: f.workdir as string | undefined,
    privileged: !!f.privileged, tty, stdio: f.detach ? 'ignore' : 'pipe',
    ...(tty && (ctx.stdout as NodeJS.WriteStream).isTTY ? { consoleSize: { rows: (ctx.stdout as NodeJS.WriteStream).rows, cols: (ctx.stdout as NodeJS.WriteStream).columns } } : {}),
  });
  if (f.detach) return 0;
  const pumps: Array<Promise<void>> = [];
  const pump = (from: NodeJS.ReadableStream | undefined, to: NodeJS.WritableStream) => {
    if (!from) return;
    pumps.push(new Promise<void>((resolve) => {
      from.on('data', (c: Buffer) => { to.write(c); });
      from.once('end', resolve);
      from.once('close', resolve);
      from.once('error', () => resolve());
    }));
  };
  pump(p.stdio.pty, ctx.stdout);
  pump(p.stdio.stdout, ctx.stdout);
  pump(p.stdio.stderr, ctx.stderr);
  const input = p.stdio.pty ?? p.stdio.stdin;
  p.stdio.pty?.on('error', () => undefined); // EIO once the process is gone
  const restore = holdTerminal(ctx, tty && !!f.interactive, (size) => p.resize(size.h, size.w));
  if (f.interactive && input) {
    ctx.stdin.pipe(input);
  } else p.stdio.stdin?.end();
  // The runtime waits on its own thread, which does not keep Node's event loop alive: hold it open until the exit arrives.
  const keep = setInterval(() => undefined, 1 << 30);
  try {
    const st = await p.wait();
    // The output is in the pipes once the process exited; EOF on them can lag (a runtime helper may still hold
    // a write end), so drain what is there and stop after a short grace.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(pumps), new Promise<void>((res) => { grace = setTimeout(res, 250); })]);
    clearTimeout(grace);
    for (const s of [p.stdio.stdout, p.stdio.stderr, p.stdio.pty]) s?.destroy();
    return st.exitCode ?? 128 + (st.signal ? (os.constants.signals[st.signal] ?? 127) : 127);
  } finally {
    clearInterval(keep);
    if (f.interactive && input) ctx.stdin.unpipe(input);
    restore();
  }
}

/** Splits `CONTAINER:PATH` (docker cp's operand); a plain path (or `-`) is local. */
function splitCpArg(a: string): { container?: string; path: string } {
  if (a === '-' || a.startsWith('/') || a.startsWith('.')) return { path: a };
  const i = a.indexOf(':');
  return i > 0 ? { container: a.slice(0, i), path: a.slice(i + 1) } : { path: a };
}

/** Container commands that need the runtime. */
export const runtimeCommands: Array<CommandSpec<CliContext>> = [
  startCommand,
  each('stop', '[OPTIONS] CONTAINER [CONTAINER...]', 'Stop one or more running containers', [t('signal', 'Signal to send to the container', 's'), timeFlag],
    (e, n, f) => e.containers.stop(n, stopOptions(f))),
  each('kill', '[OPTIONS] CONTAINER [CONTAINER...]', 'Kill one or more running containers', [t('signal', 'Signal to send to the container', 's')],
    (e, n, f) => e.containers.kill(n, (f.signal as string | undefined) || 'SIGKILL')),
  each('restart', '[OPTIONS] CONTAINER [CONTAINER...]', 'Restart one or more containers (in a detached supervisor)', [t('signal', 'Signal to send to the container', 's'), timeFlag],
    async (e, n, f) => {
      await e.containers.stop(n, stopOptions(f));
      await startDetached(e, (await e.containers.inspect(n)).Id);
    }),
  each('pause', 'CONTAINER [CONTAINER...]', 'Pause all processes within one or more containers', [], (e, n) => opsFor(e).pause(n)),
  each('unpause', 'CONTAINER [CONTAINER...]', 'Unpause all processes within one or more containers', [], (e, n) => opsFor(e).unpause(n)),
  waitCommand,
  {
    name: 'exec', usage: '[OPTIONS] CONTAINER COMMAND [ARG...]', summary: 'Execute a command in a running container', args: { min: 2 }, stopAtFirstArg: true,
    flags: [b('detach', 'Detached mode: run command in the background', 'd'), l('env', 'Set environment variables', 'e'), b('interactive', 'Keep STDIN open even if not attached', 'i'),
      b('privileged', 'Give extended privileges to the command'), b('tty', 'Allocate a pseudo-TTY', 't'), t('user', 'Username or UID', 'u'), t('workdir', 'Working directory inside the container', 'w')],
    run: async (cmd, ctx) => execCommand(ctx, await ctx.engine(), cmd.args[0]!, cmd.args.slice(1), cmd.flags),
  },
  {
    name: 'attach', usage: '[OPTIONS] CONTAINER', summary: 'Attach local standard input, output, and error streams to a running container', args: { min: 1, max: 1 },
    flags: [b('no-stdin', 'Do not attach STDIN'), t('detach-keys', 'Override the key sequence for detaching a container'),
      { long: 'sig-proxy', type: 'bool', help: 'Proxy all received signals to the process (without a TTY)', default: true }],
    run: async (cmd, ctx) => {
      const e = await ctx.engine();
      const r = await e.containers.inspect(cmd.args[0]!);
      const a = await e.containers.attach(r.Id, {
        stdin: !cmd.flags['no-stdin'] && r.Config.OpenStdin, stdout: true, stderr: true,
        ...(cmd.flags['detach-keys'] !== undefined ? { detachKeys: cmd.flags['detach-keys'] as string } : {}),
      });
      const restore = holdTerminal(ctx, r.Config.Tty, (size) => a.resize(size));
      // Without a TTY, signals go to the container (docker attach --sig-proxy); with one, ctrl-c is a byte of input.
      const forward = (sig: NodeJS.Signals) => { void e.containers.kill(r.Id, sig).catch(() => undefined); };
      const signals: NodeJS.Signals[] = !r.Config.Tty && cmd.flags['sig-proxy'] !== false ? ['SIGINT', 'SIGTERM', 'SIGHUP'] : [];
      for (const s of signals) process.on(s, forward);
      try {
        const end = await pumpAttachment(ctx, a);
        if (end.reason === 'exited') return end.exit?.StatusCode ?? 0;
        if (end.reason === 'detached') {
          await write(ctx.stderr, 'read escape sequence\n'); // as docker attach, which then exits 1
          return 1;
        }
        return 0;
      } finally {
        for (const s of signals) process.off(s, forward);
        restore();
      }
    },
  },
  {
    name: 'top', usage: 'CONTAINER [ps OPTIONS]', summary: 'Display the running processes of a container', args: { min: 1 }, stopAtFirstArg: true,
    run: async (cmd, ctx) => {
      const top = await opsFor(await ctx.engine()).top(cmd.args[0]!);
      await printColumns(ctx, top.Titles, top.Processes);
      return 0;
    },
  },
  statsCommand,
  {
    name: 'commit', usage: '[OPTIONS] CONTAINER [REPOSITORY[:TAG]]', summary: "Create a new image from a container's changes", args: { min: 1, max: 2 },
    flags: [t('author', 'Author', 'a'), l('change', 'Apply Dockerfile instruction to the created image', 'c'), t('message', 'Commit message', 'm'),
      { long: 'pause', short: 'p', type: 'bool', help: 'Pause container during commit', default: true }],
    run: async (cmd, ctx) => {
      const r = await opsFor(await ctx.engine()).commit(cmd.args[0]!, {
        ...(cmd.args[1] ? { reference: cmd.args[1] } : {}), author: cmd.flags.author as string | undefined, message: cmd.flags.message as string | undefined,
        pause: cmd.flags.pause !== false, changes: changesToConfig((cmd.flags.change as string[] | undefined) ?? []),
      });
      await write(ctx.stdout, `${r.id}\n`);
      return 0;
    },
  },
  {
    name: 'cp', usage: '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH', summary: 'Copy files/folders between a container and the local filesystem', args: { min: 2, max: 2 },
    flags: [b('archive', 'Archive mode (copy all uid/gid information)', 'a'), b('follow-link', 'Always follow symbol link in SRC_PATH', 'L')],
    run: async (cmd, ctx) => {
      const [src, dst] = [splitCpArg(cmd.args[0]!), splitCpArg(cmd.args[1]!)];
      const ops = opsFor(await ctx.engine());
      if (src.container && !dst.container) {
        if (dst.path === '-') {
          const tar = await ops.copyFrom(src.container, src.path, { followLink: !!cmd.flags['follow-link'] });
          for await (const c of tar) await new Promise<void>((res, rej) => ctx.stdout.write(c as Buffer, (err) => (err ? rej(err) : res())));
        } else await ops.copyToHost(src.container, src.path, dst.path, { followLink: !!cmd.flags['follow-link'] });
        return 0;
      }
      if (dst.container && !src.container) {
        if (src.path === '-') await ops.copyTo(dst.container, dst.path, ctx.stdin);
        else await ops.copyFromHost(dst.container, src.path, dst.path);
        return 0;
      }
      throw new CliUsageError(CliErrorCode.InvalidValue, 'berth cp', 'copying between containers or between local paths is not supported: one side must be CONTAINER:PATH');
    },
  },
];
