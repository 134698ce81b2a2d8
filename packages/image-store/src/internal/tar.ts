/**
 * A small streaming tar reader and writer (POSIX ustar with pax and GNU long
 * names on read; ustar plus pax for long names on write), enough for OCI
 * layout tars and Docker archives. Entry bodies stream; nothing is buffered
 * beyond one chunk.
 */
import { throwIfAborted } from '@berth/oci-spec';
import { StoreInvalidArchiveError } from '../errors.js';

/** One tar entry header. */
export interface TarHeader {
  /** Path inside the archive (no leading `./`). */
  name: string;
  /** Type: `file`, `dir`, `symlink`, `link` or `other`. */
  type: 'file' | 'dir' | 'symlink' | 'link' | 'other';
  /** Size of the body in bytes. */
  size: number;
  /** Target of a link. */
  linkname: string;
  /** Permission bits. */
  mode: number;
  /** Modification time (seconds). */
  mtime: number;
}

/** An entry with its body, which must be consumed (or is skipped) before the next. */
export interface TarEntry extends TarHeader {
  /** The body bytes, streamed. */
  body: AsyncIterable<Buffer>;
}

class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) { this.done = true; break; }
      const c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
    }
    return this.buf.length >= n;
  }

  async exact(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill(n))) return undefined;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.fill(1))) throw new StoreInvalidArchiveError('tar', 'truncated entry body');
      const c = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.buf = this.buf.subarray(c.length);
      left -= c.length;
      yield c;
    }
  }
}

function str(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? s.length : z).toString('utf8');
}

function num(b: Buffer, off: number, len: number): number {
  const f = b.subarray(off, off + len);
  if (f[0]! & 0x80) {
    // GNU base-256.
    let v = 0;
    for (let i = 1; i < f.length; i++) v = v * 256 + f[i]!;
    return v;
  }
  const s = str(b, off, len).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(body.subarray(i, sp).toString('ascii'), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const rec = body.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

async function readAll(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

/** Reads tar entries from a byte stream; checks `signal` per entry. */
export async function* readTar(source: AsyncIterable<Uint8Array>, signal?: AbortSignal): AsyncGenerator<TarEntry> {
  const r = new ByteReader(source[Symbol.asyncIterator]());
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    throwIfAborted(signal, 'tar read');
    const h = await r.exact(512);
    if (!h) return; // EOF without the two zero blocks: accepted, as GNU tar does
    if (h.every((x) => x === 0)) return;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (sum !== num(h, 148, 8)) throw new StoreInvalidArchiveError('tar', 'header checksum mismatch');
    const flag = String.fromCharCode(h[156]!);
    const size = num(h, 124, 12);
    const padded = Math.ceil(size / 512) * 512;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      const body = await readAll(r.take(size));
      await readAll(r.take(padded - size));
      if (flag === 'x') pax = { ...pax, ...parsePax(body) };
      if (flag === 'L') longName = str(body, 0, body.length);
      if (flag === 'K') longLink = str(body, 0, body.length);
      continue;
    }
    const prefix = h.subarray(257, 263).toString('latin1').startsWith('ustar') ? str(h, 345, 155) : '';
    let name = pax.path ?? longName ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
    name = name.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
    const realSize = pax.size !== undefined ? Number(pax.size) : size;
    const type = flag === '0' || flag === '\0' || flag === '7' ? 'file' : flag === '5' ? 'dir' : flag === '2' ? 'symlink' : flag === '1' ? 'link' : 'other';
    const entry: TarHeader = {
      name, type, size: realSize, linkname: pax.linkpath ?? longLink ?? str(h, 157, 100),
      mode: num(h, 100, 8), mtime: pax.mtime !== undefined ? Number(pax.mtime) : num(h, 136, 12),
    };
    pax = {};
    longName = undefined;
    longLink = undefined;
    const bodySize = type === 'dir' || type === 'symlink' || type === 'link' ? 0 : realSize;
    const padTotal = Math.ceil(bodySize / 512) * 512;
    let got = 0;
    const body: AsyncIterable<Buffer> = {
      async *[Symbol.asyncIterator]() {
        for await (const c of r.take(bodySize - got)) {
          got += c.length;
          yield c;
        }
      },
    };
    yield { ...entry, body };
    // Skip whatever the consumer did not read.
    for await (const c of r.take(bodySize - got)) got += c.length;
    await readAll(r.take(padTotal - bodySize));
  }
}

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0') + '\0';
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function header(name: string, size: number, flag: string, mode: number, mtime: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write(octal(mode, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(mtime, 12), 136);
  h.write('        ', 148);
  h.write(flag, 156);
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

/** The bytes of a header (with a pax header first when the name is long or the size huge). */
export function tarHeader(name: string, size: number, type: 'file' | 'dir' = 'file', mode?: number, mtime = 0): Buffer {
  const flag = type === 'dir' ? '5' : '0';
  const m = mode ?? (type === 'dir' ? 0o755 : 0o644);
  const n = type === 'dir' && !name.endsWith('/') ? `${name}/` : name;
  const records: string[] = [];
  if (Buffer.byteLength(n) > 100) records.push(paxRecord('path', n));
  if (size > 0o77777777777) records.push(paxRecord('size', String(size)));
  const main = header(Buffer.byteLength(n) > 100 ? n.slice(0, 99) : n, size > 0o77777777777 ? 0 : size, flag, m, mtime);
  if (records.length === 0) return main;
  const body = Buffer.from(records.join(''));
  return Buffer.concat([header('PaxHeader', body.length, 'x', 0o644, mtime), pad(body), main]);
}

function pad(b: Buffer): Buffer {
  const rest = (512 - (b.length % 512)) % 512;
  return rest === 0 ? b : Buffer.concat([b, Buffer.alloc(rest)]);
}

/** The zero padding after a body of `size` bytes. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

/** The two zero blocks that end an archive. */
export const tarEnd: Buffer = Buffer.alloc(1024);

/** A file for {@link writeTar}: bytes, or a size plus a stream factory. */
export type TarSource =
  | { name: string; type: 'dir'; mode?: number }
  | { name: string; type?: 'file'; data: Uint8Array; mode?: number }
  | { name: string; type?: 'file'; size: number; stream: () => Promise<AsyncIterable<Uint8Array>>; mode?: number };

/** Yields a tar archive of `entries`, streaming file bodies in order. */
export async function* writeTar(entries: AsyncIterable<TarSource> | Iterable<TarSource>, signal?: AbortSignal): AsyncGenerator<Buffer> {
  for await (const e of entries) {
    throwIfAborted(signal, 'tar write');
    if (e.type === 'dir') {
      yield tarHeader(e.name, 0, 'dir', e.mode);
      continue;
    }
    if ('data' in e) {
      yield tarHeader(e.name, e.data.length, 'file', e.mode);
      yield Buffer.from(e.data);
      yield tarPadding(e.data.length);
      continue;
    }
    yield tarHeader(e.name, e.size, 'file', e.mode);
    let n = 0;
    for await (const c of await e.stream()) {
      n += c.length;
      if (n > e.size) throw new StoreInvalidArchiveError('tar', `${e.name} is longer than ${e.size} bytes`);
      yield Buffer.isBuffer(c) ? c : Buffer.from(c);
    }
    if (n !== e.size) throw new StoreInvalidArchiveError('tar', `${e.name} is ${n} bytes, not ${e.size}`);
    yield tarPadding(e.size);
  }
  yield tarEnd;
}
