/**
 * What `berth run` loads at start-up, without timing anything: the modules
 * (or, bundled, the bundle's script and the modules it holds) a
 * `berth run --rm --network none` of an already pulled image loads must not
 * include the registry client, undici, ajv or the Docker API server, which
 * only pull/push/serve need. A child records every module it loads: ESM
 * through a loader hook, CommonJS (ajv, the compiled validators) from
 * `require.cache` at exit. The binary itself (`main.cjs`) runs a fresh
 * bundle without any ES module. Plus the bundle's freshness rule, and the
 * volatile rootfs of `--rm` containers (nothing to sync when they exit).
 */
import test, { type ExecutionContext } from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fixture, startRegistry, type TestRegistry } from '@berth/testkit';
import bundleCheck from '../src/bundle-check.cjs';
import bundleRun from '../src/bundle-run.cjs';
import { berthBin, berthBinary, tempDir } from './helpers/cli.js';

const { freshBundle, readBundleInputs } = bundleCheck;
const { cacheKeyOf } = bundleRun;

const isRoot = process.getuid?.() === 0;
const serial = isRoot ? test.serial : test.skip;
const bundler = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/bundle.mjs');
const binDir = path.dirname(berthBin);

/** Modules `run` of a pulled image must not load. */
const notAtStartUp: Array<[string, RegExp]> = [
  ['the registry client', /\/registry-client\/dist\//],
  ['undici', /\/node_modules\/undici\//],
  ['ajv (its compiler; the precompiled validators use only ajv/dist/runtime helpers)', /\/node_modules\/ajv\/(?!dist\/runtime\/)/],
  ['the Docker API server', /\/engine\/dist\/src\/api\//],
];

let reg: TestRegistry | undefined;
let dir: string;
let ref: string;
let recorder: string;

test.before(async () => {
  if (!isRoot) return;
  reg = await startRegistry();
  dir = await tempDir();
  const f = fixture('busybox', 'oci-gzip');
  ref = `${reg.host}/${f.repo}:${f.tag}`;
  const pulled = await berthBinary(dir, ['pull', '-q', ref]);
  if (pulled.code !== 0) throw new Error(`pull failed: ${pulled.stderr}`);
  // The recorder: --import'ed by the child; ESM loads through a hook (on the loader thread), CommonJS at exit.
  recorder = path.join(dir, 'record.mjs');
  await fs.writeFile(path.join(dir, 'record-hooks.mjs'), [
    "import fs from 'node:fs';",
    'export async function load(url, context, next) {',
    "  fs.appendFileSync(process.env.BERTH_TEST_LOADED, `${url}\\n`);",
    '  return next(url, context);',
    '}',
  ].join('\n'));
  await fs.writeFile(recorder, [
    "import fs from 'node:fs';",
    "import { createRequire, register } from 'node:module';",
    "register('./record-hooks.mjs', import.meta.url);",
    'const require = createRequire(import.meta.url);',
    "process.once('exit', () => {",
    "  fs.appendFileSync(process.env.BERTH_TEST_LOADED, Object.keys(require.cache).map((f) => `file://${f}\\n`).join(''));",
    '});',
  ].join('\n'));
});

test.after.always(async () => {
  await reg?.close();
});

/** Runs `node --import recorder <script> … run --rm --network none <ref> true`; returns the status and the loaded URLs. */
function runRecorded(script: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string; loaded: string[] }> {
  const out = path.join(dir, `loaded-${Math.random().toString(36).slice(2)}.txt`);
  const args = ['--import', pathToFileURL(recorder).href, script, '--root', path.join(dir, 'root'), '--run-root', path.join(dir, 'run'),
    'run', '--rm', '--network', 'none', ref, 'true'];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env: { PATH: process.env.PATH, BERTH_TEST_LOADED: out, ...env } }, async (err, _stdout, stderr) => {
      const loaded = (await fs.readFile(out, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr, loaded: [...new Set(loaded)] });
    });
  });
}

serial('berth run --rm --network none of a pulled image loads no registry client, undici, ajv or API server module (root, modules)', async (t) => {
  const r = await runRecorded(berthBin, { BERTH_NO_BUNDLE: '1' });
  t.is(r.code, 0, r.stderr);
  const files = r.loaded.filter((u) => u.startsWith('file:'));
  t.true(files.some((u) => u.endsWith('/examples/berth/dist/src/cli.js')), 'the modules ran, not a bundle');
  for (const [what, re] of notAtStartUp) t.deepEqual(files.filter((u) => re.test(u)), [], `${what} is not loaded`);
  t.false(r.loaded.includes('node:http'), 'node:http is not loaded');
  t.log(`${files.length} files loaded (${files.filter((u) => u.endsWith('.js') || u.endsWith('.mjs') || u.endsWith('.cjs')).length} JS modules)`);
});

serial('bundled, berth run --rm --network none of a pulled image runs from one script holding none of those modules, and its code cache is reused (root, bundle)', async (t) => {
  const out = path.join(dir, 'bundle');
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [bundler, '--outdir', out], (err, _o, stderr) => (err ? reject(new Error(stderr)) : resolve()));
  });
  const b = readBundleInputs(pathToFileURL(`${out}/`));
  t.truthy(b);
  const script = path.join(out, b!.entry);
  // What main.cjs does with a fresh bundle, pointed at this one.
  const driver = path.join(dir, 'run-bundle.cjs');
  await fs.writeFile(driver, [
    `const { runBundled } = require(${JSON.stringify(path.join(binDir, 'bundle-run.cjs'))});`,
    `runBundled(${JSON.stringify({ script: pathToFileURL(script).href, mapFile: new URL(b!.mapFile!, pathToFileURL(`${out}/`)).href })}, process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }).then((c) => { process.exitCode = c; });`,
  ].join('\n'));
  const r = await runRecorded(driver);
  t.is(r.code, 0, r.stderr);
  const files = r.loaded.filter((u) => u.startsWith('file:'));
  t.deepEqual(files.filter((u) => /\/(packages|examples)\/[^/]+\/dist\/src\/.*\.js$/.test(u)).map((u) => path.basename(u)), [],
    'no berth ES module is loaded beside the bundle (the launcher\'s helpers and the validators oci-spec requires on use are .cjs)');
  t.deepEqual(files.filter((u) => /\/examples\/berth\/dist\/src\/[^/]*\.cjs$/.test(u)).map((u) => path.basename(u)), ['bundle-run.cjs'],
    'the launcher\'s helper is the only CLI module beside the bundle');
  t.true(b!.inputs.length > 50, 'the bundle holds the engine');
  for (const [what, re] of notAtStartUp) {
    t.deepEqual(b!.inputs.filter((i) => re.test(`/${i}`)), [], `${what} is not in the bundle`);
    t.deepEqual(files.filter((u) => re.test(u)), [], `${what} is not loaded beside the bundle`);
  }
  t.false(r.loaded.includes('node:http'), 'node:http is not loaded');
  const cache = `${script}.run.cache`;
  const made = await fs.stat(cache);
  t.true(made.size > 0, 'the first run left a code cache for run');
  const again = await runRecorded(driver);
  t.is(again.code, 0, again.stderr);
  t.is((await fs.stat(cache)).mtimeMs, made.mtimeMs, 'the second run took the cache (a rejected one is rewritten)');
  // The script is ASCII (read as latin1): what esbuild left as UTF-8, here the µ of Go's durations, is escaped and still means µ.
  t.false(/[^\x00-\x7f]/.test(await fs.readFile(script, 'latin1')), 'the bundle is ASCII');
  const events = (since: string) => new Promise<number>((resolve) => {
    execFile(process.execPath, [driver, '--root', path.join(dir, 'root'), 'events', '--since', since, '--until', '0s'], { env: { PATH: process.env.PATH } },
      (err) => resolve(err ? (typeof err.code === 'number' ? err.code : 1) : 0));
  });
  t.is(await events('5µs'), 0, 'a µs duration parses');
  t.not(await events('5xs'), 0, 'an unknown unit does not');
  t.log(`bundle: ${b!.inputs.length} modules in one script; ${files.length} files loaded in all`);
});

/**
 * Runs `node <node args> --root … run --rm <busybox> sh -c 'seq 1 100000; echo done >&2; exit 3'` with
 * stdout and stderr through pipes and checks that the exit code and every byte (589 kB, nine times a pipe's
 * buffer) arrived.
 */
async function seqThroughPipes(t: ExecutionContext, nodeArgs: string[], env: Record<string, string>): Promise<void> {
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [...nodeArgs, '--root', path.join(dir, 'root'), '--run-root', path.join(dir, 'run'),
      'run', '--rm', '--network', 'none', ref, 'sh', '-c', 'seq 1 100000; echo done >&2; exit 3'],
    { env: { PATH: process.env.PATH, ...env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
  t.is(r.code, 3, r.stderr);
  const lines = r.stdout.split('\n');
  t.is(lines.length, 100001);
  t.is(lines[99999], '100000');
  t.is(r.stderr, 'done\n');
}

serial('the binary (main.cjs, CommonJS) runs a fresh bundle without loading any ES module (no module job of the ES module loader) and exits with all output delivered (root, bundle)', async (t) => {
  // A copy of the launcher beside a bundle of its own (<dir>/launcher/src, <dir>/launcher/bundle), so a package another
  // process rebuilds meanwhile does not change which path it takes: its inputs.json is dated after any rebuild.
  const home = path.join(dir, 'launcher');
  await fs.mkdir(path.join(home, 'src'), { recursive: true });
  for (const f of ['main.cjs', 'bundle-check.cjs', 'bundle-run.cjs']) await fs.copyFile(path.join(binDir, f), path.join(home, 'src', f));
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [bundler, '--outdir', path.join(home, 'bundle')], (err, _o, stderr) => (err ? reject(new Error(stderr)) : resolve()));
  });
  const inputsFile = path.join(home, 'bundle', 'inputs.json');
  await fs.writeFile(inputsFile, JSON.stringify({ ...JSON.parse(await fs.readFile(inputsFile, 'utf8')), startedMs: Date.now() + 3_600_000 }));
  // A CommonJS preload (not --import, which would route the entry through the ES module loader) records at exit.
  const out = path.join(dir, 'launcher-loaded.json');
  const preload = path.join(dir, 'record-cjs.cjs');
  await fs.writeFile(preload, [
    "process.once('exit', () => require('node:fs').writeFileSync(process.env.BERTH_TEST_LOADED,",
    "  JSON.stringify({ builtins: process.moduleLoadList, files: Object.keys(require.cache), maps: require('node:fs').readFileSync('/proc/self/maps', 'utf8') })));",
  ].join('\n'));
  // It ends with process.exit (the preload's exit listener asks for it): the container's output (589 kB through a pipe,
  // nine times a pipe's buffer) is all there.
  await seqThroughPipes(t, ['-r', preload, path.join(home, 'src', 'main.cjs')], { BERTH_TEST_LOADED: out });
  const loaded = JSON.parse(await fs.readFile(out, 'utf8')) as { builtins: string[]; files: string[]; maps: string };
  t.deepEqual(loaded.files.filter((f) => f.startsWith(home)).map((f) => path.relative(home, f)).sort(),
    ['src/bundle-check.cjs', 'src/bundle-run.cjs', 'src/main.cjs'], 'the launcher and its two helpers, nothing else of the CLI');
  t.true(loaded.files.some((f) => f.endsWith('/namespaces/dist/src/map-file.cjs')), 'the script was mapped through @berth/namespaces/map-file');
  t.regex(loaded.maps, new RegExp(` ${path.join(home, 'bundle', 'berth.cjs').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n`), 'the script is a mapping of the file (the string V8 compiled), not a copy');
  t.false(loaded.builtins.includes('NativeModule internal/modules/esm/module_job'), 'no ES module was linked or evaluated');
  // Ids and temporary names come from /dev/urandom (oci-spec randomHex), EMPTY_SHA256 is a literal: node:crypto's load
  // (~6.5 ms) is not paid by a run.
  t.false(loaded.builtins.includes('NativeModule crypto'), 'node:crypto is not loaded');
  // Files and small trees are removed with unlink and @berth/namespaces removeTreeSync: fs.rmSync would load Node's rimraf.
  t.false(loaded.builtins.includes('NativeModule internal/fs/rimraf'), 'Node\'s rimraf is not loaded');
  t.true((await fs.stat(path.join(home, 'bundle', 'berth.cjs.run.cache'))).size > 0, 'the bundle ran (it left its code cache for run)');
});

serial('without a terminal or exit listener the binary ends with _exit: the exit code and all output through pipes are there (root, bundle)', async (t) => {
  await seqThroughPipes(t, [path.join(binDir, 'main.cjs')], {});
});

serial('a --rm container\'s rootfs overlay is volatile (no syncfs of the disk when it is unmounted at exit); a kept one is not (root)', async (t) => {
  const rm = await berthBinary(dir, ['run', '--rm', '--network', 'none', ref, 'head', '-n', '1', '/proc/mounts']);
  t.is(rm.code, 0, rm.stderr);
  t.regex(rm.stdout, /^overlay \/ overlay \S*\bfsync=volatile\b/);
  const kept = await berthBinary(dir, ['run', '--network', 'none', '--name', 'kept-rootfs', ref, 'head', '-n', '1', '/proc/mounts']);
  t.is(kept.code, 0, kept.stderr);
  t.regex(kept.stdout, /^overlay \/ overlay /);
  t.notRegex(kept.stdout, /volatile/);
  t.is((await berthBinary(dir, ['rm', 'kept-rootfs'])).code, 0);
});

/** Runs the binary itself (its shebang line, as a user's `berth` does) with only `env`; resolves to its status and output. */
function direct(root: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(berthBin, ['--root', path.join(root, 'root'), '--run-root', path.join(root, 'run'), ...args], { env }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The environment a process was started (exec'd) with: `/proc/<pid>/environ`. */
async function environOf(pid: number): Promise<Map<string, string>> {
  const raw = await fs.readFile(`/proc/${pid}/environ`, 'utf8');
  return new Map(raw.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

serial('the binary starts Node without NODE_EXTRA_CA_CERTS (Node would load it first), and a registry is still trusted with those CAs; so does a detached supervisor (root, TLS registry)', async (t) => {
  const tls = await startRegistry({ tls: true, seed: true });
  const d = await tempDir();
  try {
    const f = fixture('busybox', 'oci-gzip');
    const tlsRef = `${tls.host}/${f.repo}:${f.tag}`;
    const PATH = process.env.PATH;
    const refused = await direct(d, ['pull', '-q', tlsRef], { PATH });
    t.not(refused.code, 0, 'without the CA the registry\'s certificate is refused');
    const withCa = { PATH, NODE_EXTRA_CA_CERTS: tls.caPath! };
    const pulled = await direct(d, ['pull', '-q', tlsRef], withCa);
    t.is(pulled.code, 0, pulled.stderr);
    t.is(pulled.stdout.trim(), tlsRef);
    const unreadable = await direct(d, ['pull', '-q', tlsRef], { PATH, NODE_EXTRA_CA_CERTS: path.join(d, 'missing.pem') });
    t.not(unreadable.code, 0, 'an unreadable file is ignored: without its CA the certificate is refused again');
    t.regex(unreadable.stderr, /^Warning: Ignoring extra certs from `.*missing\.pem`, load failed: ENOENT/m);

    // What Node itself started with (its /proc environ once env(1) has exec'd it): the value moved aside.
    const events = execFile(berthBin, ['--root', path.join(d, 'root'), '--run-root', path.join(d, 'run'), 'events'], { env: withCa });
    try {
      for (let i = 0; i < 500 && (await fs.readlink(`/proc/${events.pid}/exe`).catch(() => '')) !== process.execPath; i++) await new Promise((r) => setTimeout(r, 10));
      const started = await environOf(events.pid!);
      t.false(started.has('NODE_EXTRA_CA_CERTS'), 'Node started without it');
      t.is(started.get('BERTH_EXTRA_CA_CERTS'), tls.caPath);
    } finally {
      events.kill();
    }

    // run -d hands the container to a supervisor (another Node): it is started the same way.
    const run = await direct(d, ['run', '-d', '--network', 'none', '--name', 'ca-sup', tlsRef, 'sleep', '30'], withCa);
    t.is(run.code, 0, run.stderr);
    const supervisor = (await fs.readdir('/proc')).filter((p) => /^\d+$/.test(p)).find((p) => {
      try { return fsSync.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`--supervise\0${run.stdout.trim()}`); } catch { return false; }
    });
    t.truthy(supervisor, 'the supervisor runs');
    const env = await environOf(Number(supervisor));
    t.false(env.has('NODE_EXTRA_CA_CERTS'));
    t.is(env.get('BERTH_EXTRA_CA_CERTS'), tls.caPath);
    t.is((await direct(d, ['rm', '-f', 'ca-sup'], { PATH })).code, 0);
  } finally {
    await tls.close();
    const mounted = fsSync.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m?.startsWith(`${d}/`));
    for (const m of mounted.reverse()) spawnSync('umount', ['-l', m]);
  }
});

test('the code cache is kept per command: the first argument after the global flags', (t) => {
  t.is(cacheKeyOf(['--root', '/r', '--run-root', '/x', 'run', '--rm', 'img']), 'run');
  t.is(cacheKeyOf(['-D', 'ps', '-a']), 'ps');
  t.is(cacheKeyOf(['--version']), 'berth');
  t.is(cacheKeyOf(['--root=/r', 'image', 'ls']), 'image');
  t.is(cacheKeyOf(['../x']), 'berth');
});

test('the bundle runs only while it has the loader\'s form and no stamp (tsbuildinfo, npm lock) changed after it was built', async (t) => {
  const d = await tempDir();
  const url = pathToFileURL(`${d}/`);
  t.is(freshBundle(url), undefined, 'no inputs.json: no bundle');
  const stamp = path.join(d, 'tsconfig.tsbuildinfo');
  await fs.writeFile(stamp, '{}');
  const old = new Date(Date.now() - 60_000);
  await fs.utimes(stamp, old, old);
  const inputs = { entry: 'berth.cjs', format: 3, mapFile: 'map-file.cjs', startedMs: Date.now() - 1000, stamps: ['tsconfig.tsbuildinfo'], inputs: [] };
  await fs.writeFile(path.join(d, 'inputs.json'), JSON.stringify({ ...inputs, format: 2 }));
  t.is(freshBundle(url), undefined, 'a bundle of an older form (no resolved map-file, or a wrapper added at run time): not run');
  await fs.writeFile(path.join(d, 'inputs.json'), JSON.stringify(inputs));
  t.deepEqual(freshBundle(url), { script: new URL('berth.cjs', url).href, mapFile: new URL('map-file.cjs', url).href });
  await fs.utimes(stamp, new Date(), new Date());
  t.is(freshBundle(url), undefined, 'a package rebuilt after the bundle: stale');
  await fs.rm(stamp);
  t.is(freshBundle(url), undefined, 'a stamp gone: stale');
});
