/**
 * Docker's json-file log driver: one JSON object per line,
 * `{"log":"…\n","stream":"stdout","time":"RFC3339Nano"}`, files
 * `<path>`, `<path>.1` … `<path>.<max-file - 1>` when rotating.
 *
 * The writer's file operations (open, append, rotate, close) are
 * synchronous, as dockerd's are in its copier: appends of a line to a local
 * file land in the page cache in microseconds, where each asynchronous call
 * was a trip through the libuv pool and an event-loop wake-up, which a busy
 * machine makes long (a container start paid three before any output).
 */
import fs from 'node:fs/promises';
import { closeSync, fstatSync, openSync, renameSync, writeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { LogNotFoundError } from '../errors.js';
import { parseRfc3339Nano, rfc3339Nano } from '../internal/ids.js';
import type { LogEntry, LogStream, LogWriter, LogWriterOptions, ReadLogsOptions } from '../log.js';
import { readAppendedLines, type TailPosition } from '../internal/tail.js';

/** Docker splits lines longer than this into several entries (daemon/logger: 16K buffer). */
export const maxLogLine = 16 * 1024;

/** Opens a json-file {@link LogWriter} appending to `file`. */
export async function openJsonFileLogWriter(file: string, opts: LogWriterOptions = {}): Promise<JsonFileLogWriter> {
  const fd = openSync(file, 'a', 0o640);
  try {
    return new JsonFileLogWriter(file, fd, fstatSync(fd).size, opts);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** The json-file {@link LogWriter}. Create with {@link openJsonFileLogWriter}. */
export class JsonFileLogWriter implements LogWriter {
  readonly #file: string;
  /** The open log file (O_APPEND), undefined once closed. */
  #fd: number | undefined;
  #size: number;
  readonly #maxSize: number;
  readonly #maxFile: number;
  readonly #partial: Record<LogStream, string> = { stdout: '', stderr: '' };
  readonly #decoders: Record<LogStream, StringDecoder> = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  /** `fd`: `file` opened for appending, now owned by the writer; `size`: its current size. */
  constructor(file: string, fd: number, size: number, opts: LogWriterOptions) {
    this.#file = file;
    this.#fd = fd;
    this.#size = size;
    this.#maxSize = opts.maxSize ?? Infinity;
    this.#maxFile = Math.max(1, opts.maxFile ?? 1);
  }

  async attach(stream: LogStream, source: Readable | AsyncIterable<Uint8Array | string>): Promise<void> {
    for await (const chunk of source as AsyncIterable<Uint8Array | string>) await this.write(stream, chunk);
    await this.#enqueue(() => this.#flushPartial(stream));
  }

  write(stream: LogStream, chunk: Uint8Array | string): Promise<void> {
    const text = typeof chunk === 'string' ? chunk : this.#decoders[stream].write(Buffer.from(chunk));
    return this.#enqueue(async () => {
      let buf = this.#partial[stream] + text;
      let nl: number;
      const lines: string[] = [];
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl + 1));
        buf = buf.slice(nl + 1);
      }
      while (buf.length >= maxLogLine) {
        lines.push(buf.slice(0, maxLogLine));
        buf = buf.slice(maxLogLine);
      }
      this.#partial[stream] = buf;
      for (const l of lines) {
        // Over-long lines are split into 16K entries without newline, like docker.
        for (let i = 0; i < l.length; i += maxLogLine) await this.#append(stream, l.slice(i, i + maxLogLine));
      }
    });
  }

  async #flushPartial(stream: LogStream): Promise<void> {
    const rest = this.#partial[stream] + this.#decoders[stream].end();
    this.#partial[stream] = '';
    if (rest) await this.#append(stream, rest);
  }

  #enqueue(fn: () => Promise<void>): Promise<void> {
    const p = this.#queue.then(() => {
      if (this.#closed && this.#fd === undefined) return;
      return fn();
    });
    this.#queue = p.catch(() => undefined);
    return p;
  }

  async #append(stream: LogStream, log: string): Promise<void> {
    const entry: LogEntry = { log, stream, time: rfc3339Nano() };
    const line = Buffer.from(`${JSON.stringify(entry)}\n`);
    if (this.#size > 0 && this.#size + line.length > this.#maxSize) this.#rotate();
    for (let off = 0; off < line.length;) off += writeSync(this.#fd!, line, off);
    this.#size += line.length;
  }

  #rotate(): void {
    closeSync(this.#fd!);
    this.#fd = undefined;
    if (this.#maxFile > 1) {
      for (let i = this.#maxFile - 1; i >= 1; i--) {
        const from = i === 1 ? this.#file : `${this.#file}.${i - 1}`;
        try {
          renameSync(from, `${this.#file}.${i}`);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
      this.#fd = openSync(this.#file, 'a', 0o640);
    } else {
      this.#fd = openSync(this.#file, 'w', 0o640);
    }
    this.#size = 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return this.#queue;
    this.#closed = true;
    const done = this.#queue.then(async () => {
      await this.#flushPartial('stdout');
      await this.#flushPartial('stderr');
      if (this.#fd !== undefined) closeSync(this.#fd);
      this.#fd = undefined;
    });
    this.#queue = done.catch(() => undefined);
    return done;
  }
}

/** The log files of `file`, oldest first: `file.N` … `file.1`, `file`. */
async function logFiles(file: string): Promise<string[]> {
  const dir = file.slice(0, file.lastIndexOf('/')) || '/';
  const base = file.slice(file.lastIndexOf('/') + 1);
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const rotated = names
    .map((n) => (n.startsWith(`${base}.`) ? Number(n.slice(base.length + 1)) : NaN))
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => b - a)
    .map((n) => `${file}.${n}`);
  return [...rotated, ...(names.includes(base) ? [file] : [])];
}

function parseLine(line: string): LogEntry | undefined {
  if (!line) return undefined;
  try {
    const e = JSON.parse(line) as LogEntry;
    return typeof e.log === 'string' && typeof e.time === 'string' ? e : undefined;
  } catch {
    return undefined; // a torn last line (crash mid-write) is skipped, as docker does
  }
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const t = setTimeout(done, ms);
  function done() { clearTimeout(t); signal?.removeEventListener('abort', done); resolve(); }
  signal?.addEventListener('abort', done, { once: true });
});

/**
 * Reads a json-file log (with its rotated files) as {@link LogEntry}s:
 * `tail` counts from the end of what exists when reading starts, `since` and
 * `until` filter by entry time, `follow` keeps reading (surviving rotation)
 * until `signal` aborts, `until` passes, or `isDone()` says no more can come.
 */
export async function* readJsonFileLog(file: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogEntry> {
  const files = await logFiles(file);
  if (files.length === 0 && !opts.follow) throw new LogNotFoundError(file);
  const streams = new Set(opts.streams ?? ['stdout', 'stderr']);
  const keep = (e: LogEntry) => {
    if (!streams.has(e.stream)) return false;
    const t = parseRfc3339Nano(e.time);
    if (t === undefined) return false;
    if (opts.since !== undefined && t < opts.since) return false;
    if (opts.until !== undefined && t >= opts.until) return false;
    return true;
  };
  // Snapshot what exists; remember where the current file ended so follow continues from there.
  const chunks: LogEntry[][] = [];
  let offset = 0;
  let ino = 0;
  for (const f of files) {
    const data = await fs.readFile(f).catch(() => Buffer.alloc(0));
    let usable = data.lastIndexOf(0x0a) + 1; // only complete lines
    if (f === file) {
      offset = usable;
      ino = (await fs.stat(f).catch(() => undefined))?.ino ?? 0;
    }
    chunks.push(data.subarray(0, usable).toString('utf8').split('\n').map(parseLine).filter((e): e is LogEntry => !!e && keep(e)));
    usable = 0;
  }
  let all = chunks.flat();
  if (opts.tail !== undefined && opts.tail >= 0) all = opts.tail === 0 ? [] : all.slice(-opts.tail);
  for (const e of all) yield e;
  if (!opts.follow) return;

  const pos: TailPosition = { offset, pending: '' };
  for (;;) {
    if (opts.signal?.aborted) return;
    if (opts.until !== undefined && BigInt(Date.now()) * 1_000_000n >= opts.until) return;
    const st = await fs.stat(file).catch(() => undefined);
    if (st && (st.ino !== ino || st.size < pos.offset)) {
      // Rotated or truncated: the rest of the old file was renamed to file.1; finish it there first.
      if (st.ino !== ino && ino !== 0) {
        const old = await fs.open(`${file}.1`, 'r').catch(() => undefined);
        if (old) {
          const ost = await old.stat();
          if (ost.ino === ino && ost.size > pos.offset) {
            const buf = Buffer.alloc(ost.size - pos.offset);
            await old.read(buf, 0, buf.length, pos.offset);
            for (const e of (pos.pending + buf.toString('utf8')).split('\n').map(parseLine)) if (e && keep(e)) yield e;
          }
          await old.close();
        }
      }
      pos.pending = '';
      pos.offset = 0;
      ino = st.ino;
    }
    let grew = false;
    if (st && st.size > pos.offset) {
      const { lines, bytesRead } = await readAppendedLines(file, st.size, pos);
      for (const e of lines.map(parseLine)) if (e && keep(e)) yield e;
      grew = bytesRead > 0;
    }
    if (!grew) {
      if (opts.isDone && (await opts.isDone())) {
        // One more look after done: the writer may have flushed between our read and the check.
        const final = await fs.stat(file).catch(() => undefined);
        if (!final || final.size <= pos.offset) return;
        continue;
      }
      await sleep(100, opts.signal);
    }
  }
}
