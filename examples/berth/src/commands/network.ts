/** `berth network …`: create, ls, inspect, rm, connect, disconnect, prune. */
import type { CommandSpec } from '../args.js';
import { write, type CliContext } from '../context.js';
import { confirm, filtersFrom, forEachName, listFlags, mapFrom, printInspect, printList, prunedText } from './common.js';

/** The `network` command group. */
export const networkCommand: CommandSpec<CliContext> = {
  name: 'network', usage: 'COMMAND', summary: 'Manage networks',
  sub: [
    {
      name: 'create', usage: '[OPTIONS] NETWORK', summary: 'Create a network', args: { min: 1, max: 1 },
      flags: [
        { long: 'driver', short: 'd', type: 'string', value: 'string', help: 'Driver to manage the Network', default: 'bridge' },
        { long: 'subnet', type: 'list', value: 'strings', help: 'Subnet in CIDR format that represents a network segment' },
        { long: 'gateway', type: 'list', value: 'strings', help: 'IPv4 Gateway for the master subnet' },
        { long: 'internal', type: 'bool', help: 'Restrict external access to the network' },
        { long: 'attachable', type: 'bool', help: 'Enable manual container attachment' },
        { long: 'label', type: 'list', value: 'list', help: 'Set metadata on a network' },
        { long: 'opt', short: 'o', type: 'list', value: 'map', help: 'Set driver specific options' },
      ],
      run: async (cmd, ctx) => {
        const e = await ctx.engine();
        const n = await e.networks.create({
          name: cmd.args[0]!, driver: cmd.flags.driver as string, subnet: (cmd.flags.subnet as string[])[0],
          gateway: (cmd.flags.gateway as string[])[0], internal: !!cmd.flags.internal, attachable: !!cmd.flags.attachable,
          labels: mapFrom(cmd.flags.label as string[]), options: mapFrom(cmd.flags.opt as string[]),
        });
        await write(ctx.stdout, `${n.Id}\n`);
        return 0;
      },
    },
    {
      name: 'ls', aliases: ['list'], usage: '[OPTIONS]', summary: 'List networks', args: { max: 0 },
      flags: listFlags,
      run: async (cmd, ctx) => {
        const e = await ctx.engine();
        const nets = await e.networks.list({ filters: filtersFrom('berth network ls', cmd.flags.filter as string[]) });
        const trunc = !cmd.flags['no-trunc'];
        const rows = nets.map((n) => ({
          ID: trunc ? n.Id.slice(0, 12) : n.Id, Name: n.Name, Driver: n.Driver, Scope: n.Scope, IPv6: String(n.EnableIPv6),
          Internal: String(n.Internal), CreatedAt: n.Created, Labels: Object.entries(n.Labels).map(([k, v]) => `${k}=${v}`).join(','),
        }));
        await printList(ctx, cmd.flags, rows, { table: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}', quietField: 'ID', headers: { ID: 'NETWORK ID' } });
        return 0;
      },
    },
    {
      name: 'inspect', usage: '[OPTIONS] NETWORK [NETWORK...]', summary: 'Display detailed information on one or more networks', args: { min: 1 },
      flags: [{ long: 'format', short: 'f', type: 'string', value: 'string', help: 'Format output using a custom template' }],
      run: async (cmd, ctx) => {
        const e = await ctx.engine();
        const out = [];
        for (const n of cmd.args) out.push(await e.networks.inspect(n));
        await printInspect(ctx, cmd.flags, out);
        return 0;
      },
    },
    {
      name: 'rm', aliases: ['remove'], usage: 'NETWORK [NETWORK...]', summary: 'Remove one or more networks', args: { min: 1 },
      flags: [{ long: 'force', short: 'f', type: 'bool', help: 'Do not error if the network does not exist' }],
      run: async (cmd, ctx) => {
        const e = await ctx.engine();
        return forEachName(ctx, cmd.args, async (n) => {
          try {
            await e.networks.remove(n);
          } catch (err) {
            if (cmd.flags.force && (err as { code?: string }).code === 'ERR_ENGINE_NETWORK_NOT_FOUND') return undefined;
            throw err;
          }
          return n;
        });
      },
    },
    {
      name: 'connect', usage: '[OPTIONS] NETWORK CONTAINER', summary: 'Connect a container to a network', args: { min: 2, max: 2 },
      flags: [
        { long: 'alias', type: 'list', value: 'strings', help: 'Add network-scoped alias for the container' },
        { long: 'ip', type: 'string', value: 'string', help: 'IPv4 address (e.g., "172.30.100.104")' },
      ],
      run: async (cmd, ctx) => {
        const e = await ctx.engine();
        await e.networks.connect(cmd.args[0]!, cmd.args[1]!, { aliases: cmd.flags.alias as string[], ipv4Address: cmd.flags.ip as string | undefined });
        return 0;
      },
    },
    {
      name: 'disconnect', usage: '[OPTIONS] NETWORK CONTAINER', summary: 'Disconnect a container from a network', args: { min: 2, max: 2 },
      flags: [{ long: 'force', short: 'f', type: 'bool', help: 'Force the container to disconnect from a network' }],
      run: async (cmd, ctx) => {
        const e = await ctx.engine();
        await e.networks.disconnect(cmd.args[0]!, cmd.args[1]!, { force: !!cmd.flags.force });
        return 0;
      },
    },
    {
      name: 'prune', usage: '[OPTIONS]', summary: 'Remove all unused networks', args: { max: 0 },
      flags: [
        { long: 'filter', type: 'list', value: 'filter', help: 'Provide filter values (e.g. "label=<label>")' },
        { long: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
      ],
      run: async (cmd, ctx) => {
        if (!(await confirm(ctx, !!cmd.flags.force, 'WARNING! This will remove all custom networks not used by at least one container.'))) return 0;
        const e = await ctx.engine();
        const r = await e.networks.prune({ filters: filtersFrom('berth network prune', cmd.flags.filter as string[]) });
        await write(ctx.stdout, prunedText('Networks', r.NetworksDeleted));
        return 0;
      },
    },
  ],
};
