/** Container logs: entries, writer and reader contracts (Docker's json-file driver). */
import type { Readable } from 'node:stream';

/** The stream a log line came from. */
export type LogStream = 'stdout' | 'stderr';

/** One json-file line: `{"log":"hello\n","stream":"stdout","time":"2024-01-01T00:00:00.123456789Z"}`. */
export interface LogEntry {
  /** The text including its trailing `\n`; a partial line (at EOF) has none. */
  log: string;
  stream: LogStream;
  /** RFC3339Nano, UTC. */
  time: string;
}

/** Options of a json-file log writer (docker's `--log-opt`). */
export interface LogWriterOptions {
  /** Rotate when the file would exceed this many bytes (`max-size`); unlimited when absent. */
  maxSize?: number;
  /** Number of files to keep, including the current one (`max-file`, default 1). */
  maxFile?: number;
}

/** Writes container output to a log; `attach` copies a stream, splitting lines. */
export interface LogWriter {
  /** Copies `source` into the log as `stream` until it ends; partial lines are flushed at the end. */
  attach(stream: LogStream, source: Readable | AsyncIterable<Uint8Array | string>): Promise<void>;
  /** Writes one raw chunk for `stream`, buffering an unfinished line. */
  write(stream: LogStream, chunk: Uint8Array | string): Promise<void>;
  /** Flushes partial lines and closes the file. Idempotent. */
  close(): Promise<void>;
}

/** Options of a log reader (`docker logs`). */
export interface ReadLogsOptions {
  /** Keep reading new entries as they are written. */
  follow?: boolean;
  /** Only entries at or after this time (nanoseconds since the epoch). */
  since?: bigint;
  /** Only entries before this time (nanoseconds since the epoch). */
  until?: bigint;
  /** Only the last n entries present when reading starts; `undefined` or negative is all. */
  tail?: number;
  /** Streams to include (default both). */
  streams?: LogStream[];
  /** Ends a `follow` read. */
  signal?: AbortSignal;
  /** With `follow`, resolves to true when no more output can come (the container exited). */
  isDone?: () => Promise<boolean> | boolean;
}
