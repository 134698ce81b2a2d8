/** version, info, events, and `system` (info, events, service, prune). */
import os from 'node:os';
import { engineVersion, parseTimestamp, type EngineEvent } from '@berth/engine/local';
import type { CommandSpec } from '../args.js';
import { write, type CliContext } from '../context.js';
import { compileFormat } from '../format.js';
import { CliErrorCode, CliUsageError } from '../errors.js';
import { confirm, filtersFrom, humanSize, imageDeleteLines, prunedText } from './common.js';

const formatFlag = { long: 'format', short: 'f', type: 'string' as const, value: 'string', help: 'Format output using a custom template' };

/** `berth version`. */
export const versionCommand: CommandSpec<CliContext> = {
  name: 'version', usage: '[OPTIONS]', summary: 'Show the berth version information', args: { max: 0 }, flags: [formatFlag],
  run: async (cmd, ctx) => {
    // The API version lives with the API server, which only this command and `system service` load.
    const { apiVersion } = await import('@berth/engine');
    const v = {
      Client: { Version: engineVersion, ApiVersion: apiVersion, Os: 'linux', Arch: os.arch(), NodeVersion: process.version, Daemonless: true },
      Server: { Engine: { Version: engineVersion, ApiVersion: apiVersion, MinAPIVersion: '1.24', Os: 'linux', Arch: os.arch(), KernelVersion: os.release() } },
    };
    if (cmd.flags.format) {
      await write(ctx.stdout, compileFormat(cmd.flags.format as string).render([v]));
      return 0;
    }
    await write(ctx.stdout, [
      'Client:', ` Version:           ${v.Client.Version}`, ` API version:       ${v.Client.ApiVersion}`, ` Node version:      ${v.Client.NodeVersion}`,
      ` OS/Arch:           linux/${v.Client.Arch}`, '', 'Server: berth engine (in-process, no daemon)', ' Engine:',
      `  Version:          ${v.Server.Engine.Version}`, `  API version:      ${v.Server.Engine.ApiVersion} (minimum version 1.24)`,
      `  Kernel version:   ${v.Server.Engine.KernelVersion}`, '',
    ].join('\n'));
    return 0;
  },
};

/** `berth info`. */
export const infoCommand: CommandSpec<CliContext> = {
  name: 'info', usage: '[OPTIONS]', summary: 'Display system-wide information', args: { max: 0 }, flags: [formatFlag],
  run: async (cmd, ctx) => {
    const info = await (await ctx.engine()).info();
    if (cmd.flags.format) {
      await write(ctx.stdout, compileFormat(cmd.flags.format as string).render([info]));
      return 0;
    }
    await write(ctx.stdout, [
      'Server:', ` Containers: ${info.Containers}`, `  Running: ${info.ContainersRunning}`, `  Paused: ${info.ContainersPaused}`,
      `  Stopped: ${info.ContainersStopped}`, ` Images: ${info.Images}`, ` Server Version: ${info.ServerVersion}`,
      ` Storage Driver: ${info.Driver}`, ` Logging Driver: ${info.LoggingDriver}`, ` Cgroup Driver: ${info.CgroupDriver}`,
      ' Plugins:', `  Volume: ${info.Plugins.Volume.join(' ')}`, `  Network: ${info.Plugins.Network.join(' ')}`, `  Log: ${info.Plugins.Log.join(' ')}`,
      ` Kernel Version: ${info.KernelVersion}`, ` Operating System: ${info.OperatingSystem}`, ` OSType: ${info.OSType}`,
      ` Architecture: ${info.Architecture}`, ` CPUs: ${info.NCPU}`, ` Total Memory: ${(info.MemTotal / 2 ** 30).toFixed(2)}GiB`,
      ` Name: ${info.Name}`, ` ID: ${info.ID}`, ` Berth Root Dir: ${info.DockerRootDir}`, '',
      ...info.Warnings.map((w) => `WARNING: ${w}`), '',
    ].join('\n'));
    return 0;
  },
};

/** Docker's default event line: `2024-… container create <id> (image=…, name=…)`. */
export function eventLine(e: EngineEvent): string {
  const t = new Date(Math.floor(e.timeNano / 1e6)).toISOString().slice(0, 19);
  const frac = String(e.timeNano % 1e9).padStart(9, '0');
  const attrs = Object.keys(e.Actor.Attributes).sort().map((k) => `${k}=${e.Actor.Attributes[k]}`).join(', ');
  return `${t}.${frac}Z ${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ''}`;
}

/** `berth events`. */
export const eventsCommand: CommandSpec<CliContext> = {
  name: 'events', usage: '[OPTIONS]', summary: 'Get real time events from the engine', args: { max: 0 },
  flags: [
    { long: 'filter', short: 'f', type: 'list', value: 'filter', help: 'Filter output based on conditions provided' },
    { long: 'format', type: 'string', value: 'string', help: 'Format output using a custom template' },
    { long: 'json', type: 'bool', help: 'Print events as JSON lines (same as --format json)' },
    { long: 'since', type: 'string', value: 'string', help: 'Show all events created since timestamp' },
    { long: 'until', type: 'string', value: 'string', help: 'Stream events until this timestamp' },
  ],
  run: async (cmd, ctx) => {
    const e = await ctx.engine();
    const format = cmd.flags.json ? 'json' : (cmd.flags.format as string | undefined);
    const f = format ? compileFormat(format) : undefined;
    const ac = new AbortController();
    const stop = () => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      for await (const ev of e.events.subscribe({
        since: cmd.flags.since ? parseTimestamp(cmd.flags.since as string) : undefined,
        until: cmd.flags.until ? parseTimestamp(cmd.flags.until as string) : undefined,
        filters: filtersFrom('berth events', cmd.flags.filter as string[]), signal: ac.signal,
      })) {
        await write(ctx.stdout, f ? f.render([ev]) : `${eventLine(ev)}\n`);
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    return 0;
  },
};

/** `berth system service`: serve the Docker Engine API on a unix socket until SIGINT/SIGTERM (like `podman system service`). */
export const serviceCommand: CommandSpec<CliContext> = {
  name: 'service', usage: '[OPTIONS] [URI]', summary: 'Serve the Docker Engine API (1.41) on a unix socket', args: { max: 1 },
  run: async (cmd, ctx) => {
    const uri = cmd.args[0] ?? `unix://${(await ctx.engine()).runRoot}/berth.sock`;
    if (!uri.startsWith('unix://')) throw new CliUsageError(CliErrorCode.InvalidValue, 'berth system service', `only unix:// URIs are supported: ${uri}`);
    const e = await ctx.engine();
    // Imported here, not at the top: the API server (node:http, every route) is not loaded by other commands.
    const { serveDockerApi } = await import('@berth/engine');
    const api = await serveDockerApi(e, { socketPath: uri.slice('unix://'.length) });
    await write(ctx.stderr, `berth: serving the Docker Engine API on ${uri}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await api.close();
    return 0;
  },
};

/** The `system` group. */
export const systemCommand: CommandSpec<CliContext> = {
  name: 'system', usage: 'COMMAND', summary: 'Manage berth',
  sub: [
    { ...infoCommand },
    { ...eventsCommand },
    serviceCommand,
    {
      name: 'prune', usage: '[OPTIONS]', summary: 'Remove unused data', args: { max: 0 },
      // docker's: stopped containers, unused networks, dangling (or, with -a, unused) images, and with --volumes
      // anonymous volumes no container uses; --filter (until, label, label!) applies to each.
      flags: [
        { long: 'all', short: 'a', type: 'bool', help: 'Remove all unused images not just dangling ones' },
        { long: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
        { long: 'volumes', type: 'bool', help: 'Prune anonymous volumes' },
        { long: 'filter', type: 'list', value: 'filter', help: 'Provide filter values' },
      ],
      run: async (cmd, ctx) => {
        const all = !!cmd.flags.all;
        const volumes = !!cmd.flags.volumes;
        const filters = filtersFrom('berth system prune', cmd.flags.filter as string[]);
        if (volumes && filters.until) {
          throw new CliUsageError(CliErrorCode.InvalidValue, 'berth system prune', 'the "until" filter is not supported with "--volumes"');
        }
        const warnings = [
          'all stopped containers', 'all networks not used by at least one container',
          ...(volumes ? ['all anonymous volumes not used by at least one container'] : []),
          all ? 'all images without at least one container associated to them' : 'all dangling images',
        ];
        if (!(await confirm(ctx, !!cmd.flags.force, `WARNING! This will remove:\n${warnings.map((w) => `  - ${w}`).join('\n')}\n`))) return 0;
        // In docker's order: containers first, so the networks, volumes and images they held are unused after.
        const e = await ctx.engine();
        const c = await e.containers.prune({ filters });
        await write(ctx.stdout, prunedText('Containers', c.ContainersDeleted));
        const n = await e.networks.prune({ filters });
        await write(ctx.stdout, prunedText('Networks', n.NetworksDeleted));
        let reclaimed = c.SpaceReclaimed;
        if (volumes) {
          const v = await e.volumes.prune({ filters });
          await write(ctx.stdout, prunedText('Volumes', v.VolumesDeleted));
          reclaimed += v.SpaceReclaimed;
        }
        const i = await e.images.prune({ all, filters });
        await write(ctx.stdout, prunedText('Images', imageDeleteLines(i.ImagesDeleted)));
        reclaimed += i.SpaceReclaimed;
        await write(ctx.stdout, `Total reclaimed space: ${humanSize(reclaimed)}\n`);
        return 0;
      },
    },
  ],
};
