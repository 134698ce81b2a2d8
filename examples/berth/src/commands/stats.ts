/**
 * `berth stats`: docker's resource usage table, streamed by default (the
 * table is redrawn every 500 ms, as docker's CLI does, from the engine's
 * one-sample-a-second stream) or printed once with `--no-stream` (each
 * sample primed over one second so CPU % is meaningful).
 *
 * The columns are computed as docker/cli `cli/command/container/stats_helpers.go`
 * and `formatter_stats.go` do: CPU % from the deltas against
 * `precpu_stats`, memory without the inactive page cache, NET I/O and
 * BLOCK I/O summed, sizes in docker's units (`units.BytesSize`,
 * `units.HumanSizeWithPrecision(…, 3)`).
 */
import type { ContainerStats, LocalEngine } from '@berth/engine';
import type { CommandSpec, FlagSpec } from '../args.js';
import { write, type CliContext } from '../context.js';
import { compileFormat } from '../format.js';

const flags: FlagSpec[] = [
  { long: 'all', short: 'a', type: 'bool', help: 'Show all containers (default shows just running)' },
  { long: 'format', type: 'string', value: 'string', help: "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'" },
  { long: 'no-stream', type: 'bool', help: 'Disable streaming stats and only pull the first result' },
  { long: 'no-trunc', type: 'bool', help: "Don't truncate output" },
];

/** docker's default stats table. */
export const defaultStatsFormat = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';

/** Column headers, as docker's stats formatter names them. */
const headers: Record<string, string> = {
  Container: 'CONTAINER', ID: 'CONTAINER ID', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %',
  NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS',
};

/** One table row: the fields `--format` templates see (all strings, as docker's). */
export interface StatsRow {
  Container: string;
  ID: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  NetIO: string;
  BlockIO: string;
  PIDs: string;
}

/** Go's `%.<p>g` for the magnitudes docker prints (trailing zeros dropped). */
function sig(v: number, p: number): string {
  return String(Number(v.toPrecision(p)));
}

function customSize(size: number, base: number, units: string[], precision: number): string {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return `${sig(size, precision)}${units[i]}`;
}

/** go-units `BytesSize`: binary units, 4 significant digits (`608KiB`, `1.461MiB`). */
export function bytesSize(n: number): string {
  return customSize(n, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'], 4);
}

/** go-units `HumanSizeWithPrecision(n, 3)`: decimal units (`1.46kB`, `0B`). */
export function humanSize3(n: number): string {
  return customSize(n, 1000, ['B', 'kB', 'MB', 'GB', 'TB', 'PB'], 3);
}

/** docker's CPU %: container CPU time over host CPU time between two readings, times the CPUs. */
export function cpuPercent(s: ContainerStats): number {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const sysDelta = s.cpu_stats.system_cpu_usage - s.precpu_stats.system_cpu_usage;
  const cpus = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 0;
  return sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
}

/** Memory in use without the inactive file cache (`total_inactive_file` on v1, `inactive_file` on v2). */
export function memoryUsed(s: ContainerStats): number {
  const st = s.memory_stats.stats ?? {};
  const inactive = st.total_inactive_file ?? st.inactive_file;
  return inactive !== undefined && inactive < s.memory_stats.usage ? s.memory_stats.usage - inactive : s.memory_stats.usage;
}

/** A sample as docker's stats table row. */
export function statsRow(s: ContainerStats, opts: { noTrunc?: boolean; container?: string } = {}): StatsRow {
  const mem = memoryUsed(s);
  const limit = s.memory_stats.limit;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let rd = 0;
  let wr = 0;
  for (const e of s.blkio_stats.io_service_bytes_recursive ?? []) {
    const op = e.op.toLowerCase();
    if (op === 'read') rd += e.value;
    else if (op === 'write') wr += e.value;
  }
  const id = opts.noTrunc ? s.id : s.id.slice(0, 12);
  return {
    Container: opts.container ?? id, ID: id, Name: s.name.replace(/^\//, ''),
    CPUPerc: `${cpuPercent(s).toFixed(2)}%`,
    MemUsage: `${bytesSize(mem)} / ${bytesSize(limit)}`,
    MemPerc: `${(limit ? (mem / limit) * 100 : 0).toFixed(2)}%`,
    NetIO: `${humanSize3(rx)} / ${humanSize3(tx)}`,
    BlockIO: `${humanSize3(rd)} / ${humanSize3(wr)}`,
    PIDs: String(s.pids_stats.current),
  };
}

/** The row docker shows for a container it has no sample of (yet, or any more). */
function emptyRow(id: string, name: string, noTrunc: boolean, container: string): StatsRow {
  const short = noTrunc ? id : id.slice(0, 12);
  return { Container: container, ID: short, Name: name, CPUPerc: '--', MemUsage: '-- / --', MemPerc: '--', NetIO: '--', BlockIO: '--', PIDs: '--' };
}

/** Renders rows with `--format` (docker's default table when none). */
function render(format: string | undefined, rows: StatsRow[]): string {
  const f = compileFormat(format || defaultStatsFormat);
  return f.render(rows, headers);
}

/** The containers to show: the named ones, else the running ones (all with `-a`). */
async function targets(e: LocalEngine, names: string[], all: boolean): Promise<Array<{ id: string; name: string; arg: string }>> {
  if (names.length) {
    const out = [];
    for (const n of names) {
      const r = await e.containers.store.get(n);
      out.push({ id: r.Id, name: r.Name.slice(1), arg: n });
    }
    return out;
  }
  return (await e.containers.list({ all })).map((c) => ({ id: c.Id, name: c.Names[0]!.slice(1), arg: c.Id.slice(0, 12) }));
}

async function once(ctx: CliContext, e: LocalEngine, names: string[], f: Record<string, unknown>): Promise<number> {
  const noTrunc = !!f['no-trunc'];
  const list = await targets(e, names, !!f.all);
  const rows = await Promise.all(list.map(async (c) => {
    try {
      return statsRow(await e.containers.stats(c.id), { noTrunc, container: c.arg });
    } catch {
      return emptyRow(c.id, c.name, noTrunc, c.arg); // stopped (with -a) or gone meanwhile: docker shows dashes
    }
  }));
  await write(ctx.stdout, render(f.format as string | undefined, rows));
  return 0;
}

async function stream(ctx: CliContext, e: LocalEngine, names: string[], f: Record<string, unknown>): Promise<number> {
  const noTrunc = !!f['no-trunc'];
  const tty = (ctx.stdout as NodeJS.WriteStream).isTTY === true;
  const ac = new AbortController();
  const latest = new Map<string, StatsRow>();
  const order: string[] = [];
  const running = new Map<string, Promise<void>>();
  const follow = (c: { id: string; name: string; arg: string }) => {
    if (running.has(c.id)) return;
    order.push(c.id);
    latest.set(c.id, emptyRow(c.id, c.name, noTrunc, c.arg));
    running.set(c.id, (async () => {
      try {
        for await (const s of e.containers.stats(c.id, { stream: true, signal: ac.signal })) latest.set(c.id, statsRow(s, { noTrunc, container: c.arg }));
      } catch { /* not running: keep the dashes */ }
      // Containers found by listing leave the table when they stop, as in docker; named ones stay.
      if (!names.length) {
        latest.delete(c.id);
        order.splice(order.indexOf(c.id), 1);
      }
    })());
  };
  for (const c of await targets(e, names, !!f.all)) follow(c);
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    while (!ac.signal.aborted) {
      await new Promise((r) => setTimeout(r, 500));
      if (!names.length) for (const c of await targets(e, [], !!f.all)) follow(c); // containers started meanwhile
      const rows = order.map((id) => latest.get(id)!).filter(Boolean);
      await write(ctx.stdout, `${tty ? '\x1b[2J\x1b[H' : ''}${render(f.format as string | undefined, rows)}`);
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    ac.abort();
  }
  return 0;
}

/** `berth stats [OPTIONS] [CONTAINER...]`. */
export const statsCommand: CommandSpec<CliContext> = {
  name: 'stats', usage: '[OPTIONS] [CONTAINER...]', summary: 'Display a live stream of container(s) resource usage statistics', args: { min: 0 },
  flags,
  run: async (cmd, ctx) => {
    const e = await ctx.engine();
    return cmd.flags['no-stream'] ? once(ctx, e, cmd.args, cmd.flags) : stream(ctx, e, cmd.args, cmd.flags);
  },
};
