/**
 * What `berth run` loads at start-up, without timing anything: the modules
 * (or, bundled, the bundle's files and the modules inside them) a
 * `berth run --rm --network none` of an already pulled image loads must not
 * include the registry client, undici, ajv or the Docker API server, which
 * only pull/push/serve need. A child records every module it loads: ESM
 * through a loader hook, CommonJS (ajv, the compiled validators) from
 * `require.cache` at exit. Plus the bundle's freshness rule, and the
 * volatile rootfs of `--rm` containers (nothing to sync when they exit).
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fixture, startRegistry, type TestRegistry } from '@berth/testkit';
import { freshBundle, readBundleInputs } from '../src/bundle-check.js';
import { berthBin, berthBinary, tempDir } from './helpers/cli.js';

const isRoot = process.getuid?.() === 0;
const serial = isRoot ? test.serial : test.skip;
const bundler = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/bundle.mjs');

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

serial('bundled, berth run --rm --network none of a pulled image loads only start-up chunks, none holding those modules (root, bundle)', async (t) => {
  const out = path.join(dir, 'bundle');
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [bundler, '--outdir', out], (err, _o, stderr) => (err ? reject(new Error(stderr)) : resolve()));
  });
  const b = readBundleInputs(pathToFileURL(`${out}/`));
  t.truthy(b);
  const r = await runRecorded(path.join(out, b!.entry));
  t.is(r.code, 0, r.stderr);
  const files = r.loaded.filter((u) => u.startsWith('file:'));
  const chunks = files.filter((u) => u.startsWith(pathToFileURL(`${out}/`).href)).map((u) => path.basename(fileURLToPath(u)));
  t.true(chunks.includes(b!.entry));
  t.true(chunks.length < Object.keys(b!.chunks).length, 'some chunks stay unloaded');
  // No berth module is loaded outside the bundle, except the CommonJS validators oci-spec requires on use.
  t.deepEqual(files.filter((u) => /\/(packages|examples)\/[^/]+\/dist\/src\/.*\.js$/.test(u)), []);
  const inside = chunks.flatMap((c) => b!.chunks[c] ?? []);
  t.true(inside.length > 50, 'the start-up chunks hold the engine');
  for (const [what, re] of notAtStartUp) {
    t.deepEqual(inside.filter((i) => re.test(`/${i}`)), [], `${what} is not in a loaded chunk`);
    t.deepEqual(files.filter((u) => re.test(u)), [], `${what} is not loaded beside the bundle`);
  }
  t.false(r.loaded.includes('node:http'), 'node:http is not loaded');
  t.log(`${chunks.length} of ${Object.keys(b!.chunks).length} bundle files loaded, holding ${inside.length} modules; ${files.length} files in all`);
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

test('the bundle runs only while no stamp (tsbuildinfo, npm lock) changed after it was built', async (t) => {
  const d = await tempDir();
  const url = pathToFileURL(`${d}/`);
  t.is(freshBundle(url), undefined, 'no inputs.json: no bundle');
  const stamp = path.join(d, 'tsconfig.tsbuildinfo');
  await fs.writeFile(stamp, '{}');
  const old = new Date(Date.now() - 60_000);
  await fs.utimes(stamp, old, old);
  await fs.writeFile(path.join(d, 'inputs.json'), JSON.stringify({ entry: 'berth.js', startedMs: Date.now() - 1000, stamps: ['tsconfig.tsbuildinfo'], inputs: [], chunks: {} }));
  t.is(freshBundle(url), new URL('berth.js', url).href);
  await fs.utimes(stamp, new Date(), new Date());
  t.is(freshBundle(url), undefined, 'a package rebuilt after the bundle: stale');
  await fs.rm(stamp);
  t.is(freshBundle(url), undefined, 'a stamp gone: stale');
});
