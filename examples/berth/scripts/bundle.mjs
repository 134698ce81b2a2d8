#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/bin.js and everything it imports, all of berth's packages
// included) into dist/bundle/ with esbuild: ES modules, tree-shaken, split at every dynamic
// import(), so `berth run` reads and compiles a few files instead of ~130 modules, and code that
// only pull/push/build/serve need (the registry client and undici, the Docker API server…) sits
// in chunks loaded when first used. dist/src/main.js runs the bundle only while no package it was
// made from was rebuilt since (dist/bundle/inputs.json), else the modules themselves.
//
//   npm run build:bundle -w @berth/example-berth      (after `tsc -b`; `npm run build` does both)
//   node scripts/bundle.mjs --outdir DIR             (anywhere else)
//
// Modules that find files next to themselves (`import.meta.url`, `import.meta.dirname`: the
// namespaces addon, oci-spec's precompiled validators, cow-fs's syncfs worker) keep finding them
// there: each such expression is rewritten to the module's original location, relative to the
// chunk, so the bundle works wherever the checkout is.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// `--outdir DIR` bundles elsewhere (tests do, so they never depend on, or replace, dist/bundle).
const at = process.argv.indexOf('--outdir');
const outdir = at > 0 ? path.resolve(process.argv[at + 1]) : path.join(pkg, 'dist', 'bundle');
const entry = path.join(pkg, 'dist', 'src', 'bin.js');

/** `import.meta.url`/`dirname` of a bundled module → expressions naming its original file. */
const importMetaOfSource = {
  name: 'import-meta-of-source',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?js$/ }, async (args) => {
      const src = await fs.readFile(args.path, 'utf8');
      if (!src.includes('import.meta.')) return undefined;
      const rel = (p) => JSON.stringify(path.relative(outdir, p).split(path.sep).join('/'));
      const url = `new URL(${rel(args.path)}, import.meta.url).href`;
      const dir = `decodeURIComponent(new URL(${rel(path.dirname(args.path))} + "/", import.meta.url).pathname).replace(/\\/$/, "")`;
      return {
        contents: src.replace(/\bimport\.meta\.url\b/g, url).replace(/\bimport\.meta\.dirname\b/g, dir),
        loader: 'js',
        resolveDir: path.dirname(args.path),
      };
    });
  },
};

/**
 * berth's own modules do nothing when imported but define things (checked: no top-level calls
 * besides oci-spec's generate.ts main guard), so a module the CLI's `run` path imports only for
 * other names (the engine's index re-exporting the Docker API server) contributes only what is
 * used; whatever only `import()`ed code needs moves to the lazy chunks.
 */
const berthSideEffectFree = {
  name: 'berth-side-effect-free',
  setup(build) {
    const own = /[\\/](packages|examples)[\\/][^\\/]+[\\/]dist[\\/]src[\\/].*\.js$/;
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData?.inner || args.kind === 'entry-point') return undefined;
      const r = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: { inner: true } });
      if (r.errors.length > 0 || r.external || !own.test(r.path)) return undefined;
      return { path: r.path, sideEffects: false };
    });
  },
};

const startedMs = Date.now();
await fs.rm(outdir, { recursive: true, force: true });
const result = await esbuild.build({
  entryPoints: { berth: entry },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Fewer bytes to read and parse at every start; names are kept for stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: false,
  external: ['*.node'],
  metafile: true,
  plugins: [berthSideEffectFree, importMetaOfSource],
  logLevel: 'warning',
});
const relIn = (p) => path.relative(outdir, path.resolve(process.cwd(), p)).split(path.sep).join('/');

/**
 * The file whose mtime says an input changed: its project's `dist/tsconfig.tsbuildinfo`, which tsc
 * rewrites whenever it emits (so ~8 stats at start-up instead of one per module); for a module from
 * node_modules, the `.package-lock.json` npm rewrites at every install; else the input itself.
 */
async function stampOf(input) {
  const abs = path.resolve(process.cwd(), input);
  const exists = (p) => fs.access(p).then(() => true, () => false);
  const nm = abs.lastIndexOf(`${path.sep}node_modules${path.sep}`);
  if (nm >= 0) {
    for (let dir = abs.slice(0, nm); ; dir = path.dirname(dir)) {
      const lock = path.join(dir, 'node_modules', '.package-lock.json');
      if (await exists(lock)) return lock;
      if (path.dirname(dir) === dir) break;
    }
    return abs;
  }
  const d = abs.lastIndexOf(`${path.sep}dist${path.sep}`);
  if (d >= 0) {
    const info = path.join(abs.slice(0, d), 'dist', 'tsconfig.tsbuildinfo');
    if (await exists(info)) return info;
  }
  return abs;
}
const stamps = [...new Set(await Promise.all(Object.keys(result.metafile.inputs).map(stampOf)))].map(relIn);
const chunks = {};
for (const [out, o] of Object.entries(result.metafile.outputs)) {
  chunks[path.basename(out)] = Object.keys(o.inputs).map(relIn);
}
await fs.writeFile(path.join(outdir, 'inputs.json'), `${JSON.stringify({
  entry: 'berth.js',
  startedMs,
  stamps,
  inputs: Object.keys(result.metafile.inputs).map(relIn),
  chunks,
}, null, 1)}\n`);
if (process.env.BERTH_BUNDLE_META) await fs.writeFile(process.env.BERTH_BUNDLE_META, JSON.stringify(result.metafile));
const sizes = Object.entries(result.metafile.outputs).map(([o, v]) => `${path.basename(o)} ${(v.bytes / 1024).toFixed(0)} kB`);
console.log(`bundle: ${Object.keys(result.metafile.inputs).length} modules → ${sizes.join(', ')}`);
