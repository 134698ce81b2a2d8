/**
 * A streaming tar parser over Buffers: push chunks in, get headers and file
 * data out synchronously, without copying file data. It folds GNU long names
 * ('L'/'K'), PAX local and global records (path, linkpath, size, uid, gid,
 * mtime, `SCHILY.xattr.*`), old GNU sparse headers ('S' with extension blocks)
 * and PAX sparse formats 0.0, 0.1 and 1.0 into one {@link TarHeader}; sparse
 * data arrives with its file position.
 */
import { LayerCorruptError, LayerUnsupportedEntryError } from '../errors.js';
import { checksum, readNumber, readString, TarEntryType, type SparseRegion, type TarHeader, type Timespec } from './tar-header.js';

/** What the parser calls, in order: `entry`, `data`* (file entries only), `end`. */
export interface TarSink {
  /** A new entry; for files its data follows through `data`. */
  entry(header: TarHeader): void;
  /** File bytes to be written at `position` in the file. */
  data(chunk: Buffer, position: number): void;
  /** The current entry is complete. */
  end(header: TarHeader): void;
}

const enum State { Header, Meta, SparseExt, SparseMap, Data, Skip, Eof }
const enum MetaKind { LongName, LongLink, Pax, GlobalPax }

type PaxRecords = Array<[string, Buffer]>;

/** Parses `len key=value\n` PAX records; values stay binary (xattrs may be). */
export function parsePaxRecords(buf: Buffer): PaxRecords {
  const out: PaxRecords = [];
  let off = 0;
  while (off < buf.length) {
    if (buf[off] === 0) break;
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) throw new LayerCorruptError('pax record without length');
    const len = Number(buf.toString('ascii', off, sp));
    if (!Number.isInteger(len) || len <= sp - off + 1 || off + len > buf.length || buf[off + len - 1] !== 0x0a) {
      throw new LayerCorruptError('bad pax record length');
    }
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq >= off + len) throw new LayerCorruptError('pax record without "="');
    out.push([buf.toString('utf8', sp + 1, eq), Buffer.from(buf.subarray(eq + 1, off + len - 1))]);
    off += len;
  }
  return out;
}

function parseTime(v: string): Timespec {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(v);
  if (m === null) throw new LayerCorruptError(`bad pax time ${JSON.stringify(v)}`);
  const sec = Number(m[2]) * (m[1] === '-' ? -1 : 1);
  const nsec = Number(((m[3] ?? '') + '000000000').slice(0, 9));
  return { sec, nsec };
}

function parseDecimal(v: string, what: string): number {
  if (!/^\d+$/.test(v)) throw new LayerCorruptError(`bad pax ${what} ${JSON.stringify(v)}`);
  return Number(v);
}

/** A push parser for tar streams; see the module comment. */
export class TarParser {
  private state: State = State.Header;
  private acc: Buffer = Buffer.alloc(512);
  private accLen = 0;
  private need = 512;
  private remaining = 0;
  private skipThen: State = State.Header;
  private metaKind: MetaKind = MetaKind.Pax;
  private longName: string | undefined;
  private longLink: string | undefined;
  private pax: PaxRecords | undefined;
  private globalPax: PaxRecords = [];
  private cur: TarHeader | undefined;
  private curEnds = false;
  private pendingHeader: TarHeader | undefined;
  private dataSize = 0;
  private position = 0;
  private segs: SparseRegion[] | undefined;
  private segIdx = 0;
  private segLeft = 0;
  private sparseMapBuf: Buffer[] = [];
  /** Bytes of the archive consumed so far. */
  offset = 0;

  constructor(private readonly sink: TarSink) {}

  /** Is the end-of-archive marker seen? */
  get done(): boolean {
    return this.state === State.Eof;
  }

  /** Feeds the next chunk of the uncompressed archive. */
  write(chunk: Buffer): void {
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      switch (this.state) {
        case State.Eof:
          this.offset += n - off;
          return;
        case State.Data: {
          const take = Math.min(this.remaining, n - off);
          this.emitData(chunk.subarray(off, off + take));
          off += take;
          this.offset += take;
          this.remaining -= take;
          if (this.remaining === 0) this.endData();
          break;
        }
        case State.Skip: {
          const take = Math.min(this.remaining, n - off);
          off += take;
          this.offset += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = this.skipThen;
          break;
        }
        default: {
          // Collect `need` bytes into acc; headers usually come whole and skip the copy.
          if (this.accLen === 0 && n - off >= this.need) {
            const block = chunk.subarray(off, off + this.need);
            off += this.need;
            this.offset += this.need;
            this.collected(block);
          } else {
            const take = Math.min(this.need - this.accLen, n - off);
            chunk.copy(this.acc, this.accLen, off, off + take);
            this.accLen += take;
            off += take;
            this.offset += take;
            if (this.accLen === this.need) {
              this.accLen = 0;
              this.collected(this.acc.subarray(0, this.need));
            }
          }
        }
      }
    }
  }

  /** Ends the archive; throws when it stopped inside an entry. */
  finish(): void {
    if (this.state === State.Eof) return;
    if (this.state === State.Header && this.accLen === 0 && this.cur === undefined && this.longName === undefined && this.pax === undefined) {
      // Archives without the two zero blocks are common enough (some writers omit them).
      this.state = State.Eof;
      return;
    }
    throw new LayerCorruptError('unexpected end of archive', { details: { offset: this.offset, entry: this.cur?.name ?? this.pendingHeader?.name } });
  }

  private expect(state: State, need: number): void {
    this.state = state;
    this.need = need;
    this.accLen = 0;
    if (this.acc.length < need) this.acc = Buffer.alloc(Math.max(need, this.acc.length * 2));
  }

  private skip(n: number, then: State = State.Header): void {
    if (n === 0) {
      this.state = then;
      if (then === State.Header) this.expect(State.Header, 512);
      return;
    }
    this.remaining = n;
    this.skipThen = then;
    this.state = State.Skip;
    if (then === State.Header) this.need = 512;
  }

  private collected(block: Buffer): void {
    switch (this.state) {
      case State.Header: return this.header(block);
      case State.Meta: return this.meta(block);
      case State.SparseExt: return this.sparseExt(block);
      case State.SparseMap: return this.sparseMap(block);
    }
  }

  private header(b: Buffer): void {
    let zero = true;
    for (let i = 0; i < 512; i++) if (b[i] !== 0) { zero = false; break; }
    if (zero) {
      this.state = State.Eof;
      return;
    }
    const stored = readNumber(b, 148, 8);
    const sum = checksum(b);
    if (stored !== sum.unsigned && stored !== sum.signed) {
      throw new LayerCorruptError('bad header checksum', { details: { offset: this.offset - 512, name: readString(b, 0, 100) } });
    }
    const flag = b[156] === 0 ? '0' : String.fromCharCode(b[156]!);
    const size = readNumber(b, 124, 12);
    const padded = Math.ceil(size / 512) * 512;
    switch (flag) {
      case 'L': case 'K': case 'x': case 'g':
        if (size > 16 * 1024 * 1024) throw new LayerCorruptError('metadata record too large', { details: { size } });
        this.metaKind = flag === 'L' ? MetaKind.LongName : flag === 'K' ? MetaKind.LongLink : flag === 'x' ? MetaKind.Pax : MetaKind.GlobalPax;
        this.dataSize = size;
        if (size === 0) { this.meta(Buffer.alloc(0)); return; }
        this.expect(State.Meta, padded);
        return;
      case 'V': case 'N':
        // Volume labels and old GNU rename records carry nothing to restore.
        this.skip(padded);
        return;
    }
    const magic = b.toString('latin1', 257, 263);
    const gnu = magic === 'ustar ' ;
    let name = readString(b, 0, 100);
    if (!gnu && magic === 'ustar\0') {
      const prefix = readString(b, 345, 155);
      if (prefix !== '') name = prefix + '/' + name;
    }
    const h: TarHeader = {
      name,
      type: TarEntryType.File,
      mode: readNumber(b, 100, 8) & 0o7777,
      uid: readNumber(b, 108, 8),
      gid: readNumber(b, 116, 8),
      uname: readString(b, 265, 32),
      gname: readString(b, 297, 32),
      size,
      mtime: { sec: readNumber(b, 136, 12), nsec: 0 },
      linkname: readString(b, 157, 100),
      devmajor: readNumber(b, 329, 8),
      devminor: readNumber(b, 337, 8),
      xattrs: new Map(),
    };
    switch (flag) {
      case '0': case '7': break;
      case '1': h.type = TarEntryType.Link; break;
      case '2': h.type = TarEntryType.Symlink; break;
      case '3': h.type = TarEntryType.CharDevice; break;
      case '4': h.type = TarEntryType.BlockDevice; break;
      case '5': case 'D': h.type = TarEntryType.Directory; break;
      case '6': h.type = TarEntryType.Fifo; break;
      case 'S': break;
      default: {
        this.applyMeta(h);
        throw new LayerUnsupportedEntryError(h.name, flag);
      }
    }
    if (flag === 'S') {
      // Old GNU sparse: four map entries at 386, isextended at 482, realsize at 483.
      const segs: SparseRegion[] = [];
      for (let i = 0; i < 4; i++) {
        const o = 386 + i * 24;
        if (b[o] === 0) break;
        segs.push({ offset: readNumber(b, o, 12), size: readNumber(b, o + 12, 12) });
      }
      h.sparse = segs;
      h.size = readNumber(b, 483, 12);
      this.dataSize = size;
      this.applyMeta(h);
      if (b[482] !== 0) {
        this.pendingHeader = h;
        this.expect(State.SparseExt, 512);
        return;
      }
      this.startEntry(h);
      return;
    }
    this.dataSize = size;
    this.applyMeta(h);
    if (h.type !== TarEntryType.File) {
      this.sink.entry(h);
      this.sink.end(h);
      this.skip(Math.ceil(this.dataSize / 512) * 512);
      return;
    }
    if (h.sparse !== undefined && h.sparse.length === 0 && this.sparse10) {
      this.sparse10 = false;
      this.pendingHeader = h;
      this.sparseMapBuf = [];
      this.expect(State.SparseMap, 512);
      return;
    }
    this.startEntry(h);
  }

  private sparse10 = false;

  private applyMeta(h: TarHeader): void {
    if (this.longName !== undefined) h.name = this.longName;
    if (this.longLink !== undefined) h.linkname = this.longLink;
    this.longName = undefined;
    this.longLink = undefined;
    const recs = this.pax === undefined ? this.globalPax : [...this.globalPax, ...this.pax];
    this.pax = undefined;
    if (recs.length === 0) return;
    let sparseName: string | undefined;
    let realSize: number | undefined;
    let major: string | undefined;
    const segs: SparseRegion[] = [];
    let pendingOffset: number | undefined;
    let sawMap = false;
    for (const [k, vb] of recs) {
      if (k.startsWith('SCHILY.xattr.')) {
        h.xattrs.set(k.slice('SCHILY.xattr.'.length), vb);
        continue;
      }
      const v = vb.toString('utf8');
      switch (k) {
        case 'path': h.name = v; break;
        case 'linkpath': h.linkname = v; break;
        case 'size': this.dataSize = parseDecimal(v, 'size'); h.size = this.dataSize; break;
        case 'uid': h.uid = parseDecimal(v, 'uid'); break;
        case 'gid': h.gid = parseDecimal(v, 'gid'); break;
        case 'uname': h.uname = v; break;
        case 'gname': h.gname = v; break;
        case 'mtime': h.mtime = parseTime(v); break;
        case 'atime': h.atime = parseTime(v); break;
        case 'GNU.sparse.name': sparseName = v; break;
        case 'GNU.sparse.realsize': case 'GNU.sparse.size': realSize = parseDecimal(v, k); break;
        case 'GNU.sparse.major': major = v; break;
        case 'GNU.sparse.offset': pendingOffset = parseDecimal(v, k); sawMap = true; break;
        case 'GNU.sparse.numbytes':
          if (pendingOffset === undefined) throw new LayerCorruptError('sparse numbytes without offset');
          segs.push({ offset: pendingOffset, size: parseDecimal(v, k) });
          pendingOffset = undefined;
          break;
        case 'GNU.sparse.map': {
          sawMap = true;
          const nums = v === '' ? [] : v.split(',').map((x) => parseDecimal(x, k));
          if (nums.length % 2 !== 0) throw new LayerCorruptError('odd sparse map');
          for (let i = 0; i < nums.length; i += 2) segs.push({ offset: nums[i]!, size: nums[i + 1]! });
          break;
        }
        default:
          if (k.startsWith('LIBARCHIVE.xattr.')) {
            h.xattrs.set(decodeURIComponent(k.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(v, 'base64'));
          }
      }
    }
    if (sparseName !== undefined) h.name = sparseName;
    if (major === '1') {
      h.sparse = [];
      this.sparse10 = true;
      if (realSize !== undefined) h.size = realSize;
    } else if (sawMap) {
      h.sparse = segs;
      if (realSize !== undefined) h.size = realSize;
    }
  }

  private meta(block: Buffer): void {
    const data = block.subarray(0, this.dataSize);
    switch (this.metaKind) {
      case MetaKind.LongName: this.longName = readString(data, 0, data.length); break;
      case MetaKind.LongLink: this.longLink = readString(data, 0, data.length); break;
      case MetaKind.Pax: this.pax = [...(this.pax ?? []), ...parsePaxRecords(data)]; break;
      case MetaKind.GlobalPax: this.globalPax = [...this.globalPax, ...parsePaxRecords(data)]; break;
    }
    this.expect(State.Header, 512);
  }

  private sparseExt(b: Buffer): void {
    const h = this.pendingHeader!;
    for (let i = 0; i < 21; i++) {
      const o = i * 24;
      if (b[o] === 0) break;
      h.sparse!.push({ offset: readNumber(b, o, 12), size: readNumber(b, o + 12, 12) });
    }
    if (b[504] !== 0) {
      this.expect(State.SparseExt, 512);
      return;
    }
    this.pendingHeader = undefined;
    this.startEntry(h);
  }

  private sparseMap(b: Buffer): void {
    // PAX sparse 1.0: the map is decimal lines at the start of the data, padded to a block.
    this.sparseMapBuf.push(Buffer.from(b));
    this.dataSize -= 512;
    if (this.dataSize < 0) throw new LayerCorruptError('sparse map beyond entry data');
    const text = Buffer.concat(this.sparseMapBuf).toString('ascii');
    const lines = text.split('\n');
    lines.pop();
    if (lines.length === 0) { this.expect(State.SparseMap, 512); return; }
    const count = parseDecimal(lines[0]!, 'sparse map count');
    if (lines.length < 1 + count * 2) {
      if (this.sparseMapBuf.length > 4096) throw new LayerCorruptError('sparse map too large');
      this.expect(State.SparseMap, 512);
      return;
    }
    const h = this.pendingHeader!;
    h.sparse = [];
    for (let i = 0; i < count; i++) h.sparse.push({ offset: parseDecimal(lines[1 + 2 * i]!, 'sparse offset'), size: parseDecimal(lines[2 + 2 * i]!, 'sparse size') });
    this.pendingHeader = undefined;
    this.startEntry(h);
  }

  private startEntry(h: TarHeader): void {
    if (h.sparse !== undefined) {
      let total = 0;
      let end = 0;
      for (const s of h.sparse) {
        if (s.offset < end) throw new LayerCorruptError('sparse map out of order', { details: { entry: h.name } });
        total += s.size;
        end = s.offset + s.size;
      }
      if (total !== this.dataSize || end > h.size) throw new LayerCorruptError('sparse map does not match the data', { details: { entry: h.name } });
      this.segs = h.sparse;
      this.segIdx = 0;
      this.segLeft = h.sparse[0]?.size ?? 0;
      this.position = h.sparse[0]?.offset ?? 0;
    } else {
      this.segs = undefined;
      this.position = 0;
      h.size = this.dataSize;
    }
    this.cur = h;
    this.sink.entry(h);
    if (this.dataSize === 0) {
      this.endData();
      return;
    }
    this.remaining = this.dataSize;
    this.state = State.Data;
  }

  private emitData(chunk: Buffer): void {
    if (this.segs === undefined) {
      this.sink.data(chunk, this.position);
      this.position += chunk.length;
      return;
    }
    let off = 0;
    while (off < chunk.length) {
      while (this.segLeft === 0) {
        this.segIdx++;
        const s = this.segs[this.segIdx]!;
        this.segLeft = s.size;
        this.position = s.offset;
      }
      const take = Math.min(this.segLeft, chunk.length - off);
      this.sink.data(chunk.subarray(off, off + take), this.position);
      this.position += take;
      this.segLeft -= take;
      off += take;
    }
  }

  private endData(): void {
    const h = this.cur!;
    this.cur = undefined;
    this.sink.end(h);
    const pad = (512 - (this.dataSize % 512)) % 512;
    this.skip(pad);
  }
}
