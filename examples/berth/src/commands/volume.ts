/** `berth volume …`: create, ls, inspect, rm, prune. */
import type { CommandSpec } from '../args.js';
import { write, type CliContext } from '../context.js';
import { confirm, filtersFrom, forEachName, humanSize, listFlags, mapFrom, printInspect, printList, prunedText } from './common.js';

/** The `volume` command group. */
export const volumeCommand: CommandSpec<CliContext> = {
  name: 'volume', usage: 'COMMAND', summary: 'Manage volumes',
  sub: [
    {
      name: 'create', usage: '[OPTIONS] [VOLUME]', summary: 'Create a volume', args: { max: 1 },
      flags: [
        { long: 'driver', short: 'd', type: 'string', value: 'string', help: 'Specify volume driver name', default: 'local' },
        { long: 'label', type: 'list', value: 'list', help: 'Set metadata for a volume' },
        { long: 'opt', short: 'o', type: 'list', value: 'map', help: 'Set driver specific options (type, device, o)' },
        { long: 'name', type: 'string', value: 'string', help: 'Specify volume name', hidden: true },
      ],
      run: async (cmd, ctx) => {
        const e = await ctx.engine();
        const v = await e.volumes.create({
          name: cmd.args[0] ?? (cmd.flags.name as string | undefined), driver: cmd.flags.driver as string,
          labels: mapFrom(cmd.flags.label as string[]), options: mapFrom(cmd.flags.opt as string[]),
        });
        await write(ctx.stdout, `${v.Name}\n`);
        return 0;
      },
    },
    {
      name: 'ls', aliases: ['list'], usage: '[OPTIONS]', summary: 'List volumes', args: { max: 0 },
      flags: listFlags,
      run: async (cmd, ctx) => {
        const e = await ctx.engine();
        const vols = await e.volumes.list({ filters: filtersFrom('berth volume ls', cmd.flags.filter as string[]) });
        const rows = vols.map((v) => ({
          Name: v.Name, Driver: v.Driver, Scope: v.Scope, Mountpoint: v.Mountpoint, CreatedAt: v.CreatedAt,
          Labels: Object.entries(v.Labels).map(([k, x]) => `${k}=${x}`).join(','), Links: 'N/A', Size: 'N/A',
        }));
        await printList(ctx, cmd.flags, rows, { table: 'table {{.Driver}}\t{{.Name}}', quietField: 'Name', headers: { Name: 'VOLUME NAME' } });
        return 0;
      },
    },
    {
      name: 'inspect', usage: '[OPTIONS] VOLUME [VOLUME...]', summary: 'Display detailed information on one or more volumes', args: { min: 1 },
      flags: [{ long: 'format', short: 'f', type: 'string', value: 'string', help: 'Format output using a custom template' }],
      run: async (cmd, ctx) => {
        const e = await ctx.engine();
        const out = [];
        for (const n of cmd.args) out.push(await e.volumes.inspect(n));
        await printInspect(ctx, cmd.flags, out);
        return 0;
      },
    },
    {
      name: 'rm', aliases: ['remove'], usage: '[OPTIONS] VOLUME [VOLUME...]', summary: 'Remove one or more volumes', args: { min: 1 },
      flags: [{ long: 'force', short: 'f', type: 'bool', help: 'Force the removal of one or more volumes' }],
      run: async (cmd, ctx) => {
        const e = await ctx.engine();
        return forEachName(ctx, cmd.args, async (n) => {
          await e.volumes.remove(n, { force: !!cmd.flags.force });
          return n;
        });
      },
    },
    {
      name: 'prune', usage: '[OPTIONS]', summary: 'Remove unused local volumes', args: { max: 0 },
      flags: [
        { long: 'all', short: 'a', type: 'bool', help: 'Remove all unused volumes, not just anonymous ones' },
        { long: 'filter', type: 'list', value: 'filter', help: 'Provide filter values (e.g. "label=<label>")' },
        { long: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
      ],
      run: async (cmd, ctx) => {
        const warning = cmd.flags.all ? 'WARNING! This will remove all local volumes not used by at least one container.'
          : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
        if (!(await confirm(ctx, !!cmd.flags.force, warning))) return 0;
        const e = await ctx.engine();
        const r = await e.volumes.prune({ all: !!cmd.flags.all, filters: filtersFrom('berth volume prune', cmd.flags.filter as string[]) });
        await write(ctx.stdout, `${prunedText('Volumes', r.VolumesDeleted)}Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
        return 0;
      },
    },
  ],
};
