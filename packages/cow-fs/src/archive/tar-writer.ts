/**
 * Tar header encoding: ustar headers, with PAX records (POSIX pax) or GNU
 * 'L'/'K' records for what does not fit. Output is deterministic: PAX
 * records are sorted by key and their own headers carry fixed fields.
 */
import { checksum, writeNumber, type TarEntryType, type Timespec } from './tar-header.js';

/** The fields the writer encodes; `xattrs` become `SCHILY.xattr.*` PAX records. */
export interface TarWriteHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Data bytes that follow (files only). */
  size?: number;
  mtime?: Timespec | number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: ReadonlyMap<string, Buffer> | Record<string, Buffer>;
}

/** How names that do not fit ustar are encoded. */
export interface TarWriteOptions {
  /** 'pax' (default) or 'gnu' (GNU 'L'/'K' long name records). */
  longNames?: 'pax' | 'gnu';
  /** Write the sub-second part of mtime as a PAX record (default false: seconds only). */
  paxMtime?: boolean;
  /** Extra PAX records appended verbatim (tests use it to craft archives). */
  extraPax?: Array<[string, string | Buffer]>;
}

const typeFlags: Record<TarEntryType, string> = {
  file: '0', link: '1', symlink: '2', char: '3', block: '4', directory: '5', fifo: '6',
};

/** The 1024 zero bytes that end an archive. */
export const TAR_END = Buffer.alloc(1024);

/** Zero padding after `size` data bytes, up to the next 512-byte block. */
export function tarPadding(size: number): Buffer {
  const pad = (512 - (size % 512)) % 512;
  return pad === 0 ? EMPTY : Buffer.alloc(pad);
}
const EMPTY = Buffer.alloc(0);

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

interface RawFields {
  mode: number; uid: number; gid: number; size: number; mtime: number; linkname: string; uname: string; gname: string; devmajor: number; devminor: number; prefix: string;
}

function rawHeader(name: string, flag: string, fields: RawFields, gnu = false): Buffer {
  const b = Buffer.alloc(512);
  writeRawHeader(b, 0, name, flag, fields, gnu);
  return b;
}

/** Writes one ustar header block at `off` of `b`, whose 512 bytes there must be zero. */
function writeRawHeader(b: Buffer, off: number, name: string, flag: string, fields: RawFields, gnu = false): void {
  b.write(name, off, 100, 'utf8');
  writeNumber(b, off + 100, 8, fields.mode);
  writeNumber(b, off + 108, 8, fields.uid);
  writeNumber(b, off + 116, 8, fields.gid);
  writeNumber(b, off + 124, 12, fields.size);
  writeNumber(b, off + 136, 12, fields.mtime);
  b.write(flag, off + 156, 1, 'latin1');
  if (fields.linkname !== '') b.write(fields.linkname, off + 157, 100, 'utf8');
  if (gnu) b.write('ustar  \0', off + 257, 8, 'latin1');
  else b.write('ustar\u000000', off + 257, 8, 'latin1');
  if (fields.uname !== '') b.write(fields.uname, off + 265, 32, 'utf8');
  if (fields.gname !== '') b.write(fields.gname, off + 297, 32, 'utf8');
  writeNumber(b, off + 329, 8, fields.devmajor);
  writeNumber(b, off + 337, 8, fields.devminor);
  if (fields.prefix !== '') b.write(fields.prefix, off + 345, 155, 'utf8');
  writeChecksum(b, off);
}

/** Writes the checksum field of a 512-byte header block (at `off`) in place. */
export function writeChecksum(b: Buffer, off = 0): void {
  const sum = checksum(b, off).unsigned;
  b.write(sum.toString(8).padStart(6, '0'), off + 148, 6, 'ascii');
  b[off + 154] = 0;
  b[off + 155] = 0x20;
}

const ascii = (s: string): boolean => /^[\x01-\x7f]*$/.test(s);

function splitUstar(name: string): { prefix: string; name: string } | undefined {
  if (!ascii(name)) return undefined;
  if (name.length <= 100) return { prefix: '', name };
  if (name.length > 256) return undefined;
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    if (i <= 155 && name.length - i - 1 <= 100 && name.length - i - 1 > 0) return { prefix: name.slice(0, i), name: name.slice(i + 1) };
  }
  return undefined;
}

/**
 * Writes one entry's header into `target` at `offset` when it fits a single
 * ustar block (no PAX or GNU records needed: short ASCII names and link
 * targets, small ids and sizes, no xattrs), and returns 512; returns 0, with
 * `target` untouched, when it does not (use {@link encodeTarHeader}). The
 * block written is byte for byte the one {@link encodeTarHeader} makes, so
 * the output does not depend on which of the two was used. Lets a producer
 * write headers straight into its output chunk, without a buffer per entry.
 */
export function encodeTarHeaderInto(h: TarWriteHeader, target: Buffer, offset: number): number {
  if (offset < 0 || offset + 512 > target.length) return 0;
  if (h.xattrs !== undefined && (h.xattrs instanceof Map ? h.xattrs.size > 0 : Object.keys(h.xattrs).length > 0)) return 0;
  const size = h.size ?? 0;
  const uid = h.uid ?? 0;
  const gid = h.gid ?? 0;
  const linkname = h.linkname ?? '';
  if (size > 0o77777777777 || uid > 0o7777777 || gid > 0o7777777) return 0;
  if (linkname.length > 100 || !ascii(linkname)) return 0;
  const split = splitUstar(h.name);
  if (split === undefined) return 0;
  const mt = typeof h.mtime === 'number' ? h.mtime : (h.mtime?.sec ?? 0);
  target.fill(0, offset, offset + 512);
  writeRawHeader(target, offset, split.name, typeFlags[h.type], {
    mode: h.mode & 0o7777, uid, gid, size, mtime: Math.max(0, mt), linkname,
    uname: h.uname ?? '', gname: h.gname ?? '', devmajor: h.devmajor ?? 0, devminor: h.devminor ?? 0, prefix: split.prefix,
  });
  return 512;
}

/**
 * Encodes one entry's header blocks (PAX or GNU records first, then the
 * ustar header). File data and {@link tarPadding} follow separately.
 */
export function encodeTarHeader(h: TarWriteHeader, opts: TarWriteOptions = {}): Buffer {
  const out: Buffer[] = [];
  const pax: Array<[string, Buffer]> = [];
  const gnu = opts.longNames === 'gnu';
  const size = h.size ?? 0;
  const mt = typeof h.mtime === 'number' ? { sec: h.mtime, nsec: 0 } : (h.mtime ?? { sec: 0, nsec: 0 });
  let uid = h.uid ?? 0;
  let gid = h.gid ?? 0;
  let linkname = h.linkname ?? '';
  let split = splitUstar(h.name);
  if (split === undefined) {
    if (gnu) out.push(gnuLong('L', h.name));
    else pax.push(['path', Buffer.from(h.name)]);
    split = { prefix: '', name: Buffer.from(h.name).subarray(0, 99).toString('latin1').replace(/[^\x20-\x7e]/g, '_') };
  }
  if (Buffer.byteLength(linkname) > 100 || !ascii(linkname)) {
    if (gnu) out.push(gnuLong('K', linkname));
    else pax.push(['linkpath', Buffer.from(linkname)]);
    linkname = linkname.slice(0, 99).replace(/[^\x20-\x7e]/g, '_');
  }
  if (uid > 0o7777777) { pax.push(['uid', Buffer.from(String(uid))]); uid = 0; }
  if (gid > 0o7777777) { pax.push(['gid', Buffer.from(String(gid))]); gid = 0; }
  if (size > 0o77777777777) pax.push(['size', Buffer.from(String(size))]);
  if (opts.paxMtime === true && mt.nsec !== 0) pax.push(['mtime', Buffer.from(`${mt.sec}.${String(mt.nsec).padStart(9, '0')}`)]);
  const xa = h.xattrs === undefined ? [] : h.xattrs instanceof Map ? [...h.xattrs] : Object.entries(h.xattrs);
  for (const [k, v] of xa) pax.push(['SCHILY.xattr.' + k, v]);
  for (const [k, v] of opts.extraPax ?? []) pax.push([k, typeof v === 'string' ? Buffer.from(v) : v]);
  if (pax.length > 0) {
    pax.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const body = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)));
    out.push(rawHeader('././@PaxHeader', 'x', { mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0, linkname: '', uname: '', gname: '', devmajor: 0, devminor: 0, prefix: '' }));
    out.push(body, tarPadding(body.length));
  }
  out.push(rawHeader(split.name, typeFlags[h.type], {
    mode: h.mode & 0o7777, uid, gid, size: size > 0o77777777777 ? 0 : size, mtime: Math.max(0, mt.sec), linkname,
    uname: h.uname ?? '', gname: h.gname ?? '', devmajor: h.devmajor ?? 0, devminor: h.devminor ?? 0, prefix: split.prefix,
  }, gnu));
  return out.length === 1 ? out[0]! : Buffer.concat(out);
}

function gnuLong(flag: 'L' | 'K', value: string): Buffer {
  const body = Buffer.concat([Buffer.from(value), Buffer.alloc(1)]);
  const h = rawHeader('././@LongLink', flag, { mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0, linkname: '', uname: '', gname: '', devmajor: 0, devminor: 0, prefix: '' }, true);
  return Buffer.concat([h, body, tarPadding(body.length)]);
}
