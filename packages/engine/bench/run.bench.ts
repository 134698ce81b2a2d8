/**
 * Running a container that does nothing (`true`), busybox from a local
 * docker-registry (seeded by @berth/testkit), pulled once in each tool's
 * setup. Every entry uses `--network none` (no CNI / bridge set-up in any
 * tool), so the runtime path is what is compared.
 *
 * Group "CLI": `berth run --rm` (the example binary, run through its shebang
 * line as a user's `berth` is: a fresh Node process each run, no daemon; its bundle made at setup and pinned for the group,
 * see pinnedBerthMain) against `docker run --rm` (dockerd 20.10 started
 * here with the flags of /work/shared/PEERS.md and stopped afterwards) and
 * `podman run --rm` (its own storage and config in a temp dir; with runc,
 * since podman's default crun refuses this host's hybrid cgroups); plus
 * `node -e ''`, the floor any Node CLI pays, so berth's cost beyond Node's
 * start-up is the difference of the two medians. Where NODE_EXTRA_CA_CERTS
 * is set (this machine kind sets it for every process), Node loads those
 * certificates before any script (~40 ms); berth's shebang starts Node
 * without it, so a second floor row, `node -e ''` without it, is the one to
 * subtract then.
 *
 * Group "API": in one Node process, create + start + wait + remove through
 * the Engine API, against `crun run` of a prepared bundle (rootfs unpacked
 * once by umoci; crun needs its own mount namespace without the cgroup2
 * mount here, so its time includes `unshare -m sh -c 'umount …; crun …'`).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dockerdAvailable, startBenchDockerd, type BenchDockerd } from './dockerd.js';
import {
  commandExists, fixture, runCommand, tempDir, type Benchmark, type TempDir, type TestRegistry,
} from '@berth/testkit';
import type { CreateContainerOptions, LocalEngine, LocalImageService } from '@berth/engine';
import { closeEmbedded, createDefaults, openEmbedded, podmanEnv as writePodmanConfig, resetPodman, sharedRegistry, unmountUnder } from './peers.js';

const f = fixture('busybox', 'oci-gzip');
// The CLI's binary (the package's bin), run as `node <bin>`, as its shebang line does.
const berthExample = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../examples/berth');
const berthMain = path.join(berthExample, 'dist/src/main.cjs');

/**
 * The binary pinned for the group: main.cjs and its two helpers copied beside
 * a bundle made now (the package's own `scripts/bundle.mjs`, the same script
 * and code as `dist/bundle`) whose inputs.json is dated ahead. main.cjs runs
 * its bundle only while no package it was made from has been rebuilt since;
 * in a checkout where other work rebuilds packages meanwhile, the real binary
 * would switch to the modules halfway through the runs, and the rows would
 * mix the two. Returns the pinned main.cjs.
 */
async function pinnedBerthMain(dir: string): Promise<string> {
  const src = path.join(dir, 'cli', 'src');
  await fs.mkdir(src, { recursive: true });
  for (const f of ['main.cjs', 'bundle-check.cjs', 'bundle-run.cjs']) await fs.copyFile(path.join(berthExample, 'dist/src', f), path.join(src, f));
  await fs.chmod(path.join(src, 'main.cjs'), 0o755);
  const bundle = path.join(dir, 'cli', 'bundle');
  await runCommand(process.execPath, [path.join(berthExample, 'scripts/bundle.mjs'), '--outdir', bundle], { output: 'ignore' });
  const inputs = path.join(bundle, 'inputs.json');
  await fs.writeFile(inputs, JSON.stringify({ ...JSON.parse(await fs.readFile(inputs, 'utf8')), startedMs: Date.now() + 24 * 3600_000 }));
  return path.join(src, 'main.cjs');
}
const isRoot = () => process.getuid?.() === 0;

const { acquire, release } = sharedRegistry();
const refOf = (reg: TestRegistry): string => `${reg.host}/${f.repo}:${f.tag}`;


function cliGroup(): Benchmark[] {
  const group = 'run --rm busybox true, from the CLI (--network none)';
  let berthDir: TempDir | undefined;
  let berthRef = '';
  let dockerd: BenchDockerd | undefined;
  let dockerRef = '';
  let podmanDir: TempDir | undefined;
  let podmanEnv: NodeJS.ProcessEnv = {};
  let podmanRef = '';

  let pinnedMain = berthMain;
  // The binary itself (its shebang line), as a user's `berth` runs.
  const berthArgs = (...args: string[]) => ['--root', path.join(berthDir!.path, 'root'), '--run-root', path.join(berthDir!.path, 'run'), ...args];

  return [
    {
      group, name: 'berth run --rm (example CLI, daemonless)', tool: 'berth', iterations: 15, warmup: 2,
      available: async () => isRoot() && (await fs.access(berthMain).then(() => true, () => false)),
      async setup() {
        berthRef = refOf(await acquire());
        berthDir = await tempDir('engine-run-bench');
        pinnedMain = await pinnedBerthMain(berthDir.path);
        await runCommand(pinnedMain, berthArgs('pull', '-q', berthRef), { output: 'ignore' });
      },
      async run() {
        // Output collected (true prints nothing), so a failure shows berth's stderr.
        await runCommand(pinnedMain, berthArgs('run', '--rm', '--network', 'none', berthRef, 'true'));
      },
      async teardown() {
        if (berthDir) {
          await unmountUnder(berthDir.path);
          await berthDir.cleanup();
        }
        berthDir = undefined;
        await release();
      },
    },
    {
      group, name: "node -e '' (Node start-up floor)", tool: 'node', iterations: 15, warmup: 2,
      async run() { await runCommand(process.execPath, ['-e', ''], { output: 'ignore' }); },
    },
    {
      // Where NODE_EXTRA_CA_CERTS is set, Node reads those certificates (and builds its root store) before any
      // script; berth's shebang starts Node without it (examples/berth/src/main.cts), so this is berth's floor.
      group, name: "node -e '' without NODE_EXTRA_CA_CERTS (berth's floor)", tool: 'node', iterations: 15, warmup: 2,
      available: async () => process.env.NODE_EXTRA_CA_CERTS !== undefined,
      async run() {
        const { NODE_EXTRA_CA_CERTS: _ca, ...env } = process.env;
        await runCommand(process.execPath, ['-e', ''], { env, output: 'ignore' });
      },
    },
    {
      group, name: 'docker run --rm (dockerd 20.10)', tool: 'docker', iterations: 15, warmup: 2,
      available: dockerdAvailable,
      async setup() {
        const reg = await acquire();
        dockerRef = refOf(reg);
        dockerd = await startBenchDockerd(reg.host, '/tmp/brd-');
        await runCommand('/usr/bin/docker', dockerd.args('pull', '-q', dockerRef), { output: 'ignore' });
      },
      async run() {
        await runCommand('/usr/bin/docker', dockerd!.args('run', '--rm', '--network', 'none', dockerRef, 'true'), { output: 'ignore' });
      },
      async teardown() {
        await dockerd?.stop();
        dockerd = undefined;
        await release();
      },
    },
    {
      group, name: 'podman --runtime runc run --rm (4.3, overlay)', tool: 'podman', iterations: 15, warmup: 2,
      available: async () => isRoot() && commandExists('podman'),
      async setup() {
        const reg = await acquire();
        podmanRef = refOf(reg);
        podmanDir = await tempDir('engine-run-bench-podman');
        podmanEnv = await writePodmanConfig(podmanDir.path, reg.host);
        await runCommand('podman', ['pull', '-q', podmanRef], { env: podmanEnv, output: 'ignore' });
      },
      async run() {
        await runCommand('podman', ['--runtime', 'runc', 'run', '--rm', '--network', 'none', podmanRef, 'true'], { env: podmanEnv, output: 'ignore' });
      },
      async teardown() {
        if (podmanDir) await resetPodman(podmanDir, podmanEnv);
        podmanDir = undefined;
        await release();
      },
    },
  ];
}

function apiGroup(): Benchmark[] {
  const group = 'create + start + wait + remove of true, in one process (Engine API vs crun run of a prepared bundle)';
  let dir: TempDir | undefined;
  let engine: LocalEngine | undefined;
  let images: LocalImageService | undefined;
  let opts: CreateContainerOptions;
  let crunDir: TempDir | undefined;
  let n = 0;
  return [
    {
      group, name: 'berth Engine API (embedded)', tool: 'berth', iterations: 30, warmup: 3,
      available: isRoot,
      async setup() {
        const ref = refOf(await acquire());
        dir = await tempDir('engine-api-run-bench');
        ({ engine, images } = await openEmbedded(dir.path, ref));
        opts = createDefaults(ref, { cmd: ['true'] });
      },
      async run() {
        const r = await engine!.containers.create(opts);
        const h = await engine!.containers.start(r.Id);
        await h.wait();
        await engine!.containers.remove(r.Id);
      },
      async teardown() {
        await closeEmbedded(engine, images, dir);
        engine = undefined;
        images = undefined;
        dir = undefined;
        await release();
      },
    },
    {
      group, name: 'crun run (prepared bundle, in unshare -m)', tool: 'crun', iterations: 30, warmup: 3,
      available: async () => isRoot() && commandExists('crun') && commandExists('umoci') && commandExists('unshare'),
      async setup() {
        crunDir = await tempDir('engine-api-run-bench-crun');
        const bundle = path.join(crunDir.path, 'bundle');
        await runCommand('umoci', ['unpack', '--image', `${f.path}:${f.ref ?? 'latest'}`, bundle], { output: 'ignore' });
        const cfgPath = path.join(bundle, 'config.json');
        const cfg = JSON.parse(await fs.readFile(cfgPath, 'utf8')) as { process: { args: string[]; terminal: boolean }; linux?: { namespaces?: Array<{ type: string }> } };
        cfg.process.args = ['true'];
        cfg.process.terminal = false;
        await fs.writeFile(cfgPath, JSON.stringify(cfg));
      },
      async run() {
        const id = `bench-${process.pid}-${n++}`;
        const st = path.join(crunDir!.path, 'state');
        await runCommand('unshare', ['-m', 'sh', '-c', `umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --root ${st} run --bundle ${path.join(crunDir!.path, 'bundle')} ${id}`], { output: 'ignore' });
      },
      async teardown() {
        if (crunDir) {
          await unmountUnder(crunDir.path);
          await crunDir.cleanup();
        }
        crunDir = undefined;
      },
    },
  ];
}

/** The run benchmarks (see the module comment). */
export const benchmarks: Benchmark[] = [...cliGroup(), ...apiGroup()];
