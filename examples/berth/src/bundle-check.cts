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
  /** The script's form: 3, an ASCII function expression its loader compiles as it is (`scripts/bundle.mjs`). */
  format?: number;
  /** `@berth/namespaces/map-file`, resolved when the bundle was made, relative to the bundle directory. */
  mapFile?: string;
  /** When the build started (ms since the epoch); an input changed later makes the bundle stale. */
  startedMs: number;
  /** The files whose mtime tells that an input changed (tsbuildinfo, npm's lock), relative to the bundle directory. */
  stamps: string[];
  /** Every bundled module, relative to the bundle directory. */
  inputs: string[];
}

/** The bundle form this loader runs (`format` of inputs.json). */
const bundleFormat = 3;

/** Reads `inputs.json` of the bundle directory `dir` (a file URL ending in `/`); undefined when there is none. */
function readBundleInputs(dir: URL): BundleInputs | undefined {
  try {
    return JSON.parse(fs.readFileSync(new URL('inputs.json', dir), 'utf8')) as BundleInputs;
  } catch {
    return undefined;
  }
}

/** A bundle that may run: its script and the module its loader maps files with (file URLs). */
interface FreshBundle {
  script: string;
  mapFile: string;
}

/** The bundle in `dir` when it is there, of this loader's form, and fresh; else undefined. */
function freshBundle(dir: URL): FreshBundle | undefined {
  const b = readBundleInputs(dir);
  if (b?.format !== bundleFormat || !b.mapFile) return undefined; // none, or made by an older bundler for another loader
  try {
    for (const stamp of b.stamps) {
      if (fs.statSync(new URL(stamp, dir)).mtimeMs > b.startedMs) return undefined;
    }
  } catch {
    return undefined; // an input is gone: the tree changed since
  }
  return { script: new URL(b.entry, dir).href, mapFile: new URL(b.mapFile, dir).href };
}

/** The bundle's freshness check: {@link readBundleInputs} and {@link freshBundle} (CommonJS under verbatimModuleSyntax exports one value). */
export = { readBundleInputs, freshBundle };
