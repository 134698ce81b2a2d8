/**
 * Whether the CLI's bundle may run: no package it was built from may have
 * been rebuilt since, so a rebuild (`tsc -b`) without a new bundle falls
 * back to the modules instead of running stale code. One small JSON read
 * and one stat per stamp: each package's `dist/tsconfig.tsbuildinfo`, which
 * tsc rewrites whenever it emits, and npm's `node_modules/.package-lock.json`.
 */
import fs = require('node:fs');

/** The bundle's `inputs.json`, written by `scripts/bundle.mjs`. */
interface BundleInputs {
  /** The bundle's script (CommonJS), relative to the bundle directory. */
  entry: string;
  /** The script's form: 2, an ASCII function expression its loader compiles as it is (`scripts/bundle.mjs`). */
  format?: number;
  /** When the build started (ms since the epoch); an input changed later makes the bundle stale. */
  startedMs: number;
  /** The files whose mtime tells that an input changed (tsbuildinfo, npm's lock), relative to the bundle directory. */
  stamps: string[];
  /** Every bundled module, relative to the bundle directory. */
  inputs: string[];
}

/** The bundle form this loader runs (`format` of inputs.json). */
const bundleFormat = 2;

/** Reads `inputs.json` of the bundle directory `dir` (a file URL ending in `/`); undefined when there is none. */
function readBundleInputs(dir: URL): BundleInputs | undefined {
  try {
    return JSON.parse(fs.readFileSync(new URL('inputs.json', dir), 'utf8')) as BundleInputs;
  } catch {
    return undefined;
  }
}

/** The URL of the bundle's script in `dir` when the bundle is there and fresh, else undefined. */
function freshBundle(dir: URL): string | undefined {
  const b = readBundleInputs(dir);
  if (b?.format !== bundleFormat) return undefined; // none, or made by an older bundler for another loader
  try {
    for (const stamp of b.stamps) {
      if (fs.statSync(new URL(stamp, dir)).mtimeMs > b.startedMs) return undefined;
    }
  } catch {
    return undefined; // an input is gone: the tree changed since
  }
  return new URL(b.entry, dir).href;
}

/** The bundle's freshness check: {@link readBundleInputs} and {@link freshBundle} (CommonJS under verbatimModuleSyntax exports one value). */
export = { readBundleInputs, freshBundle };
