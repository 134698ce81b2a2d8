/**
 * The `berth` binary's former path (`dist/src/main.js`), kept for callers
 * of it: it loads `main.cjs`, the binary (see there).
 */
import { createRequire } from 'node:module';

createRequire(import.meta.url)('./main.cjs');
