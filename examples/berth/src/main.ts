#!/usr/bin/env node
/**
 * The `berth` binary: a daemonless, docker-compatible container engine CLI.
 *
 * It runs the bundle (`dist/bundle/`, `npm run build:bundle`) when there is
 * one newer than every module it was made from, else the modules
 * themselves (`./bin.js`); `BERTH_NO_BUNDLE=1` forces the modules.
 */
import { freshBundle } from './bundle-check.js';

await import(process.env.BERTH_NO_BUNDLE ? './bin.js' : (freshBundle(new URL('../bundle/', import.meta.url)) ?? './bin.js'));
