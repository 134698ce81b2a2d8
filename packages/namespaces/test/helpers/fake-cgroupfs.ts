/**
 * A fake cgroup v2 tree in a temp dir: the files the kernel puts in each
 * cgroup directory, with the values a fresh cgroup has. Tests play the
 * kernel: they read what the manager wrote and write what the kernel would
 * report (`frozen 1` in cgroup.events, counters in memory.events).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Controllers the fake root offers, in the kernel's order. */
export const fakeControllers = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids'] as const;

const rootFiles: Record<string, string> = {
  'cgroup.controllers': `${fakeControllers.join(' ')}\n`,
  'cgroup.subtree_control': '',
  'cgroup.procs': '',
};

/** The interface files of a non-root cgroup with every controller enabled. */
const leafFiles: Record<string, string> = {
  'cgroup.controllers': `${fakeControllers.join(' ')}\n`,
  'cgroup.subtree_control': '',
  'cgroup.procs': '',
  'cgroup.freeze': '0\n',
  'cgroup.events': 'populated 0\nfrozen 0\n',
  'cgroup.kill': '',
  'memory.max': 'max\n',
  'memory.high': 'max\n',
  'memory.low': '0\n',
  'memory.swap.max': 'max\n',
  'memory.current': '0\n',
  'memory.peak': '0\n',
  'memory.swap.current': '0\n',
  'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n',
  'cpu.max': 'max 100000\n',
  'cpu.max.burst': '0\n',
  'cpu.weight': '100\n',
  'cpu.idle': '0\n',
  'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n',
  'cpuset.cpus': '\n',
  'cpuset.mems': '\n',
  'io.weight': 'default 100\n',
  'io.max': '',
  'hugetlb.2MB.max': 'max\n',
  'pids.max': 'max\n',
  'pids.current': '0\n',
};

/** A fake v2 root in a new temp dir, with `cgroupPath` and its ancestors populated. */
export function fakeCgroupV2(cgroupPath: string): { root: string; dir: string; read(name: string): string; write(name: string, value: string): void; cleanup(): void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-fake-cgroup-'));
  for (const [f, v] of Object.entries(rootFiles)) fs.writeFileSync(path.join(root, f), v);
  let cur = root;
  for (const part of cgroupPath.split('/').filter(Boolean)) {
    cur = path.join(cur, part);
    fs.mkdirSync(cur);
    for (const [f, v] of Object.entries(leafFiles)) fs.writeFileSync(path.join(cur, f), v);
  }
  const dir = cur;
  return {
    root,
    dir,
    read: (name) => fs.readFileSync(path.join(dir, name), 'utf8'),
    write: (name, value) => fs.writeFileSync(path.join(dir, name), value),
    cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}
