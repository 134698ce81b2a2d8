/**
 * Loads the N-API addon once. @napi-rs/cli generates no `.d.ts` for a crate
 * built without the napi crate, so each typed module of this package declares
 * the raw functions it uses as a narrow interface and reads them through
 * {@link binding}; those interfaces must follow `native/addon/src`.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const packageRoot = path.resolve(import.meta.dirname, '..', '..');

const loaded = require(path.join(packageRoot, 'native', 'berth-namespaces.linux-x64-gnu.node')) as Record<string, unknown>;

/** The addon's exports, typed by the caller's interface `T`. */
export function binding<T>(): T {
  return loaded as T;
}

/** The path of the `berth-runtime` binary built from the same code. */
export const runtimeBinaryPath: string = path.join(packageRoot, 'native', 'bin', 'berth-runtime');
