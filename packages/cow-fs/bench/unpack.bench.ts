/**
 * Unpacking the multi-layer fixture image (oci-gzip) against `umoci unpack`
 * of the image and GNU `tar -xzf` of the same layers, interleaved in one run.
 * berth is measured two ways:
 * - "overlay snapshots, layers concurrent" (first: the ratios are of this
 *   one): what the engine does, an overlay snapshotter with each layer in an
 *   active snapshot over the previous one (`activeParent`) and all layers
 *   applied at once (`lowersReady`);
 * - "applyLayer, one directory": the layers one after another into one
 *   directory, as tar and umoci do.
 * Neither peer syncs, so the first group runs berth without syncing and
 * without committing the snapshots (a commit syncs); the second compares the
 * durable paths: snapshots committed (one shared syncfs), or applyLayer with
 * a syncfs after each layer, against tar followed by `sync -f`.
 *
 * The peers run through one long-lived `sh` per entry (see shell.ts): a
 * spawn straight from this process would fork it and charge the next berth
 * run with copy-on-write page faults that no engine unpack pays for. Each
 * peer is still a fresh process per run, and its wall time is measured the
 * same way (from the request to its exit status).
 */
import fs from 'node:fs';
import { applyLayer, applyLayerToMounts, openOverlaySnapshotter, type ApplyLayerResult } from '@berth/cow-fs';
import { commandExists, fixture, fixtureBlobPath, readFixtureManifest, tempDir, type Benchmark, type TempDir } from '@berth/testkit';
import { BenchShell } from './shell.js';

const image = () => fixture('multilayer', 'oci-gzip');

function layerPaths(): string[] {
  const f = image();
  const m = JSON.parse(readFixtureManifest(f).bytes.toString()) as { layers: Array<{ digest: string }> };
  return m.layers.map((l) => fixtureBlobPath(f, l.digest));
}

/** A benchmark entry that unpacks into a fresh directory each run and removes them all at teardown. */
function entry(group: string, name: string, tool: string, unpack: (dir: string, layers: string[], shell: BenchShell) => Promise<void>, available?: () => boolean): Benchmark {
  let tmp: TempDir | undefined;
  let shell: BenchShell | undefined;
  let layers: string[] = [];
  let n = 0;
  return {
    group, name, tool, iterations: 10, warmup: 1,
    ...(available === undefined ? {} : { available }),
    async setup() {
      tmp = await tempDir('cowfs-bench-');
      layers = layerPaths();
      if (tool !== 'berth') shell = new BenchShell();
    },
    async run() {
      const dir = `${tmp!.path}/${n++}`;
      fs.mkdirSync(dir);
      await unpack(dir, layers, shell!);
    },
    async teardown() {
      shell?.close();
      await tmp?.cleanup();
    },
  };
}

/** The engine's unpack: one overlay snapshot per layer over the previous active one (prepared without waiting for the record's fsync, as a pull does), all applied at once; committed when `commit`. */
const berthOverlay = (commit: boolean) => async (dir: string, layers: string[]): Promise<void> => {
  const sn = await openOverlaySnapshotter(`${dir}/overlay`);
  try {
    const keys: string[] = [];
    const applies: Array<Promise<ApplyLayerResult>> = [];
    for (const [i, l] of layers.entries()) {
      const key = `extract-${i}`;
      // Issued at once (the snapshotter runs them in order and shares their metadata writes).
      const prepared = sn.prepare(key, keys[i - 1], { activeParent: i > 0, durable: false });
      keys.push(key);
      const lowersReady = i === 0 ? undefined : Promise.all(applies.slice());
      lowersReady?.catch(() => undefined);
      const a = prepared.then((mounts) => applyLayerToMounts(mounts, fs.createReadStream(l, { highWaterMark: 1 << 20 }), { sync: false, ...(lowersReady ? { lowersReady } : {}) }));
      a.catch(() => undefined);
      applies.push(a);
    }
    await Promise.all(applies);
    // In layer order, all at once: one syncfs (off the main thread) and one metadata write cover them.
    if (commit) await Promise.all(keys.map((k, i) => sn.commit(`layer-${i}`, k)));
  } finally {
    await sn.close();
  }
};

const berth = (sync: boolean) => async (dir: string, layers: string[]): Promise<void> => {
  for (const l of layers) await applyLayer(dir, fs.createReadStream(l, { highWaterMark: 1 << 20 }), { sync });
};

const gnuTar = (sync: boolean) => async (dir: string, layers: string[], shell: BenchShell): Promise<void> => {
  // --recursive-unlink: a later layer replaces a directory with a file, as layers may.
  const script = layers.map((l) => `tar --recursive-unlink -xzf '${l}' -C '${dir}'`).join(' && ') + (sync ? ` && sync -f '${dir}'` : '');
  // GNU tar knows no whiteouts, so the last layer's hardlink to a file an earlier layer whited out
  // (as a plain `.wh.` file) fails and tar exits 2 after extracting everything else: allowed.
  const status = await shell.run(script);
  if (status !== 0 && status !== 2) throw new Error(`tar exited ${status}`);
};

const umoci = async (dir: string, _layers: string[], shell: BenchShell): Promise<void> => {
  const f = image();
  const status = await shell.run(`umoci unpack --image '${f.path}:${f.ref ?? 'latest'}' '${dir}/bundle'`);
  if (status !== 0) throw new Error(`umoci unpack exited ${status}`);
};

const g1 = 'cow-fs: unpack multilayer (oci-gzip)';
const g2 = 'cow-fs: unpack multilayer (oci-gzip), durable';

/** The unpack benchmarks. */
export const benchmarks: Benchmark[] = [
  entry(g1, 'berth unpack: overlay snapshots, layers concurrent', 'berth', berthOverlay(false), () => process.getuid?.() === 0),
  entry(g1, 'berth applyLayer, one directory', 'berth', berth(false)),
  entry(g1, 'umoci unpack', 'umoci', umoci, () => commandExists('umoci')),
  entry(g1, 'tar -xzf', 'tar', gnuTar(false), () => commandExists('tar')),
  entry(g2, 'berth unpack: overlay snapshots, layers concurrent, committed', 'berth', berthOverlay(true), () => process.getuid?.() === 0),
  entry(g2, 'berth applyLayer + syncfs', 'berth', berth(true)),
  entry(g2, 'tar -xzf + sync -f', 'tar', gnuTar(true), () => commandExists('tar')),
];
