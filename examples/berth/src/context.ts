/** What every command gets: output streams, the environment, and the engine (opened on first use). */
import type { Writable, Readable } from 'node:stream';
import type { LocalEngine } from '@berth/engine';

/** The CLI's runtime context. */
export interface CliContext {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
  /** Opens the engine with the global `--root`/`--run-root` on first call. */
  engine(): Promise<LocalEngine>;
}

/** Writes text to a stream and waits until it is flushed. */
export function write(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (e) => (e ? reject(e) : resolve()));
  });
}
