/**
 * Tar header fields shared by the reader and the writer: the entry types, the
 * decoded header, and numeric field codecs (octal and GNU base-256).
 * References: POSIX pax(1) "ustar Interchange Format" and "pax Header Block",
 * GNU tar manual appendix "Tar Internals" (old GNU sparse, 'L'/'K' long names).
 */

/** Tar entry types after long-name, PAX and sparse records are folded in. */
export const TarEntryType = {
  File: 'file',
  Link: 'link',
  Symlink: 'symlink',
  CharDevice: 'char',
  BlockDevice: 'block',
  Directory: 'directory',
  Fifo: 'fifo',
} as const;

/** One of the values of {@link TarEntryType}. */
export type TarEntryType = (typeof TarEntryType)[keyof typeof TarEntryType];

/** A point in time with nanoseconds, as tar PAX records and utimensat carry it. */
export interface Timespec {
  sec: number;
  nsec: number;
}

/** One region of a sparse file: `size` bytes of data at file `offset`. */
export interface SparseRegion {
  offset: number;
  size: number;
}

/** One decoded tar entry header. */
export interface TarHeader {
  /** The entry name, with GNU/PAX long names applied; not yet sanitised. */
  name: string;
  type: TarEntryType;
  /** Permission and special bits (07777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** The size of the file once restored (the real size for sparse files). */
  size: number;
  mtime: Timespec;
  atime?: Timespec;
  /** The link target for symlinks and hardlinks. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from PAX `SCHILY.xattr.*` records. */
  xattrs: Map<string, Buffer>;
  /** The data regions of a sparse file, in order; undefined for dense files. */
  sparse?: SparseRegion[];
}

/** Reads a numeric field: octal text, or GNU base-256 when the high bit of the first byte is set. */
export function readNumber(buf: Buffer, off: number, len: number): number {
  if (buf[off]! & 0x80) {
    // GNU base-256: big-endian two's complement; the first byte's high bit is the marker.
    let v = buf[off]! & 0x7f;
    const neg = (v & 0x40) !== 0;
    if (neg) v = v - 0x80;
    for (let i = 1; i < len; i++) v = v * 256 + buf[off + i]!;
    return v;
  }
  let v = 0;
  let i = off;
  const end = off + len;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c < 0x30 || c > 0x37) break;
    v = v * 8 + (c - 0x30);
  }
  return v;
}

/** Reads a NUL-terminated string field. */
export function readString(buf: Buffer, off: number, len: number): string {
  let end = off;
  const max = off + len;
  while (end < max && buf[end] !== 0) end++;
  return buf.toString('utf8', off, end);
}

/** Writes `value` as a NUL-terminated octal field, or base-256 when it does not fit. */
export function writeNumber(buf: Buffer, off: number, len: number, value: number): void {
  const s = Math.trunc(value).toString(8);
  if (value >= 0 && s.length <= len - 1) {
    buf.write(s.padStart(len - 1, '0'), off, 'ascii');
    buf[off + len - 1] = 0;
    return;
  }
  let v = BigInt(Math.trunc(value));
  for (let i = len - 1; i > 0; i--) {
    buf[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[off] = 0x80;
}

/** The header checksum: the byte sum with the checksum field counted as spaces. */
export function checksum(block: Buffer, off = 0): { unsigned: number; signed: number } {
  let u = 0;
  let s = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[off + i]!;
    u += b;
    s += b > 127 ? b - 256 : b;
  }
  return { unsigned: u, signed: s };
}
