import test from 'ava';
import fs from 'node:fs/promises';
import path from 'node:path';
import { openCgroup } from '@berth/namespaces';
import { parseBlkioV1, parseIoStatV2, parseNetDev, readStatsSample, streamStats, toDockerStats, updateFromApi, updateResources, type StatsTarget } from '@berth/engine';
import { tempDir } from './helpers/tmp.js';

/** A fake cgroup v2 tree (the files the kernel shows) and a fake /proc, in a temp dir; the test plays the kernel. */
async function fakeV2(): Promise<{ root: string; dir: string; proc: string; write(file: string, text: string): Promise<void>; procStat(jiffies: number): Promise<void> }> {
  const base = await tempDir();
  const root = path.join(base, 'cgroup');
  const dir = path.join(root, 'berth', 'c1');
  const proc = path.join(base, 'proc');
  await fs.mkdir(dir, { recursive: true });
  await fs.mkdir(path.join(proc, '4242', 'net'), { recursive: true });
  await fs.writeFile(path.join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids\n');
  const files: Record<string, string> = {
    'cgroup.controllers': 'cpuset cpu io memory pids\n',
    'memory.current': '10485760\n', 'memory.max': '67108864\n', 'memory.peak': '12582912\n', 'memory.swap.current': '0\n',
    'memory.events': 'low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n',
    'memory.stat': 'anon 4194304\nfile 6291456\ninactive_file 2097152\nactive_file 4194304\n',
    'cpu.stat': 'usage_usec 1000\nuser_usec 600\nsystem_usec 400\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n',
    'io.stat': '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n',
    'pids.current': '2\n', 'pids.max': '100\n', 'memory.swap.max': 'max\n', 'memory.low': '0\n', 'cpu.max': 'max 100000\n', 'cpu.weight': '100\n',
  };
  for (const [f, v] of Object.entries(files)) await fs.writeFile(path.join(dir, f), v);
  await fs.writeFile(path.join(proc, '4242', 'net', 'dev'), [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0',
    '  eth0:    1500      10    1    2    0     0          0         0      700       5    0    3    0     0       0          0',
    '',
  ].join('\n'));
  const procStat = (jiffies: number) => fs.writeFile(path.join(proc, 'stat'), `cpu  ${jiffies} 0 0 0 0 0 0 0 0 0\ncpu0 ${jiffies} 0 0 0 0 0 0 0 0 0\n`);
  await procStat(1000);
  return { root, dir, proc, write: (f, t) => fs.writeFile(path.join(dir, f), t), procStat };
}

test('cgroup v2 (fake tree): one sample in Docker\'s shape: memory.stat, io.stat as read/write entries, eth0 without lo, no max_usage/failcnt', async (t) => {
  const fake = await fakeV2();
  const cg = openCgroup('/berth/c1', { root: fake.root, version: 'v2' });
  t.is(cg.version, 'v2');
  const target: StatsTarget = { id: 'c1id', name: '/c1', cgroup: cg, pid: 4242 };
  const s = toDockerStats(target, await readStatsSample(target, { procRoot: fake.proc }), undefined, { version: 'v2', onlineCpus: 2 });
  t.is(s.preread, '0001-01-01T00:00:00Z');
  t.deepEqual(s.cpu_stats, {
    cpu_usage: { total_usage: 1_000_000, usage_in_kernelmode: 400_000, usage_in_usermode: 600_000 },
    system_cpu_usage: 1000 * 1e7, online_cpus: 2, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  });
  t.deepEqual(s.memory_stats, { usage: 10485760, limit: 67108864, stats: { anon: 4194304, file: 6291456, inactive_file: 2097152, active_file: 4194304 } });
  t.deepEqual(s.pids_stats, { current: 2, limit: 100 });
  t.deepEqual(s.blkio_stats.io_service_bytes_recursive, [{ major: 8, minor: 0, op: 'read', value: 4096 }, { major: 8, minor: 0, op: 'write', value: 8192 }]);
  t.deepEqual(s.blkio_stats.io_serviced_recursive, [{ major: 8, minor: 0, op: 'read', value: 1 }, { major: 8, minor: 0, op: 'write', value: 2 }]);
  t.deepEqual(s.networks, { eth0: { rx_bytes: 1500, rx_packets: 10, rx_errors: 1, rx_dropped: 2, tx_bytes: 700, tx_packets: 5, tx_errors: 0, tx_dropped: 3 } });
  t.deepEqual(s.precpu_stats.cpu_usage.total_usage, 0);
  const hostTarget: StatsTarget = { ...target, noNetwork: true };
  const host = toDockerStats(hostTarget, await readStatsSample(hostTarget, { procRoot: fake.proc }), undefined, { version: 'v2' });
  t.is(host.networks, undefined, 'host network: no counters, as dockerd');
});

test('cgroup v2 (fake tree): the stream chains samples: precpu_stats is the previous cpu_stats, so docker\'s CPU % comes out', async (t) => {
  const fake = await fakeV2();
  const cg = openCgroup('/berth/c1', { root: fake.root, version: 'v2' });
  const target: StatsTarget = { id: 'c1id', name: '/c1', cgroup: cg, pid: 4242 };
  let alive = true;
  const it = streamStats(target, { intervalMs: 1, onlineCpus: 2, read: () => readStatsSample(target, { procRoot: fake.proc }), alive: async () => alive })[Symbol.asyncIterator]();
  const a = (await it.next()).value!;
  // The kernel's counters move on: 50 ms of the container's CPU in 100 jiffies (1 s) of host time.
  await fake.write('cpu.stat', 'usage_usec 51000\nuser_usec 30600\nsystem_usec 20400\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n');
  await fake.procStat(1100);
  const b = (await it.next()).value!;
  t.deepEqual(b.precpu_stats, a.cpu_stats);
  t.is(b.preread, a.read);
  const cpuPercent = ((b.cpu_stats.cpu_usage.total_usage - b.precpu_stats.cpu_usage.total_usage) / (b.cpu_stats.system_cpu_usage - b.precpu_stats.system_cpu_usage)) * b.cpu_stats.online_cpus * 100;
  t.is(cpuPercent.toFixed(2), '10.00', '50 ms over 1 s of host time on 2 CPUs, as docker stats computes it');
  alive = false;
  t.true((await it.next()).done, 'the stream ends once the container is gone');
});

test('cgroup v1 and /proc parsers: blkio lines (the device-less Total sum dropped), io.stat, net/dev', (t) => {
  t.deepEqual(parseBlkioV1('8:0 Read 4096\n8:0 Write 512\n8:0 Sync 0\n8:0 Total 4608\nTotal 4608\n'), [
    { major: 8, minor: 0, op: 'Read', value: 4096 }, { major: 8, minor: 0, op: 'Write', value: 512 }, { major: 8, minor: 0, op: 'Sync', value: 0 },
    { major: 8, minor: 0, op: 'Total', value: 4608 },
  ]);
  t.deepEqual(parseIoStatV2('').bytes, []);
  t.deepEqual(Object.keys(parseNetDev('h\nh\n lo: 1 2 3 4 5 6 7 8 9 10 11 12\n')), []);
});

test('cgroup v2 (fake tree): docker update\'s body becomes the v2 files (memory.max, cpu.max from NanoCpus, pids.max)', async (t) => {
  const fake = await fakeV2();
  const cg = openCgroup('/berth/c1', { root: fake.root, version: 'v2' });
  // What docker 28 sends for `docker update --memory 96m --cpus 0.5 --pids-limit 50` (zeros: unchanged).
  const u = updateFromApi({ Memory: 96 * 1024 * 1024, MemorySwap: 0, NanoCpus: 500_000_000, CpuQuota: 0, CpuShares: 0, PidsLimit: 50, CpusetCpus: '' });
  t.deepEqual(u, {
    memory: 96 * 1024 * 1024, memorySwap: undefined, memoryReservation: undefined, nanoCpus: 500_000_000, cpuShares: undefined, cpuQuota: undefined,
    cpuPeriod: undefined, cpusetCpus: undefined, cpusetMems: undefined, pidsLimit: 50, restartPolicy: undefined,
  });
  cg.apply(updateResources(u));
  const read = (f: string) => fs.readFile(path.join(fake.dir, f), 'utf8').then((x) => x.trim());
  t.is(await read('memory.max'), String(96 * 1024 * 1024));
  t.is(await read('cpu.max'), '50000 100000');
  t.is(await read('pids.max'), '50');
  cg.apply(updateResources(updateFromApi({ PidsLimit: 0 })));
  t.is(await read('pids.max'), 'max', 'PidsLimit 0: unlimited');
});
