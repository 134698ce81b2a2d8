#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli.js and every berth module it imports) into one script,
// dist/bundle/berth.cjs, with esbuild, tree-shaken, so `berth` start-up reads and compiles one file
// instead of ~125 modules; dist/src/main.cjs compiles it with a V8 code cache (src/bundle-run.cts).
// It runs the bundle only while no package it was made from was rebuilt since
// (dist/bundle/inputs.json; src/bundle-check.cts), else the modules themselves.
//
//   npm run build:bundle -w @berth/example-berth      (after `tsc -b`; `npm run build` does both)
//   node scripts/bundle.mjs --outdir DIR             (anywhere else)
//
// - CommonJS, not ES modules: a vm.Script takes and makes a V8 code cache (Node 20 has none for
//   ES modules), and one script skips the ES module loader's per-file work.
// - What only pull/push/`version`/`system service` need stays out: `import('@berth/registry-client')`
//   (undici) and `import('@berth/engine')` (the Docker API server) load those packages' own
//   modules when first used. Errors cross that line safely: berth tells them apart by code and
//   by `Symbol.for` brand, not by class identity.
// - Modules that find files next to themselves (`import.meta.url`, `import.meta.dirname`: the
//   namespaces addon, oci-spec's precompiled validators, cow-fs's syncfs worker) keep finding them
//   in their packages: each such expression, and each lazy `import()`, is rewritten to the
//   original location relative to the bundle, so the bundle works wherever the checkout is.
// - oci-spec's precompiled validators (required by computed name) are bundled too, but the
//   runtime-spec one (700 kB), and each builtin is wrapped once for all modules that import it.
// - The script is ASCII (other characters escaped) and one function expression, `(function (exports, require,
//   module, __filename, __dirname, __berthImport) {…})` (inputs.json `format: 3`): its loader maps it as a
//   latin1 string (no read, no copy) and compiles it as it is.
// - The script gets `__berthImport` from its loader: V8 drops a script's dynamic import() callback
//   when it is compiled from a code cache, so the loader's own import() does it.
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--outdir');
const outdir = at > 0 ? path.resolve(process.argv[at + 1]) : path.join(pkg, 'dist', 'bundle');
const outfile = path.join(outdir, 'berth.cjs');
const entry = path.join(pkg, 'dist', 'src', 'cli.js');
const rel = (p) => path.relative(outdir, p).split(path.sep).join('/');

/** `src` (the module at `file`) with `import.meta.url`/`dirname` naming that file and its directory. */
function rewriteImportMeta(src, file) {
  return src
    .replace(/\bimport\.meta\.url\b/g, `__berthSourceUrl(${JSON.stringify(rel(file))})`)
    .replace(/\bimport\.meta\.dirname\b/g, `__berthSourceDir(${JSON.stringify(rel(path.dirname(file)))})`);
}

/** `import.meta.url`/`dirname` of a bundled module → its original file and directory. */
const importMetaOfSource = {
  name: 'import-meta-of-source',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?js$/ }, async (args) => {
      const src = await fs.readFile(args.path, 'utf8');
      if (!src.includes('import.meta.')) return undefined;
      return { contents: rewriteImportMeta(src, args.path), loader: 'js', resolveDir: path.dirname(args.path) };
    });
  },
};

/** Lazily imported packages left out of the bundle: their own modules load on first use. */
const lazyPackages = /^@berth\/(registry-client|engine)$/;
const lazyExternal = {
  name: 'lazy-external',
  setup(build) {
    build.onResolve({ filter: lazyPackages }, async (args) => {
      if (args.kind !== 'dynamic-import') return undefined;
      const r = await build.resolve(args.path, { kind: 'import-statement', resolveDir: args.resolveDir });
      if (r.errors.length > 0) return undefined;
      return { path: `berth-lazy:${rel(r.path)}`, external: true };
    });
  },
};

/**
 * oci-spec requires its precompiled validators by a computed name, which a bundler cannot follow:
 * the ones an image or a container needs (all but the 700 kB runtime-spec one, which stays a
 * file of its own) are bundled here, so their code is in the code cache too.
 */
const compiledValidators = {
  name: 'compiled-validators',
  setup(build) {
    build.onLoad({ filter: /[\\/]oci-spec[\\/]dist[\\/]src[\\/]ajv[\\/]validate\.js$/ }, async (args) => {
      const src = await fs.readFile(args.path, 'utf8');
      const call = /requireCjs\((`\.\/compiled\/\$\{compiledFileName\(name\)\.replace\(\/\\\.cts\$\/, '\.cjs'\)\}`)\)/;
      if (!call.test(src)) {
        console.warn('bundle: oci-spec validate.js changed; its compiled validators stay separate files');
        return undefined;
      }
      const files = (await fs.readdir(path.join(path.dirname(args.path), 'compiled'))).filter((f) => f.endsWith('.cjs') && f !== 'runtime-spec.cjs');
      const table = `const __berthCompiled = {${files.map((f) => `${JSON.stringify(f)}: () => require(${JSON.stringify(`./compiled/${f}`)})`).join(', ')}};\n`;
      return {
        contents: rewriteImportMeta(table + src.replace(call, (_m, spec) => `(__berthCompiled[${spec}.slice(11)] ?? (() => requireCjs(${spec})))()`), args.path),
        loader: 'js',
        resolveDir: path.dirname(args.path),
      };
    });
  },
};

const startedMs = Date.now();
await fs.rm(outdir, { recursive: true, force: true });
const result = await esbuild.build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  external: ['*.node'],
  metafile: true,
  write: false,
  plugins: [lazyExternal, compiledValidators, importMetaOfSource],
  logLevel: 'warning',
  banner: {
    js: [
      'const __berthSourceUrl = (p) => require("node:url").pathToFileURL(require("node:path").join(__dirname, p)).href;',
      'const __berthSourceDir = (p) => require("node:path").join(__dirname, p);',
      'const __berthBuiltins = new Map();',
      'const __berthBuiltinNow = (id) => { let m = __berthBuiltins.get(id); if (m === undefined) __berthBuiltins.set(id, m = __toESM(require(id), 1)); return m; };',
      // Loaded on first use, not when the bundle starts: `run` never touches node:zlib, node:dgram…
      'const __berthBuiltin = (id) => new Proxy({}, { get: (_t, k) => __berthBuiltinNow(id)[k], has: (_t, k) => k in __berthBuiltinNow(id) });',
      'const __berthBuiltinRaw = (id) => new Proxy({}, { get: (_t, k) => require(id)[k], has: (_t, k) => k in require(id) });',
    ].join(' '),
  },
});
let code = result.outputFiles[0].text;
// esbuild wraps a builtin for each module that imports it (__toESM copies every property of
// node:fs, node:path… ~80 times); one wrapper per builtin serves them all, made on first use.
code = code.replace(/__toESM\(require\(("node:[^"]+")\),\s*1\)/g, '__berthBuiltin($1)');
// A module's named imports of a builtin (`import_node_crypto = require("node:crypto")`): on first use too.
code = code.replace(/\b(import_[\w$]+)\s*=\s*require\(("node:[^"]+")\)/g, '$1=__berthBuiltinRaw($2)');
// Every import() goes through the loader's __berthImport; berth's lazy packages by their file URL.
let lazy = 0;
code = code.replace(/\bimport\(("(?:[^"\\]|\\.)*")\)/g, (_m, spec) => {
  const s = JSON.parse(spec);
  if (s.startsWith('berth-lazy:')) {
    lazy++;
    return `__berthImport(__berthSourceUrl(${JSON.stringify(s.slice('berth-lazy:'.length))}))`;
  }
  return `__berthImport(${spec})`;
});
// ASCII only (esbuild leaves some characters, in regular expressions for one, as they are): every other UTF-16 unit
// becomes a \uXXXX escape, which means the same in strings, templates, regular expressions and identifiers, so the
// loader reads the script as latin1, a one-byte string with no UTF-8 decoding (src/bundle-run.cts).
// (After a backslash the escape would change a raw template string: the build stops there instead.)
const escapedNonAscii = /\\[^\x00-\x7f]/.exec(code);
if (escapedNonAscii) {
  console.error(`bundle: a backslash before a non-ASCII character at offset ${escapedNonAscii.index} of the script (${JSON.stringify(code.slice(escapedNonAscii.index - 40, escapedNonAscii.index + 40))}); main.cjs reads the script as latin1, so it must be ASCII`);
  process.exit(1);
}
code = code.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
// The script is the function its loader calls (src/bundle-run.cts): compiled as the file is, without a wrapper
// concatenated at run time, which V8 would flatten (copy) before compiling.
code = `(function (exports, require, module, __filename, __dirname, __berthImport) {${code}\n})`;
if (/[^\w$.]import\(\s*[^)\s]/.test(code.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`/g, '""'))) {
  console.warn('bundle: an import() with a computed specifier is left as is (it fails in the bundle)');
}
await fs.mkdir(outdir, { recursive: true });
await fs.writeFile(outfile, code);

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
const inputs = Object.keys(result.metafile.inputs);
const stamps = [...new Set(await Promise.all(inputs.map(stampOf)))].map((p) => rel(p));
await fs.writeFile(path.join(outdir, 'inputs.json'), `${JSON.stringify({
  entry: 'berth.cjs',
  format: 3,
  // The module the loader maps the script and code cache with (the public `@berth/namespaces/map-file`), resolved
  // now: resolving a package specifier at start-up walks node_modules, ~2-5 ms of every command.
  mapFile: rel(createRequire(entry).resolve('@berth/namespaces/map-file')),
  startedMs,
  stamps,
  inputs: inputs.map((i) => rel(path.resolve(process.cwd(), i))),
}, null, 1)}\n`);
// The binary (the package's `bin`): npm makes a bin executable at install, but in a fresh checkout tsc
// writes it after `npm ci`, without the mode bits its shebang needs.
await fs.chmod(path.join(pkg, 'dist', 'src', 'main.cjs'), 0o755).catch((e) => { if (e.code !== 'ENOENT') throw e; });
if (process.env.BERTH_BUNDLE_META) await fs.writeFile(process.env.BERTH_BUNDLE_META, JSON.stringify(result.metafile));
console.log(`bundle: ${inputs.length} modules → berth.cjs ${(code.length / 1024).toFixed(0)} kB (${lazy} lazy imports of unbundled packages)`);
