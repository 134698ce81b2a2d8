/**
 * Runs the CLI's bundle (`dist/bundle/berth.cjs`, see `scripts/bundle.mjs`)
 * with a V8 code cache: the script is compiled through `vm.Script` with
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

/** Runs one command line through the bundle at `bundleUrl` (a file URL); resolves to the exit status. */
async function runBundled(bundleUrl: string, argv: readonly string[], io: CliIo): Promise<number> {
  const file = url.fileURLToPath(bundleUrl);
  const cacheFile = `${file}.${cacheKeyOf(argv)}.cache`;
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch { /* first run of this command */ }
  // The bundler escapes every non-ASCII character: latin1 makes the one-byte string V8 wants without decoding
  // UTF-8. A script that is not ASCII after all (an older bundler) is read again as UTF-8.
  let source = fs.readFileSync(file, 'latin1');
  if (/[^\x00-\x7f]/.test(source)) source = fs.readFileSync(file, 'utf8');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname, __berthImport) {${source}\n})`, {
    filename: file, ...(cachedData ? { cachedData } : {}),
  });
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
