#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS BERTH_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} node
/**
 * The `berth` binary: a daemonless, docker-compatible container engine CLI.
 *
 * It runs the bundle (`dist/bundle/`, `npm run build:bundle`) with a V8
 * code cache when there is one no package was rebuilt after
 * (`bundle-check.cts`, `bundle-run.cts`), else the modules themselves
 * (`runCli` of `./cli.js`); `BERTH_NO_BUNDLE=1` forces the modules.
 *
 * It is a CommonJS script, as are the two helpers it loads: Node starts a
 * CommonJS entry without the ES module loader's per-module work (resolve,
 * link, evaluate jobs), about 25 ms of CPU here. `main.js` (an ES module)
 * only loads this script, for callers of the older path. A bundled command
 * ends with `process.exit`, or `_exit(2)` when no stdio stream is a terminal
 * (see below).
 *
 * The shebang starts Node without `NODE_EXTRA_CA_CERTS`, its value moved to
 * `BERTH_EXTRA_CA_CERTS` (GNU env's `-S`, `-u` and `${VAR}`): Node 20 reads
 * that file at start-up, before any script, and builds its whole root
 * certificate store then, ~40 ms of every command here, where it is set
 * for the machine. This script puts the variable back at once (so child
 * processes see the environment they were given), and the registry client
 * trusts the file when a command first contacts a registry (`extraCaCerts`
 * of `runCli`). Run as `node main.cjs`, Node loads it itself, as before.
 */
import path = require('node:path');
import url = require('node:url');
import bundleCheck = require('./bundle-check.cjs');

// Set by the shebang: empty when NODE_EXTRA_CA_CERTS was not set.
const extraCaCerts = process.env.BERTH_EXTRA_CA_CERTS || undefined;
delete process.env.BERTH_EXTRA_CA_CERTS;
if (extraCaCerts !== undefined) process.env.NODE_EXTRA_CA_CERTS = extraCaCerts;
const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, ...(extraCaCerts ? { extraCaCerts } : {}) };

const bundle = process.env.BERTH_NO_BUNDLE ? undefined : bundleCheck.freshBundle(url.pathToFileURL(path.join(__dirname, '../bundle/')));
if (bundle === undefined) {
  void import('./cli.js').then(async ({ runCli }) => { process.exitCode = await runCli(process.argv.slice(2), io); });
} else {
  // Required here, not at the top: the fallback does not need it.
  const { runBundled, exitBundled } = require('./bundle-run.cjs') as typeof import('./bundle-run.cjs');
  // Exits as soon as the command is done: it awaited everything it started, and process.stdout/stderr write
  // synchronously on Linux (files, pipes, terminals), so nothing is pending; a natural exit would first tear the
  // V8 heap down page by page (15-50 ms here, more under load) for a process that is going away anyway. Without
  // a terminal on stdio, exitBundled skips process.exit's thread joins and hooks too (_exit).
  void runBundled(bundle, process.argv.slice(2), io).then((code) => exitBundled(code));
}
