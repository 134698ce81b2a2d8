/**
 * Loads the N-API addon. @napi-rs/cli generates no `.d.ts` for a crate built
 * without the napi crate, so {@link NativeBinding} is written by hand and must
 * follow `native/addon/src`.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

/** The raw functions the addon exports. Wrapped by the typed modules of this package. */
export interface NativeBinding {
  version(): string;
}

const require = createRequire(import.meta.url);
const packageRoot = path.resolve(import.meta.dirname, '..', '..');

/** The addon, loaded once. */
export const native: NativeBinding = require(path.join(packageRoot, 'native', 'berth-namespaces.linux-x64-gnu.node')) as NativeBinding;

/** The path of the `berth-runtime` binary built from the same code. */
export const runtimeBinaryPath: string = path.join(packageRoot, 'native', 'bin', 'berth-runtime');
