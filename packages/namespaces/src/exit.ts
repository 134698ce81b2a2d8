/**
 * Ending a process at once, for a short-lived program (a CLI) whose work is
 * done: Node's own exit resets the signal handlers, joins the V8 platform's
 * and libuv's threads and runs the exit hooks, ~5-8 ms of a `berth run
 * --rm` here.
 */
import { binding } from './native.js';
import { callNative } from './errors.js';

/**
 * Ends the process with `code` by `_exit(2)`: no `exit` event, no exit
 * hooks, no thread joins (the kernel reclaims everything; pending async
 * work is dropped, as with `process.exit`). File descriptors 0-2 are first
 * put back in blocking mode, which Node's exit would restore for a pipe it
 * made non-blocking. With `unlessTerminal`, when one of them is a terminal
 * it returns false and does nothing (Node's exit restores a terminal's
 * modes): then call `process.exit`.
 *
 * Call it only when everything the program started has settled and its
 * output is written (`process.stdout`/`stderr` write synchronously to files,
 * pipes and terminals on Linux).
 *
 * @throws NamespacesInvalidArgumentError when `code` is not an integer from 0 to 255.
 */
export function exitNow(code: number, opts: { unlessTerminal?: boolean } = {}): false {
  return callNative(() => binding<{ processExitNow(code: number, unlessTerminal: boolean): false }>().processExitNow(code, opts.unlessTerminal === true));
}
