/**
 * Runs the CLI's bundle (`dist/bundle/berth.cjs`, see `scripts/bundle.mjs`)
 * with a V8 code cache: the script, mapped into memory as a latin1 string,
 * and the cache, mapped as a Buffer (`@berth/namespaces/map-file`: no read,
 * no copy, only the pages V8 touches), are compiled through `vm.Script` with
 * the cached data a previous run of the same command left beside it
 * (`berth.cjs.<command>.cache`), so V8 neither parses it nor compiles the
 * functions that command ran before. A command whose cache is missing or
 * rejected (another bundle, another V8) writes one when it is done
 * (temp file + rename, so a concurrent run never reads half of one).
 */
import fs = require('node:fs');
import nodeModule = require('node:module');
import path = require('node:path');
import url = require('node:url');
import vm = require('node:vm');
import type mapping = require('@berth/namespaces/map-file');
import type { CliIo } from './cli.js' with { 'resolution-mode': 'import' };

/** Global flags that take a value (so the command is the first argument after them). */
const valued = new Set(['--root', '--run-root', '--log-level', '-l']);

/** The command a cache is kept for: the first argument that is not a global flag (`run`, `ps`…), else `berth`. */
function cacheKeyOf(argv: readonly string[]): string {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (valued.has(a)) i++;
    else if (!a.startsWith('-')) return /^[a-z][a-z-]*$/.test(a) ? a : 'berth';
  }
  return 'berth';
}

/**
 * Runs one command line through a bundle (`script`, a file URL), mapping
 * its files with `mapFile` (the URL of `@berth/namespaces/map-file`, as the
 * bundler resolved it: no package resolution at start-up); resolves to the
 * exit status.
 */
async function runBundled(bundle: { script: string; mapFile: string }, argv: readonly string[], io: CliIo): Promise<number> {
  const { mapFile, mapFileLatin1 } = require(url.fileURLToPath(bundle.mapFile)) as typeof mapping;
  const file = url.fileURLToPath(bundle.script);
  const cacheFile = `${file}.${cacheKeyOf(argv)}.cache`;
  let cachedData: Buffer | undefined;
  try {
    cachedData = mapFile(cacheFile);
  } catch { /* first run of this command */ }
  // The script is ASCII and the whole function (scripts/bundle.mjs): mapped as a latin1 string, V8 compiles it
  // as it is, with no read, decode or copy; with the code cache it touches little of it.
  const script = new vm.Script(mapFileLatin1(file), { filename: file, ...(cachedData ? { cachedData } : {}) });
  const mod = { exports: {} as { runCli: (argv: readonly string[], io: CliIo) => Promise<number>; exitFast?: (code: number) => Promise<void> } };
  (script.runInThisContext() as (...a: unknown[]) => void)(
    mod.exports, nodeModule.createRequire(file), mod, file, path.dirname(file), (s: string) => import(s),
  );
  loaded = mod.exports;
  const code = await mod.exports.runCli(argv, io);
  if (cachedData === undefined || script.cachedDataRejected) {
    // After the run, so the functions it compiled are in the cache too.
    try {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, cacheFile);
    } catch { /* a read-only install runs without one */ }
  }
  return code;
}

/** The bundle's loader: {@link runBundled}, its code-cache key {@link cacheKeyOf} and {@link exitBundled} (CommonJS under verbatimModuleSyntax exports one value). */
/** The bundle {@link runBundled} ran last. */
let loaded: { exitFast?: (code: number) => Promise<void> } | undefined;

/**
 * Ends the process with `code` once the bundle's command is done: at once
 * through the bundle's `exitFast` when no stdio stream is a terminal, else
 * (or with a bundle that has none) with `process.exit`.
 */
async function exitBundled(code: number): Promise<never> {
  await loaded?.exitFast?.(code).catch(() => undefined);
  process.exit(code);
}

export = { cacheKeyOf, runBundled, exitBundled };
