/**
 * Committing a stopped container whose upper layer holds 1000 changed small
 * files (busybox, `h=$(hostname); mkdir /d; for i in $(seq 1000); do echo $h $i > /d/f$i; done`)
 * into a new image: diff → layer → image. berth's Engine API
 * (`engine.containers.commit`, embedded) against `POST /commit` on dockerd
 * 20.10's API socket (started here with the flags of /work/shared/PEERS.md,
 * stopped afterwards); both are called from this process, so neither pays a
 * CLI start-up. Issue 7's target: berth at most 1/2 of docker's time.
 *
 * Only the commit is timed. The benchmark contract has no per-round hook, so
 * each entry's setup prepares one such container per round (rounds + warm-up,
 * from BERTH_BENCH_ROUNDS / BERTH_BENCH_WARMUP as scripts/bench.mjs reads
 * them) and each run commits the next one; the committed images and the
 * containers are removed in teardown. Should the pool run dry, a container is
 * prepared inside the run (timed, so a wrong count shows as a slower entry).
 * "As shipped": berth makes its blobs and the new snapshot durable (fsyncs,
 * the snapshotter's syncfs); dockerd does not sync its layer.
 */
import http from 'node:http';
import path from 'node:path';
import { fixture, runCommand, tempDir, type Benchmark, type TempDir, type TestRegistry } from '@berth/testkit';
import type { CreateContainerOptions, LocalEngine, LocalImageService } from '@berth/engine';
import { dockerdAvailable, startBenchDockerd, type BenchDockerd } from './dockerd.js';
import { closeEmbedded, createDefaults, openEmbedded, sharedRegistry } from './peers.js';

const f = fixture('busybox', 'oci-gzip');
const group = 'commit of a stopped container with 1000 changed small files (diff → layer → image)';
// Each container writes its own content (its hostname, unique per container, in every file): the
// benchmark measures committing a new change, not committing one that is already stored (identical
// changes made within the same second give the same layer, which each tool then drops).
const script = 'h=$(hostname); mkdir /d; for i in $(seq 1000); do echo $h $i > /d/f$i; done';
const iterations = 10;
const warmup = 1;
const isRoot = () => process.getuid?.() === 0;

/** How many runs scripts/bench.mjs will make of this group (both entries have the same counts). */
function plannedRuns(): number {
  const rounds = Number(process.env.BERTH_BENCH_ROUNDS) || iterations;
  const w = process.env.BERTH_BENCH_WARMUP !== undefined ? Number(process.env.BERTH_BENCH_WARMUP) : warmup;
  return rounds + w;
}

const { acquire, release } = sharedRegistry();
const refOf = (reg: TestRegistry): string => `${reg.host}/${f.repo}:${f.tag}`;

/** One request to dockerd's API; rejects on a status of 400 or more. */
function dockerApi(socketPath: string, method: string, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: `/v1.41${urlPath}`, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        if ((res.statusCode ?? 500) >= 400) reject(new Error(`dockerd ${method} ${urlPath}: ${res.statusCode} ${body.trim()}`));
        else resolve(body);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(method === 'POST' ? '{}' : undefined);
  });
}

function berthEntry(): Benchmark {
  let dir: TempDir | undefined;
  let engine: LocalEngine | undefined;
  let images: LocalImageService | undefined;
  let opts: CreateContainerOptions;
  const pool: string[] = [];
  const made: { containers: string[]; images: string[] } = { containers: [], images: [] };
  let n = 0;

  async function prepare(): Promise<string> {
    const c = await engine!.containers.create(opts);
    made.containers.push(c.Id);
    const h = await engine!.containers.start(c.Id);
    const { StatusCode } = await h.wait();
    if (StatusCode !== 0) throw new Error(`berth: preparing container exited with ${StatusCode}`);
    return c.Id;
  }

  return {
    group, name: 'berth engine.containers.commit (Engine API, embedded)', tool: 'berth', iterations, warmup,
    available: isRoot,
    async setup() {
      const ref = refOf(await acquire());
      dir = await tempDir('engine-commit-bench');
      ({ engine, images } = await openEmbedded(dir.path, ref));
      opts = createDefaults(ref, { cmd: ['sh', '-c', script] });
      for (let i = plannedRuns(); i > 0; i--) pool.push(await prepare());
    },
    async run() {
      const id = pool.shift() ?? (await prepare());
      const reference = `commit-bench:${n++}`;
      await engine!.containers.commit(id, { reference, message: 'bench' });
      made.images.push(reference);
    },
    async teardown() {
      for (const ref of made.images) await images?.remove(ref).catch(() => undefined);
      for (const id of made.containers) await engine?.containers.remove(id).catch(() => undefined);
      made.images = [];
      made.containers = [];
      pool.length = 0;
      await closeEmbedded(engine, images, dir);
      engine = undefined;
      images = undefined;
      dir = undefined;
      await release();
    },
  };
}

function dockerEntry(): Benchmark {
  let dockerd: BenchDockerd | undefined;
  let ref = '';
  const pool: string[] = [];
  const made: { containers: string[]; images: string[] } = { containers: [], images: [] };
  let n = 0;

  async function prepare(): Promise<string> {
    const name = `commit-bench-${process.pid}-${made.containers.length}`;
    made.containers.push(name);
    await runCommand('/usr/bin/docker', dockerd!.args('run', '--name', name, '--network', 'none', ref, 'sh', '-c', script), { output: 'ignore' });
    return name;
  }

  return {
    group, name: 'docker POST /commit (dockerd 20.10 API, overlay2)', tool: 'docker', iterations, warmup,
    available: dockerdAvailable,
    async setup() {
      const reg = await acquire();
      ref = refOf(reg);
      dockerd = await startBenchDockerd(reg.host, '/tmp/bcd-');
      await runCommand('/usr/bin/docker', dockerd.args('pull', '-q', ref), { output: 'ignore' });
      for (let i = plannedRuns(); i > 0; i--) pool.push(await prepare());
    },
    async run() {
      const name = pool.shift() ?? (await prepare());
      const tag = String(n++);
      await dockerApi(dockerd!.socketPath, 'POST', `/commit?container=${name}&repo=commit-bench&tag=${tag}&comment=bench`);
      made.images.push(`commit-bench:${tag}`);
    },
    async teardown() {
      if (dockerd) {
        if (made.images.length) await runCommand('/usr/bin/docker', dockerd.args('rmi', ...made.images), { allowFailure: true, output: 'ignore' });
        if (made.containers.length) await runCommand('/usr/bin/docker', dockerd.args('rm', '-f', ...made.containers), { allowFailure: true, output: 'ignore' });
        await dockerd.stop();
      }
      made.images = [];
      made.containers = [];
      pool.length = 0;
      dockerd = undefined;
      await release();
    },
  };
}

/** The commit benchmark (see the module comment). */
export const benchmarks: Benchmark[] = [berthEntry(), dockerEntry()];
