/**
 * CPU accounting for the unpack benchmark, for a shared machine where wall
 * time swings with other people's load. Run by hand (it is not a
 * `*.bench.ts`): `node packages/cow-fs/dist/bench/unpack-cpu.js [rounds]`.
 *
 * It unpacks the multilayer fixture (oci-gzip) with berth (in this process),
 * `umoci unpack` and GNU `tar -xzf` of the same layers, interleaved round by
 * round, and prints medians of wall time and of CPU time (user+system: all of
 * berth's threads; for a peer, its whole process tree from /usr/bin/time) and,
 * for berth, where its main thread's wall time went according to
 * /proc/<pid>/task/<tid>/schedstat: on a CPU, waiting in the run queue (the
 * machine's other load), or blocked/idle (waiting for the libuv pool or in
 * the kernel off-CPU). Peers run through a long-lived shell, as in
 * unpack.bench.ts (a spawn from this process would charge berth with
 * copy-on-write faults).
 */
import fs from 'node:fs';
import os from 'node:os';
import { applyLayer } from '@berth/cow-fs';
import { fixture, fixtureBlobPath, readFixtureManifest, tempDir } from '@berth/testkit';
import { BenchShell } from './shell.js';

const rounds = Number(process.argv[2] ?? 10);
const image = fixture('multilayer', 'oci-gzip');
const manifest = JSON.parse(readFixtureManifest(image).bytes.toString()) as { layers: Array<{ digest: string }> };
const layers = manifest.layers.map((l) => fixtureBlobPath(image, l.digest));

const shell = new BenchShell();

/** Runs `cmd` under /usr/bin/time through the shell; returns its user+system CPU in ms. */
async function timed(cmd: string, timesFile: string): Promise<number> {
  await shell.run(`/usr/bin/time -f '%U %S' -o '${timesFile}' sh -c "${cmd.replace(/"/g, '\\"')}"`);
  const [u, s] = fs.readFileSync(timesFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return (u! + s!) * 1000;
}

/** [on-CPU, run-queue wait] of the main thread, in ms. */
function mainSchedstat(): [number, number] {
  const [run, wait] = fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
  return [run! / 1e6, wait! / 1e6];
}

interface Sample { wall: number; cpu: number; onCpu?: number; runq?: number }
const tools: Record<string, (dir: string) => Promise<Sample>> = {
  async berth(dir) {
    const c0 = process.cpuUsage();
    const s0 = mainSchedstat();
    const t0 = performance.now();
    for (const l of layers) await applyLayer(dir, fs.createReadStream(l, { highWaterMark: 1 << 20 }), { sync: false });
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const s1 = mainSchedstat();
    return { wall, cpu: (c.user + c.system) / 1000, onCpu: s1[0] - s0[0], runq: s1[1] - s0[1] };
  },
  async umoci(dir) {
    const t0 = performance.now();
    const cpu = await timed(`umoci unpack --image '${image.path}:${image.ref ?? 'latest'}' '${dir}/bundle'`, `${dir}.times`);
    return { wall: performance.now() - t0, cpu };
  },
  async tar(dir) {
    const t0 = performance.now();
    // As in unpack.bench.ts: exit status 2 from the whited-out hardlink target is expected.
    const cpu = await timed(layers.map((l) => `tar --recursive-unlink -xzf '${l}' -C '${dir}'`).join(' && '), `${dir}.times`);
    return { wall: performance.now() - t0, cpu };
  },
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const tmp = await tempDir('cowfs-cpu-');
const names = Object.keys(tools);
const samples = new Map<string, Sample[]>(names.map((n) => [n, []]));
const load0 = os.loadavg()[0]!;
try {
  let k = 0;
  for (let r = 0; r <= rounds; r++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(r + j) % names.length]!;
      const dir = `${tmp.path}/${k++}`;
      fs.mkdirSync(dir);
      const s = await tools[name]!(dir);
      if (r > 0) samples.get(name)!.push(s);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
} finally {
  shell.close();
  await tmp.cleanup();
}
const f = (x: number): string => x.toFixed(0).padStart(5);
console.log(`unpack multilayer (oci-gzip), ${rounds} interleaved rounds; load average ${load0.toFixed(2)} → ${os.loadavg()[0]!.toFixed(2)}`);
console.log('tool    wall ms  cpu ms   (berth main thread: on-cpu, run-queue wait, blocked/idle ms)');
const bw = median(samples.get('berth')!.map((s) => s.wall));
const bc = median(samples.get('berth')!.map((s) => s.cpu));
for (const n of names) {
  const ss = samples.get(n)!;
  const wall = median(ss.map((s) => s.wall));
  const cpu = median(ss.map((s) => s.cpu));
  let extra = '';
  if (n === 'berth') {
    const on = median(ss.map((s) => s.onCpu!));
    const rq = median(ss.map((s) => s.runq!));
    extra = `   (${f(on)}, ${f(rq)}, ${f(median(ss.map((s) => s.wall - s.onCpu! - s.runq!)))})`;
  } else {
    extra = `   berth/${n}: wall ${(bw / wall).toFixed(2)}, cpu ${(bc / cpu).toFixed(2)}`;
  }
  console.log(`${n.padEnd(6)} ${f(wall)}    ${f(cpu)}${extra}`);
}
