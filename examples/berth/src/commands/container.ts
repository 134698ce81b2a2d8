/** Container commands that the state store and json-file logs can answer: ps, logs, inspect, rm, rename, container prune. */
import { parseTimestamp, humanDuration, type ContainerSummary } from '@berth/engine/local';
import type { CommandSpec, FlagSpec } from '../args.js';
import { write, type CliContext } from '../context.js';
import { CliErrorCode, CliUsageError } from '../errors.js';
import { confirm, filtersFrom, forEachName, humanSize, listFlags, printInspect, printList, prunedText } from './common.js';

function portsText(p: ContainerSummary['Ports']): string {
  return p.map((x) => (x.PublicPort ? `${x.IP}:${x.PublicPort}->${x.PrivatePort}/${x.Type}` : `${x.PrivatePort}/${x.Type}`)).join(', ');
}

/** A `docker ps` formatter row (the fields `--format` sees). */
export function psRow(c: ContainerSummary, trunc: boolean, now = Date.now()): Record<string, string> {
  // docker: strconv.Quote, then Ellipsis(…, 20) when truncating.
  const quoted = JSON.stringify(c.Command);
  const cmd = trunc && quoted.length > 20 ? `${quoted.slice(0, 19)}…` : quoted;
  return {
    ID: trunc ? c.Id.slice(0, 12) : c.Id, Image: c.Image, Command: cmd,
    CreatedAt: new Date(c.Created * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC'),
    RunningFor: `${humanDuration(now - c.Created * 1000)} ago`, Ports: portsText(c.Ports), State: c.State, Status: c.Status,
    Size: 'N/A', Names: c.Names.map((n) => n.slice(1)).join(','),
    Labels: Object.entries(c.Labels).map(([k, v]) => `${k}=${v}`).join(','),
    Mounts: c.Mounts.map((m) => m.Name ?? m.Source).join(','), Networks: Object.keys(c.NetworkSettings.Networks).join(','),
  };
}

const psCommand: CommandSpec<CliContext> = {
  name: 'ps', usage: '[OPTIONS]', summary: 'List containers', args: { max: 0 },
  flags: [
    { long: 'all', short: 'a', type: 'bool', help: 'Show all containers (default shows just running)' },
    { long: 'last', short: 'n', type: 'int', value: 'int', help: 'Show n last created containers (includes all states)', default: -1 },
    { long: 'latest', short: 'l', type: 'bool', help: 'Show the latest created container (includes all states)' },
    { long: 'size', short: 's', type: 'bool', help: 'Display total file sizes' },
    ...listFlags,
  ],
  run: async (cmd, ctx) => {
    const e = await ctx.engine();
    const n = cmd.flags.latest ? 1 : (cmd.flags.last as number);
    const list = await e.containers.list({
      all: !!cmd.flags.all || n >= 0, limit: n >= 0 ? n : undefined, filters: filtersFrom('berth ps', cmd.flags.filter as string[]),
    });
    const now = Date.now();
    const rows = list.map((c) => psRow(c, !cmd.flags['no-trunc'], now));
    await printList(ctx, cmd.flags, rows, {
      table: 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}', quietField: 'ID',
      headers: { ID: 'CONTAINER ID', RunningFor: 'CREATED' },
    });
    return 0;
  },
};

const logsCommand: CommandSpec<CliContext> = {
  name: 'logs', usage: '[OPTIONS] CONTAINER', summary: 'Fetch the logs of a container', args: { min: 1, max: 1 },
  flags: [
    { long: 'details', type: 'bool', help: 'Show extra details provided to logs' },
    { long: 'follow', short: 'f', type: 'bool', help: 'Follow log output' },
    { long: 'since', type: 'string', value: 'string', help: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")' },
    { long: 'tail', short: 'n', type: 'string', value: 'string', help: 'Number of lines to show from the end of the logs', default: 'all' },
    { long: 'timestamps', short: 't', type: 'bool', help: 'Show timestamps' },
    { long: 'until', type: 'string', value: 'string', help: 'Show logs before a timestamp or relative (e.g. "42m")' },
  ],
  run: async (cmd, ctx) => {
    const e = await ctx.engine();
    const tail = cmd.flags.tail as string;
    if (tail !== 'all' && !/^-?\d+$/.test(tail)) throw new CliUsageError(CliErrorCode.InvalidValue, 'berth logs', `invalid value for --tail: ${tail}`);
    const ac = new AbortController();
    const stop = () => ac.abort();
    process.once('SIGINT', stop);
    try {
      for await (const l of e.containers.logs(cmd.args[0]!, {
        follow: !!cmd.flags.follow, signal: ac.signal, tail: tail === 'all' ? undefined : Number(tail),
        since: cmd.flags.since ? parseTimestamp(cmd.flags.since as string) : undefined,
        until: cmd.flags.until ? parseTimestamp(cmd.flags.until as string) : undefined,
      })) {
        await write(l.stream === 'stderr' ? ctx.stderr : ctx.stdout, cmd.flags.timestamps ? `${l.time} ${l.log}` : l.log);
      }
    } finally {
      process.off('SIGINT', stop);
    }
    return 0;
  },
};

const inspectFlags: FlagSpec[] = [
  { long: 'format', short: 'f', type: 'string', value: 'string', help: 'Format output using a custom template' },
  { long: 'type', type: 'string', value: 'string', help: 'Return JSON for specified type (container, network, volume)' },
  { long: 'size', short: 's', type: 'bool', help: 'Display total file sizes if the type is container' },
];

const inspectCommand: CommandSpec<CliContext> = {
  name: 'inspect', usage: '[OPTIONS] NAME|ID [NAME|ID...]', summary: 'Return low-level information on berth objects', args: { min: 1 },
  flags: inspectFlags,
  run: async (cmd, ctx) => {
    const e = await ctx.engine();
    const type = cmd.flags.type as string | undefined;
    const out: unknown[] = [];
    let status = 0;
    for (const ref of cmd.args) {
      const tries: Array<() => Promise<unknown>> = [];
      if (!type || type === 'container') tries.push(() => e.containers.inspect(ref));
      if (!type || type === 'network') tries.push(() => e.networks.inspect(ref));
      if (!type || type === 'volume') tries.push(() => e.volumes.inspect(ref));
      if (type === 'image') tries.push(() => e.images.inspect(ref));
      let found: unknown;
      let last: unknown;
      for (const t of tries) {
        try {
          found = await t();
          break;
        } catch (err) {
          last = err;
          if ((err as { kind?: string }).kind !== 'not-found') throw err;
        }
      }
      if (found !== undefined) out.push(found);
      else {
        status = 1;
        await write(ctx.stderr, `Error: No such object: ${ref}${last ? '' : ''}\n`);
      }
    }
    await printInspect(ctx, cmd.flags, out);
    return status;
  },
};

const rmCommand: CommandSpec<CliContext> = {
  name: 'rm', usage: '[OPTIONS] CONTAINER [CONTAINER...]', summary: 'Remove one or more containers', args: { min: 1 },
  flags: [
    { long: 'force', short: 'f', type: 'bool', help: 'Force the removal of a running container (uses SIGKILL)' },
    { long: 'volumes', short: 'v', type: 'bool', help: 'Remove anonymous volumes associated with the container' },
    { long: 'link', short: 'l', type: 'bool', help: 'Remove the specified link', hidden: true },
  ],
  run: async (cmd, ctx) => {
    const e = await ctx.engine();
    return forEachName(ctx, cmd.args, async (n) => {
      await e.containers.remove(n, { force: !!cmd.flags.force, volumes: !!cmd.flags.volumes });
      return n;
    });
  },
};

const renameCommand: CommandSpec<CliContext> = {
  name: 'rename', usage: 'CONTAINER NEW_NAME', summary: 'Rename a container', args: { min: 2, max: 2 },
  run: async (cmd, ctx) => {
    await (await ctx.engine()).containers.rename(cmd.args[0]!, cmd.args[1]!);
    return 0;
  },
};

const pruneCommand: CommandSpec<CliContext> = {
  name: 'prune', usage: '[OPTIONS]', summary: 'Remove all stopped containers', args: { max: 0 },
  flags: [
    { long: 'filter', type: 'list', value: 'filter', help: 'Provide filter values (e.g. "until=<timestamp>")' },
    { long: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
  ],
  run: async (cmd, ctx) => {
    const filters = filtersFrom('berth container prune', cmd.flags.filter as string[]);
    if (!(await confirm(ctx, !!cmd.flags.force, 'WARNING! This will remove all stopped containers.'))) return 0;
    const r = await (await ctx.engine()).containers.prune({ filters });
    await write(ctx.stdout, `${prunedText('Containers', r.ContainersDeleted)}Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
    return 0;
  },
};

/** Top-level container commands (docker's shortcuts). */
export const containerTopLevel = [psCommand, logsCommand, inspectCommand, rmCommand, renameCommand];

/** Commands of `berth container …` that are wired. */
export const containerWired: Array<CommandSpec<CliContext>> = [
  { ...psCommand, name: 'ls', aliases: ['ps', 'list'] }, logsCommand, { ...inspectCommand, usage: '[OPTIONS] CONTAINER [CONTAINER...]', summary: 'Display detailed information on one or more containers', flags: inspectFlags.filter((f) => f.long !== 'type') },
  rmCommand, renameCommand, pruneCommand,
];
