/**
 * Container statistics in Docker's `types.StatsJSON` shape, read from the
 * container's cgroup (v1 or v2, through `@berth/namespaces`' manager), from
 * the files the manager does not parse (`memory.stat`, blkio / `io.stat`,
 * v1 `cpuacct.usage_percpu`) and from `/proc/<pid>/net/dev` of the
 * container's init process (its network namespace).
 *
 * A sample is a raw reading ({@link readStatsSample}); Docker's object is
 * a reading plus the previous one ({@link toDockerStats}: `precpu_stats`
 * and `preread` come from it). {@link streamStats} yields one object per
 * interval (a second by default, as dockerd's stats collector), each with
 * the previous reading as its `precpu_stats`; the first has an empty
 * `precpu_stats`, as in Docker's stream.
 *
 * How `docker stats` turns these into columns (docker/cli
 * `cli/command/container/stats_helpers.go`):
 * - CPU % = (Δ`cpu_usage.total_usage` / Δ`system_cpu_usage`) × `online_cpus` × 100;
 * - MEM USAGE = `usage` − `stats.total_inactive_file` (v1) or `stats.inactive_file` (v2);
 * - NET I/O = Σ `rx_bytes` / Σ `tx_bytes` over `networks`;
 * - BLOCK I/O = Σ `io_service_bytes_recursive` values with op read / write.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CgroupStats } from '@berth/namespaces';

/** USER_HZ on Linux (sysconf(_SC_CLK_TCK)). */
const hz = 100;
/** Docker's zero time, used for `preread` when there is no previous reading. */
const zeroTime = '0001-01-01T00:00:00Z';

/** CPU counters in Docker's stats shape (`types.CPUStats`). */
export interface CpuStats {
  cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
  system_cpu_usage: number;
  online_cpus: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

/** One network interface's counters (`types.NetworkStats`). */
export interface NetworkStats {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

/** One blkio counter (`types.BlkioStatEntry`); `op` is `Read`/`Write`/… on v1, `read`/`write` on v2, as dockerd. */
export interface BlkioStatEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

/** `types.BlkioStats`: the lists berth measures, the others null (dockerd leaves them empty on v2 too). */
export interface BlkioStats {
  io_service_bytes_recursive: BlkioStatEntry[] | null;
  io_serviced_recursive: BlkioStatEntry[] | null;
  io_queue_recursive: null;
  io_service_time_recursive: null;
  io_wait_time_recursive: null;
  io_merged_recursive: null;
  io_time_recursive: null;
  sectors_recursive: null;
}

/** `types.MemoryStats`; `stats` is the cgroup's `memory.stat` (v1 or v2 keys). */
export interface MemoryStats {
  usage: number;
  max_usage?: number;
  limit: number;
  failcnt?: number;
  stats: Record<string, number>;
}

/** One `docker stats` object (`types.StatsJSON`). */
export interface ContainerStats {
  read: string;
  preread: string;
  id: string;
  /** With the leading slash, as dockerd sends it. */
  name: string;
  pids_stats: { current: number; limit?: number };
  cpu_stats: CpuStats;
  precpu_stats: CpuStats;
  memory_stats: MemoryStats;
  blkio_stats: BlkioStats;
  /** Per interface, without `lo`; absent for `--network host` and `none`, as dockerd. */
  networks?: Record<string, NetworkStats>;
  num_procs: number;
  storage_stats: Record<string, never>;
}

/** The cgroup side a sample needs: structurally `@berth/namespaces`' `CgroupManager`. */
export interface StatsCgroup {
  readonly version: 'v1' | 'v2';
  readonly root: string;
  readonly path: string;
  stats(): CgroupStats;
}

/** What is being measured. */
export interface StatsTarget {
  id: string;
  /** `/name`. */
  name: string;
  cgroup: StatsCgroup;
  /** The container's init pid, for `/proc/<pid>/net/dev`; undefined skips network counters. */
  pid?: number;
  /** Skip network counters (host network: dockerd reports none). */
  noNetwork?: boolean;
}

/** One raw reading: the cgroup's counters plus the host's CPU time, at a time. */
export interface StatsSample {
  read: string;
  cgroup: CgroupStats;
  systemCpuNs: number;
  percpu?: number[];
  memoryStat: Record<string, number>;
  blkio: { bytes: BlkioStatEntry[] | null; ios: BlkioStatEntry[] | null };
  networks?: Record<string, NetworkStats>;
}

/** The host's CPU time in ns: user+nice+system+idle+iowait+irq+softirq of `/proc/stat` (dockerd's getSystemCPUUsage). */
export async function systemCpuNs(procStat = '/proc/stat'): Promise<number> {
  const line = (await fs.readFile(procStat, 'utf8')).split('\n', 1)[0]!;
  const jiffies = line.split(/\s+/).slice(1, 8).reduce((a, x) => a + Number(x), 0);
  return jiffies * (1e9 / hz);
}

async function readText(file: string): Promise<string | undefined> {
  return fs.readFile(file, 'utf8').catch(() => undefined);
}

/** A v1 controller's directory for the cgroup (`<root>/<controller><path>`), trying the combined mounts too. */
async function v1Dir(cg: StatsCgroup, names: string[]): Promise<string | undefined> {
  for (const n of names) {
    const d = path.join(cg.root, n, cg.path);
    if (await fs.access(d).then(() => true, () => false)) return d;
  }
  return undefined;
}

/** `key value` lines as numbers (memory.stat). */
export function parseFlatKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** v1 `blkio.*_recursive`: `8:0 Read 4096` lines (the last line, the device-less `Total` sum, is dropped, as dockerd). */
export function parseBlkioV1(text: string): BlkioStatEntry[] {
  const out: BlkioStatEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):(\d+)\s+(\w+)\s+(\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!, value: Number(m[4]) });
  }
  return out;
}

/** v2 `io.stat` (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 …`) as dockerd maps it: bytes and ios lists with ops `read`/`write`. */
export function parseIoStatV2(text: string): { bytes: BlkioStatEntry[]; ios: BlkioStatEntry[] } {
  const bytes: BlkioStatEntry[] = [];
  const ios: BlkioStatEntry[] = [];
  for (const line of text.split('\n')) {
    const [dev, ...kv] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) continue;
    const f = Object.fromEntries(kv.map((x) => x.split('=') as [string, string]));
    const at = { major: Number(m[1]), minor: Number(m[2]) };
    bytes.push({ ...at, op: 'read', value: Number(f.rbytes ?? 0) }, { ...at, op: 'write', value: Number(f.wbytes ?? 0) });
    ios.push({ ...at, op: 'read', value: Number(f.rios ?? 0) }, { ...at, op: 'write', value: Number(f.wios ?? 0) });
  }
  return { bytes, ios };
}

/** `/proc/<pid>/net/dev` per interface, without `lo` (dockerd lists the sandbox's interfaces). */
export function parseNetDev(text: string): Record<string, NetworkStats> {
  const out: Record<string, NetworkStats> = {};
  for (const line of text.split('\n').slice(2)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const name = line.slice(0, i).trim();
    if (name === 'lo') continue;
    const f = line.slice(i + 1).trim().split(/\s+/).map(Number);
    // Receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets errs drop …
    out[name] = {
      rx_bytes: f[0] ?? 0, rx_packets: f[1] ?? 0, rx_errors: f[2] ?? 0, rx_dropped: f[3] ?? 0,
      tx_bytes: f[8] ?? 0, tx_packets: f[9] ?? 0, tx_errors: f[10] ?? 0, tx_dropped: f[11] ?? 0,
    };
  }
  return out;
}

/** One raw reading of `target`. Throws what the cgroup manager throws when the cgroup is gone. */
export async function readStatsSample(target: StatsTarget, opts: { procRoot?: string } = {}): Promise<StatsSample> {
  const cg = target.cgroup;
  const cgroup = cg.stats();
  const read = new Date().toISOString();
  const proc = opts.procRoot ?? '/proc';
  let memoryStat: Record<string, number> = {};
  let blkio: StatsSample['blkio'] = { bytes: null, ios: null };
  let percpu: number[] | undefined;
  if (cg.version === 'v2') {
    const dir = path.join(cg.root, cg.path);
    memoryStat = parseFlatKeyed((await readText(path.join(dir, 'memory.stat'))) ?? '');
    const io = await readText(path.join(dir, 'io.stat'));
    if (io !== undefined) blkio = parseIoStatV2(io);
  } else {
    const mem = await v1Dir(cg, ['memory']);
    if (mem) memoryStat = parseFlatKeyed((await readText(path.join(mem, 'memory.stat'))) ?? '');
    const bl = await v1Dir(cg, ['blkio', 'blkio,io']);
    if (bl) {
      // dockerd reads the CFQ files first and falls back to the throttle ones, which every kernel keeps.
      const pick = async (name: string) => {
        const cfq = parseBlkioV1((await readText(path.join(bl, `blkio.${name}`))) ?? '');
        return cfq.length ? cfq : parseBlkioV1((await readText(path.join(bl, `blkio.throttle.${name}`))) ?? '');
      };
      blkio = { bytes: await pick('io_service_bytes_recursive'), ios: await pick('io_serviced_recursive') };
    }
    const acct = await v1Dir(cg, ['cpuacct', 'cpu,cpuacct', 'cpuacct,cpu']);
    const per = acct ? await readText(path.join(acct, 'cpuacct.usage_percpu')) : undefined;
    if (per) percpu = per.trim().split(/\s+/).map(Number);
  }
  let networks: Record<string, NetworkStats> | undefined;
  if (!target.noNetwork && target.pid) {
    const dev = await readText(path.join(proc, String(target.pid), 'net', 'dev'));
    if (dev !== undefined) {
      networks = parseNetDev(dev);
      if (Object.keys(networks).length === 0) networks = undefined;
    }
  }
  return { read, cgroup, systemCpuNs: await systemCpuNs(path.join(proc, 'stat')), memoryStat, blkio, ...(percpu ? { percpu } : {}), ...(networks ? { networks } : {}) };
}

function cpuOf(s: StatsSample | undefined, onlineCpus: number): CpuStats {
  if (!s) {
    return {
      cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: 0, online_cpus: 0,
      throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
    };
  }
  const c = s.cgroup.cpu;
  return {
    cpu_usage: { total_usage: c.usageNs, ...(s.percpu ? { percpu_usage: s.percpu } : {}), usage_in_kernelmode: c.systemNs, usage_in_usermode: c.userNs },
    system_cpu_usage: s.systemCpuNs,
    online_cpus: onlineCpus,
    throttling_data: { periods: c.nrPeriods, throttled_periods: c.nrThrottled, throttled_time: c.throttledNs },
  };
}

/** Docker's stats object for `cur`, with `prev` (if any) as `precpu_stats` / `preread`. */
export function toDockerStats(target: Pick<StatsTarget, 'id' | 'name'>, cur: StatsSample, prev?: StatsSample, opts: { version?: 'v1' | 'v2'; onlineCpus?: number; hostMemory?: number } = {}): ContainerStats {
  const online = opts.onlineCpus ?? os.availableParallelism();
  const m = cur.cgroup.memory;
  const v2 = opts.version === 'v2';
  const blank = !cur.blkio.bytes && !cur.blkio.ios;
  return {
    read: cur.read,
    preread: prev?.read ?? zeroTime,
    id: target.id,
    name: target.name,
    pids_stats: { current: cur.cgroup.pids.current, ...(cur.cgroup.pids.limit !== null ? { limit: cur.cgroup.pids.limit } : {}) },
    cpu_stats: cpuOf(cur, online),
    precpu_stats: cpuOf(prev, online),
    memory_stats: {
      usage: m.usage,
      // dockerd leaves max_usage and failcnt out on v2.
      ...(!v2 && m.maxUsage !== null ? { max_usage: m.maxUsage } : {}),
      limit: m.limit ?? opts.hostMemory ?? os.totalmem(),
      ...(!v2 ? { failcnt: m.failcnt } : {}),
      stats: cur.memoryStat,
    },
    blkio_stats: {
      io_service_bytes_recursive: blank ? null : cur.blkio.bytes ?? [], io_serviced_recursive: blank ? null : cur.blkio.ios ?? [],
      io_queue_recursive: null, io_service_time_recursive: null, io_wait_time_recursive: null, io_merged_recursive: null,
      io_time_recursive: null, sectors_recursive: null,
    },
    ...(cur.networks ? { networks: cur.networks } : {}),
    num_procs: 0,
    storage_stats: {},
  };
}

/** Options of {@link streamStats}. */
export interface StreamStatsOptions {
  /** Time between samples; default 1000 ms (dockerd's collector interval). */
  intervalMs?: number;
  /** Ends the stream (without an error). */
  signal?: AbortSignal;
  /** Reads one sample; by default {@link readStatsSample} of the target. */
  read?: () => Promise<StatsSample>;
  /** Called before each later sample; the stream ends when it returns false (the container stopped). */
  alive?: () => Promise<boolean>;
  onlineCpus?: number;
}

/**
 * Docker's stats stream: one object per interval, each with the previous
 * reading as its `precpu_stats` (the first one's is empty). Ends when the
 * signal aborts or `alive` says the container is gone.
 */
export async function* streamStats(target: StatsTarget, opts: StreamStatsOptions = {}): AsyncGenerator<ContainerStats> {
  const interval = opts.intervalMs ?? 1000;
  const read = opts.read ?? (() => readStatsSample(target));
  let prev: StatsSample | undefined;
  for (;;) {
    if (opts.signal?.aborted) return;
    if (prev && opts.alive && !(await opts.alive())) return;
    let cur: StatsSample;
    try {
      cur = await read();
    } catch (e) {
      // The cgroup went away between the liveness check and the read: the container stopped.
      if (prev && opts.alive && !(await opts.alive())) return;
      throw e;
    }
    yield toDockerStats(target, cur, prev, { version: target.cgroup.version, onlineCpus: opts.onlineCpus });
    prev = cur;
    try {
      await sleep(interval, undefined, { signal: opts.signal });
    } catch {
      return; // aborted
    }
  }
}
