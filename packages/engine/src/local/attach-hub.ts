/**
 * Attaching to a container's stdio (Docker's attach, conmon's attach
 * socket). The process that supervises a container owns an
 * {@link AttachHub}: the container's output is copied to every attached
 * client besides the json-file log, clients' input goes to the container's
 * stdin (a pipe, or the pty master with a TTY), and a resize reaches the pty.
 *
 * berth has no daemon, so a client in another process reaches the hub
 * through a unix socket the supervisor listens on,
 * `<runRoot>/attach/<id prefix>.sock`. On it, the client sends one JSON
 * line (`{"stdin":…,"stdout":…,"stderr":…}` or `{"resize":{"h":…,"w":…}}`),
 * then both sides send frames: a type byte, a big-endian uint32 length and
 * the payload ({@link FrameType}). The server greets with `hello` once the
 * client is attached and ends with `exit` (the container's exit as JSON).
 *
 * The detach keys are read where the user's input enters (the
 * {@link ContainerAttachment}'s stdin), as Docker's escape proxy does.
 */
import { mkdirSync } from 'node:fs';
import { removeFileSync } from '../internal/atomic.js';
import net from 'node:net';
import path from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import type { AttachEnd, ConsoleSize, ContainerAttachment, ContainerAttachOptions, ContainerExit } from '../engine.js';

import { ContainerNotRunningError, InvalidArgumentError, NoTtyError } from '../errors.js';

/** Docker's default detach sequence, `ctrl-p,ctrl-q`. */
export const defaultDetachKeys = 'ctrl-p,ctrl-q';

/** The frame types of the attach socket. */
export const FrameType = {
  Stdin: 0,
  Stdout: 1,
  Stderr: 2,
  StdinEnd: 3,
  Resize: 4,
  Exit: 5,
  Ok: 6,
  Error: 7,
  Hello: 8,
} as const;

/**
 * Parses Docker's detach keys (`ctrl-p,ctrl-q`; `ctrl-a`…`ctrl-z`,
 * `ctrl-@`, `ctrl-[`, `ctrl-\`, `ctrl-]`, `ctrl-^`, `ctrl-_`, or single
 * characters) into bytes; `''` is no sequence. Bad keys are
 * `ERR_ENGINE_INVALID_ARGUMENT`.
 */
export function parseDetachKeys(keys: string): Buffer {
  if (keys === '') return Buffer.alloc(0);
  const out: number[] = [];
  for (const k of keys.split(',')) {
    const lower = k.toLowerCase();
    if (k.length === 1) out.push(k.charCodeAt(0));
    else if (lower.startsWith('ctrl-') && k.length === 6) {
      const c = lower.charCodeAt(5);
      if (c >= 0x61 && c <= 0x7a) out.push(c - 0x60);
      else {
        const i = '@[\\]^_'.indexOf(k[5]!);
        if (i < 0) throw new InvalidArgumentError('detach keys', keys, `unknown key ${JSON.stringify(k)}`);
        out.push(i === 0 ? 0 : 27 + i - 1);
      }
    } else throw new InvalidArgumentError('detach keys', keys, `unknown key ${JSON.stringify(k)}`);
  }
  return Buffer.from(out);
}

/**
 * Docker's escape proxy: returns a function that passes input through,
 * holding back a partial detach sequence (flushed when the next byte breaks
 * it) and calling `onDetach` when the whole sequence was read.
 */
export function detachScanner(keys: Buffer, onDetach: () => void): (chunk: Buffer) => Buffer {
  let held = 0;
  let done = false;
  return (chunk) => {
    if (done) return Buffer.alloc(0);
    if (keys.length === 0) return chunk;
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === keys[held]) {
        held++;
        if (held === keys.length) {
          done = true;
          onDetach();
          return Buffer.from(out);
        }
        continue;
      }
      for (let i = 0; i < held; i++) out.push(keys[i]!);
      held = 0;
      if (byte === keys[0]) {
        held = 1;
        if (keys.length === 1) {
          done = true;
          onDetach();
          return Buffer.from(out);
        }
      } else out.push(byte);
    }
    return Buffer.from(out);
  };
}

/** One attach-socket frame. */
export function frame(type: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(5);
  h[0] = type;
  h.writeUInt32BE(p.length, 1);
  return Buffer.concat([h, p]);
}

/** Splits a byte stream into frames. */
export function frameReader(onFrame: (type: number, payload: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1);
      if (buf.length < 5 + len) break;
      const type = buf[0]!;
      const payload = buf.subarray(5, 5 + len);
      buf = buf.subarray(5 + len);
      onFrame(type, payload);
    }
  };
}

/** The attach socket of a container under `runRoot` (short enough for `sun_path`). */
export function attachSocketPath(runRoot: string, id: string): string {
  return path.join(runRoot, 'attach', `${id.slice(0, 24)}.sock`);
}

/** What an attachment needs from where the container's stdio is. */
interface AttachmentLink {
  /** Sends input to the container. */
  input(chunk: Buffer): void;
  /** The client's stdin ended. */
  inputEnd(): void;
  resize(size: ConsoleSize): Promise<void>;
  /** The attachment ended on the client's side (close, detach). */
  closed(): void;
}

/** The attachment plus the hooks its source drives. */
export interface AttachmentParts {
  attachment: ContainerAttachment;
  /** Delivers output of a stream (dropped when not attached). */
  deliver(stream: 'stdout' | 'stderr', chunk: Buffer): void;
  /** Ends the attachment. */
  finish(end: AttachEnd): void;
  /** Buffers deliveries until {@link AttachmentParts.release} (while logs are replayed). */
  hold(): void;
  release(): void;
}

/** Builds a {@link ContainerAttachment} over a link (the hub in this process, or a socket to it). */
export function makeAttachment(id: string, tty: boolean, openStdin: boolean, opts: ContainerAttachOptions, link: AttachmentLink): AttachmentParts {
  const wantOut = opts.stdout !== false;
  const wantErr = opts.stderr !== false && !tty;
  const stdout = wantOut ? new PassThrough() : undefined;
  const stderr = wantErr ? new PassThrough() : undefined;
  let resolveEnded!: (e: AttachEnd) => void;
  const ended = new Promise<AttachEnd>((r) => { resolveEnded = r; });
  let over = false;
  let held: Array<['stdout' | 'stderr', Buffer]> | undefined;
  const finish = (end: AttachEnd) => {
    if (over) return;
    over = true;
    if (held) for (const [s, c] of held) (s === 'stdout' ? stdout : stderr)?.write(c);
    held = undefined;
    stdout?.end();
    stderr?.end();
    stdin?.destroy();
    resolveEnded(end);
  };
  let stdin: Writable | undefined;
  if (opts.stdin && openStdin) {
    const scan = detachScanner(parseDetachKeys(opts.detachKeys ?? defaultDetachKeys), () => {
      queueMicrotask(() => {
        link.closed();
        finish({ reason: 'detached' });
      });
    });
    stdin = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (!over) {
          const pass = scan(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
          if (pass.length) link.input(pass);
        }
        cb();
      },
      final(cb) {
        if (!over) link.inputEnd();
        cb();
      },
    });
    stdin.on('error', () => undefined);
  }
  const attachment: ContainerAttachment = {
    id, tty, stdin, stdout: stdout as Readable | undefined, stderr: stderr as Readable | undefined, ended,
    resize: (size) => link.resize(size),
    close() {
      if (over) return;
      link.closed();
      finish({ reason: 'closed' });
    },
  };
  return {
    attachment,
    deliver(stream, chunk) {
      if (over) return;
      if (held) { held.push([stream, chunk]); return; }
      (stream === 'stdout' ? stdout : stderr)?.write(chunk);
    },
    finish,
    hold() { held ??= []; },
    release() {
      const h = held;
      held = undefined;
      if (h) for (const [s, c] of h) (s === 'stdout' ? stdout : stderr)?.write(c);
    },
  };
}

/** A client of a hub. */
interface HubClient {
  deliver(stream: 'stdout' | 'stderr', chunk: Buffer): void;
  finish(end: AttachEnd): void;
}

/** Where the hub sends input and resizes, once the container exists. */
export interface HubTarget {
  /** The container's stdin (pipe) or pty master; absent without `OpenStdin` (and a TTY is written only with it). */
  stdin?: Writable;
  /** Resizes the pty (TTY only). */
  resize?: (rows: number, cols: number) => void;
}

/** How long end() waits for attached clients of other processes to take their exit frame (ms). */
const SOCKET_DRAIN_MS = 2000;

/**
 * The supervisor side: fans a container's output out to attached clients
 * and their input in. Clients may attach before the container runs
 * (Docker's attach before start); their input waits until {@link bind}.
 */
export class AttachHub {
  readonly id: string;
  readonly tty: boolean;
  readonly openStdin: boolean;
  readonly stdinOnce: boolean;
  readonly #clients = new Set<HubClient>();
  #target: HubTarget | undefined;
  #queued: Buffer[] = [];
  #stdinClosed = false;
  #server: net.Server | undefined;
  /** Connections of other processes' clients, until they close (end() waits for them: see there). */
  readonly #sockets = new Set<net.Socket>();
  #socketPath: string | undefined;
  #ended: AttachEnd | undefined;
  #firstAttach!: () => void;
  /** Resolves when the first client attaches. */
  readonly firstAttach: Promise<void>;

  constructor(id: string, config: { Tty: boolean; OpenStdin: boolean; StdinOnce: boolean }) {
    this.id = id;
    this.tty = config.Tty;
    this.openStdin = config.OpenStdin;
    this.stdinOnce = config.StdinOnce;
    this.firstAttach = new Promise((r) => { this.#firstAttach = r; });
  }

  /** Connects the hub to the started container's stdio. */
  bind(target: HubTarget): void {
    this.#target = target;
    for (const c of this.#queued) target.stdin?.write(c);
    this.#queued = [];
    if (this.#stdinClosed) this.#closeStdin();
  }

  /** Copies output to every client. */
  output(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    for (const c of this.#clients) c.deliver(stream, chunk);
  }

  #input(chunk: Buffer): void {
    if (this.#stdinClosed) return;
    if (this.#target) this.#target.stdin?.write(chunk);
    else this.#queued.push(chunk);
  }

  #inputEnd(): void {
    // StdinOnce (run -i): the first attached stdin to end closes the container's. A pty is never closed (that hangs the session up).
    if (!this.stdinOnce || this.tty || this.#stdinClosed) return;
    this.#stdinClosed = true;
    if (this.#target) this.#closeStdin();
  }

  #closeStdin(): void {
    if (!this.tty) this.#target?.stdin?.end();
  }

  /** Resizes the pty; `ERR_ENGINE_NO_TTY` without one. */
  resize(size: ConsoleSize): void {
    if (!this.tty) throw new NoTtyError(this.id);
    if (!this.#target?.resize) throw new ContainerNotRunningError(this.id, 'its pty is not open yet');
    this.#target.resize(size.h, size.w);
  }

  /** Attaches a client in this process. */
  attachLocal(opts: ContainerAttachOptions = {}): AttachmentParts {
    if (this.#ended) throw new ContainerNotRunningError(this.id, 'it has exited');
    let client: HubClient;
    const parts = makeAttachment(this.id, this.tty, this.openStdin, opts, {
      input: (c) => this.#input(c),
      inputEnd: () => this.#inputEnd(),
      resize: async (size) => this.resize(size),
      closed: () => { this.#clients.delete(client); },
    });
    client = { deliver: parts.deliver, finish: parts.finish };
    if (opts.stream !== false) {
      this.#clients.add(client);
      this.#firstAttach();
    }
    return parts;
  }

  /** Serves clients of other processes on a unix socket. */
  async listen(socketPath: string): Promise<void> {
    // A mkdir and an unlink of local paths: synchronously, not two trips through the libuv pool.
    mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
    removeFileSync(socketPath);
    const server = net.createServer({ allowHalfOpen: true }, (sock) => this.#serve(sock));
    this.#server = server;
    this.#socketPath = socketPath;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    server.unref(); // the container's own handles keep the supervisor alive, not this socket
  }

  #serve(sock: net.Socket): void {
    sock.on('error', () => undefined);
    this.#sockets.add(sock);
    sock.once('close', () => { this.#sockets.delete(sock); });
    let header = Buffer.alloc(0);
    let frames: ((c: Buffer) => void) | undefined;
    const send = (type: number, payload?: Buffer | string) => { if (!sock.destroyed) sock.write(frame(type, payload)); };
    sock.on('data', (chunk: Buffer) => {
      if (frames) return frames(chunk);
      header = Buffer.concat([header, chunk]);
      const nl = header.indexOf(10);
      if (nl < 0) return;
      let h: { stdin?: boolean; stdout?: boolean; stderr?: boolean; stream?: boolean; resize?: ConsoleSize };
      try {
        h = JSON.parse(header.subarray(0, nl).toString('utf8')) as typeof h;
      } catch {
        sock.destroy();
        return;
      }
      const rest = header.subarray(nl + 1);
      if (h.resize) {
        try {
          this.resize(h.resize);
          send(FrameType.Ok);
        } catch (e) {
          const err = e as { code?: string; message?: string };
          send(FrameType.Error, JSON.stringify({ code: err.code, message: err.message }));
        }
        sock.end();
        return;
      }
      if (this.#ended) {
        send(FrameType.Exit, JSON.stringify(this.#ended.exit ?? null));
        sock.end();
        return;
      }
      const parts = this.attachLocal({ stdin: h.stdin, stdout: h.stdout, stderr: h.stderr, stream: h.stream, detachKeys: '' });
      const a = parts.attachment;
      a.stdout?.on('data', (c: Buffer) => send(FrameType.Stdout, c));
      a.stderr?.on('data', (c: Buffer) => send(FrameType.Stderr, c));
      void a.ended.then(async (end) => {
        await Promise.all([a.stdout, a.stderr].map((s) => (s && !s.readableEnded ? new Promise((r) => s.once('end', r)) : undefined)));
        if (end.reason === 'exited') send(FrameType.Exit, JSON.stringify(end.exit ?? null));
        sock.end();
      });
      frames = frameReader((type, payload) => {
        if (type === FrameType.Stdin) a.stdin?.write(payload);
        else if (type === FrameType.StdinEnd) a.stdin?.end();
        else if (type === FrameType.Resize) {
          try { this.resize(JSON.parse(payload.toString('utf8')) as ConsoleSize); } catch { /* a client's bad resize is not the session's end */ }
        }
      });
      sock.on('end', () => a.close());
      sock.on('close', () => a.close());
      send(FrameType.Hello, JSON.stringify({ tty: this.tty }));
      if (rest.length) frames(rest);
    });
  }

  /** Ends every attachment (`exited` with the exit, or `closed`) and stops serving. */
  async end(exit?: ContainerExit): Promise<void> {
    this.#ended = exit ? { reason: 'exited', exit } : { reason: 'closed' };
    for (const c of this.#clients) c.finish(this.#ended);
    this.#clients.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server) {
      // Stop accepting; connections still open end by themselves after their exit frame.
      server.close();
      removeFileSync(this.#socketPath!);
    }
    // Until those frames are out: a supervisor exits (process.exit) right after this, which would
    // drop a queued socket write, and the client would see a closed stream instead of the exit code.
    // A client that never reads its end is not waited for past SOCKET_DRAIN_MS.
    if (this.#sockets.size > 0) {
      const open = [...this.#sockets];
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(open.map((sock) => (sock.closed ? undefined : new Promise((resolve) => sock.once('close', resolve))))),
        new Promise((resolve) => { timer = setTimeout(resolve, SOCKET_DRAIN_MS); }),
      ]);
      clearTimeout(timer);
      for (const sock of open) sock.destroy();
    }
  }
}

async function connect(socketPath: string, id: string, why: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path: socketPath, allowHalfOpen: true });
    sock.once('connect', () => { sock.off('error', onError); resolve(sock); });
    const onError = (e: NodeJS.ErrnoException) => {
      reject(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? new ContainerNotRunningError(id, why) : e);
    };
    sock.once('error', onError);
  });
}

/** Attaches through the supervisor's socket (the container runs in another process). */
export async function connectAttach(socketPath: string, id: string, config: { Tty: boolean; OpenStdin: boolean }, opts: ContainerAttachOptions = {}): Promise<AttachmentParts> {
  const sock = await connect(socketPath, id, 'its supervisor is not listening for attach');
  sock.on('error', () => undefined);
  sock.once('end', () => sock.destroy());
  const send = (type: number, payload?: Buffer | string) => { if (!sock.destroyed && sock.writable) sock.write(frame(type, payload)); };
  const parts = makeAttachment(id, config.Tty, config.OpenStdin, opts, {
    input: (c) => send(FrameType.Stdin, c),
    inputEnd: () => send(FrameType.StdinEnd),
    resize: async (size) => send(FrameType.Resize, JSON.stringify(size)),
    closed: () => sock.destroy(),
  });
  let exit: ContainerExit | undefined;
  const hello = new Promise<void>((resolve, reject) => {
    const read = frameReader((type, payload) => {
      if (type === FrameType.Hello) resolve();
      else if (type === FrameType.Stdout || type === FrameType.Stderr) parts.deliver(type === FrameType.Stdout ? 'stdout' : 'stderr', Buffer.from(payload));
      else if (type === FrameType.Exit) {
        exit = (JSON.parse(payload.toString('utf8')) as ContainerExit | null) ?? undefined;
        resolve();
      }
    });
    sock.on('data', read);
    sock.once('close', () => {
      parts.finish(exit ? { reason: 'exited', exit } : { reason: 'closed' });
      reject(new ContainerNotRunningError(id, 'its supervisor closed the attach socket'));
    });
  });
  hello.catch(() => undefined);
  sock.write(`${JSON.stringify({ stdin: !!opts.stdin, stdout: opts.stdout !== false, stderr: opts.stderr !== false, stream: opts.stream !== false })}\n`);
  await hello;
  return parts;
}

/** Resizes through the supervisor's socket. */
export async function resizeThroughSocket(socketPath: string, id: string, size: ConsoleSize): Promise<void> {
  const sock = await connect(socketPath, id, 'its supervisor is not listening for attach');
  await new Promise<void>((resolve, reject) => {
    const read = frameReader((type, payload) => {
      if (type === FrameType.Ok) resolve();
      else if (type === FrameType.Error) {
        const e = JSON.parse(payload.toString('utf8')) as { code?: string; message?: string };
        reject(e.code === 'ERR_ENGINE_NO_TTY' ? new NoTtyError(id) : new ContainerNotRunningError(id, e.message ?? 'resize failed'));
      }
    });
    sock.on('data', read);
    sock.once('error', reject);
    sock.once('close', () => reject(new ContainerNotRunningError(id, 'its supervisor closed the attach socket')));
    sock.write(`${JSON.stringify({ resize: size })}\n`);
  });
  sock.destroy();
}
