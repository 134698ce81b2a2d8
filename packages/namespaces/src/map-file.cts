/**
 * `@berth/namespaces/map-file`: a whole file mapped into memory as a
 * JavaScript value, without reading or copying it: pages come from the page
 * cache as they are touched, and are unmapped when the value is collected.
 * This entry point is CommonJS and loads nothing but the addon, for start-up
 * code that must not pay for the ES module loader: the `berth` binary
 * compiles its bundle from a mapped script and code cache
 * (examples/berth/src/bundle-run.cts). The main entry point exports the same
 * two functions.
 *
 * The mapping is private: writes through a Buffer stay in this process. A
 * file truncated while mapped makes the lost pages fault (SIGBUS) when
 * touched, so map only files that are replaced (written elsewhere, then
 * renamed) or removed, never rewritten in place.
 *
 * Errors are the addon's own `Error`s with a `code`: `ERR_NS_SYSCALL` with
 * `errno`, `syscall` (`open`, `fstat`, `mmap`: EINVAL for a file that is not
 * regular) and `path`; `ERR_NS_INVALID_ARGUMENT`. The main entry point throws
 * them as its typed errors (`NamespacesSyscallError`…).
 */
import path = require('node:path');

interface MapBinding {
  fsMapFile(file: string, latin1: boolean): string | Buffer;
}

let addon: MapBinding | undefined;
// The same file as the main entry point's loader (src/native.ts): one require cache entry, one dlopen.
const native = (): MapBinding => (addon ??= require(path.join(__dirname, '..', '..', 'native', 'berth-namespaces.linux-x64-gnu.node')) as MapBinding);

/** The file's bytes as a Buffer over a private mapping of it (an empty file: an empty Buffer). */
function mapFile(file: string): Buffer {
  return native().fsMapFile(file, false) as Buffer;
}

/**
 * The file's bytes as a one-byte string, each byte one UTF-16 code unit
 * (latin1; ASCII text reads as itself), backed by a private mapping of it:
 * V8 keeps it as an external string, with no copy on its heap.
 */
function mapFileLatin1(file: string): string {
  return native().fsMapFile(file, true) as string;
}

/** The mapping functions (CommonJS under verbatimModuleSyntax exports one value). */
export = { mapFile, mapFileLatin1 };
