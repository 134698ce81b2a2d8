#!/usr/bin/env node
/**
 * The `berth` binary: a daemonless, docker-compatible container engine CLI.
 *
 * It runs the bundle (`dist/bundle/`, `npm run build:bundle`) with a V8
 * code cache when there is one no package was rebuilt after
 * (`bundle-check.ts`, `bundle-run.ts`), else the modules themselves
 * (`./bin.js`); `BERTH_NO_BUNDLE=1` forces the modules.
 */
import { freshBundle } from './bundle-check.js';

const bundle = process.env.BERTH_NO_BUNDLE ? undefined : freshBundle(new URL('../bundle/', import.meta.url));
if (bundle === undefined) {
  await import('./bin.js');
} else {
  const { runBundled } = await import('./bundle-run.js');
  process.exitCode = await runBundled(bundle, process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
}
