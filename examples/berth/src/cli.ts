/** The berth command tree and `runCli`, the testable entry point behind the `berth` binary. */
import fs from 'node:fs';
import path from 'node:path';
import { engineVersion, openEngine, openJournalEventBus, type LocalEngine } from '@berth/engine/local';
import { lazyLocalImages, type LazyImageService } from './lazy-images.js';
import { isBerthError } from '@berth/oci-spec';
import { helpText, parseCommandLine, type CommandSpec } from './args.js';
import { write, type CliContext } from './context.js';
import { CliUsageError } from './errors.js';
import { exitCodeForError } from './exit-codes.js';
import { containerTopLevel, containerWired } from './commands/container.js';
import { networkCommand } from './commands/network.js';
import { eventsCommand, infoCommand, systemCommand, versionCommand } from './commands/system.js';
import { createCommand, runCommand, runtimeCommands } from './commands/run.js';
import { imageCommand, imageTopLevel } from './commands/image.js';
import { volumeCommand } from './commands/volume.js';
import type { Readable, Writable } from 'node:stream';

/** The default state directory (`--root`, or `BERTH_ROOT`). */
export const defaultRoot = '/var/lib/berth';
/** The default runtime directory (`--run-root`, or `BERTH_RUN_ROOT`). */
export const defaultRunRoot = '/run/berth';

/** The root command with global flags and every subcommand. */
export const rootCommand: CommandSpec<CliContext> = {
  name: 'berth', usage: '[OPTIONS] COMMAND', summary: 'A daemonless, docker-compatible container engine',
  flags: [
    { long: 'root', type: 'string', value: 'string', help: `Root directory of persistent state (default "${defaultRoot}", env BERTH_ROOT)` },
    { long: 'run-root', type: 'string', value: 'string', help: `Root directory of runtime state (default "${defaultRunRoot}", env BERTH_RUN_ROOT)` },
    { long: 'debug', short: 'D', type: 'bool', help: 'Enable debug mode' },
    { long: 'log-level', short: 'l', type: 'string', value: 'string', help: 'Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")', default: 'info' },
    { long: 'version', short: 'v', type: 'bool', help: 'Print version information and quit' },
  ],
  sub: [
    runCommand, createCommand, ...containerTopLevel, eventsCommand, infoCommand, versionCommand, ...runtimeCommands, ...imageTopLevel,
    {
      name: 'container', usage: 'COMMAND', summary: 'Manage containers',
      sub: [
        ...containerWired.map((c) => (c.name === 'inspect'
          ? { ...c, run: (cmd: Parameters<NonNullable<typeof c.run>>[0], ctx: CliContext) => c.run!({ ...cmd, flags: { ...cmd.flags, type: 'container' } }, ctx) }
          : c)),
        runCommand, createCommand, ...runtimeCommands,
      ],
    },
    imageCommand,
    networkCommand, volumeCommand, systemCommand,
  ],
};

/** Streams and environment for {@link runCli}. */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
  /**
   * A PEM file of CA certificates registries are trusted with, read when a
   * command first contacts one: `NODE_EXTRA_CA_CERTS`, which the binary's
   * shebang keeps from Node's start-up (`main.cts`). A file that cannot be
   * read is ignored with a warning on stderr, as Node does.
   */
  extraCaCerts?: string;
}

/** The registry client's options for {@link CliIo.extraCaCerts}: its certificates as `ca` (none when unreadable, with Node's warning). */
function extraCaOptions(file: string, stderr: Writable): () => Promise<{ ca?: Buffer }> {
  return async () => {
    try {
      return { ca: await fs.promises.readFile(file) };
    } catch (e) {
      await write(stderr, `Warning: Ignoring extra certs from \`${file}\`, load failed: ${(e as Error).message}\n`);
      return {};
    }
  };
}

/** Runs one berth command line (without `node` and the script); resolves to the exit status. */
/**
 * The binary's last step (the bundled `main.cjs`): when no stdio stream is a
 * terminal, ends the process at once with `code` (`exitNow` of
 * @berth/namespaces: no exit hooks or thread joins, ~5 ms of a `run --rm`);
 * returns where one is a terminal (the caller then calls `process.exit`,
 * which restores the terminal's modes), or where something waits for the
 * normal exit (an 'exit' listener, `--cpu-prof`, `NODE_V8_COVERAGE`). Call it once `runCli` has returned:
 * everything it started has settled and its output is written.
 */
export async function exitFast(code: number): Promise<void> {
  // Something wants the normal exit: an 'exit' listener (a preload, a tool), a profile or coverage Node writes at exit.
  if (process.listenerCount('exit') > 0 || process.env.NODE_V8_COVERAGE || process.execArgv.some((a) => /^--(cpu-prof|heap-prof|prof)\b/.test(a))) return;
  const { exitNow } = await import('@berth/namespaces');
  exitNow(code, { unlessTerminal: true });
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let engine: LocalEngine | undefined;
  let images: LazyImageService | undefined;
  let commandPath: string[] = [];
  try {
    const { spec, cmd } = parseCommandLine(rootCommand, argv);
    commandPath = cmd.path;
    const ctx: CliContext = {
      ...io,
      engine: async () => {
        if (engine) return engine;
        const root = path.resolve((cmd.globals.root as string | undefined) || io.env.BERTH_ROOT || defaultRoot);
        const runRoot = path.resolve((cmd.globals['run-root'] as string | undefined) || io.env.BERTH_RUN_ROOT || defaultRunRoot);
        // Compose the engine from its subsystems: one event bus for all, the image service opened on first use.
        const opening = openJournalEventBus({ root });
        let opened: LocalEngine | undefined;
        images = lazyLocalImages({
          root,
          publish: async (e) => (await opening).publish(e),
          isInUse: async (id) => (await opened!.containers.store.list({ all: true })).some((r) => r.Image === id),
          ...(io.extraCaCerts ? { registryOptions: extraCaOptions(io.extraCaCerts, io.stderr) } : {}),
        });
        // run and create begin with the image (their first argument): its service (content store, snapshotter)
        // opens and the image is looked up while the engine opens; create takes that lookup.
        if ((spec === runCommand || spec === createCommand) && cmd.args[0] !== undefined) images.prefetch(cmd.args[0]);
        const eventBus = await opening;
        opened = await openEngine({ root, runRoot, eventBus, imageService: images });
        engine = opened;
        return engine;
      },
    };
    if (cmd.globals.version && cmd.path.length === 0) {
      await write(io.stdout, `berth version ${engineVersion}\n`);
      return 0;
    }
    if (cmd.flags.help || !spec.run) {
      await write(io.stdout, helpText(rootCommand, spec, cmd.path));
      return 0;
    }
    return await spec.run(cmd, ctx);
  } catch (e) {
    const where = e instanceof CliUsageError ? e.command : ['berth', ...commandPath].join(' ');
    if (e instanceof CliUsageError) {
      await write(io.stderr, `${where}: ${e.message}\nSee '${where} --help'.\n`);
    } else if (isBerthError(e)) {
      await write(io.stderr, `Error: ${e.message} [${e.code}]\n`);
    } else {
      await write(io.stderr, `Error: ${(e as Error)?.stack ?? String(e)}\n`);
    }
    return exitCodeForError(e, commandPath);
  } finally {
    await images?.close();
    await engine?.close();
  }
}
