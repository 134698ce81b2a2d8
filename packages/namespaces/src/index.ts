/**
 * @berth/namespaces: berth's native container runtime, a Rust N-API addon.
 *
 * Namespaces, rootfs, cgroups, capabilities, seccomp and exec, done in a
 * cloned child before exec; plus the filesystem syscalls Node lacks, for
 * @berth/cow-fs. Also ships `berth-runtime`, an OCI runtime CLI.
 */
import { binding } from './native.js';
export { runtimeBinaryPath } from './native.js';
export * from './errors.js';
export * from './fs.js';
export * from './cgroups.js';
export * from './runtime.js';
export * from './gunzip.js';
export * from './dir-hint.js';
export * from './exit.js';

/** The version of the loaded native addon. */
export function nativeVersion(): string {
  return binding<{ version(): string }>().version();
}
