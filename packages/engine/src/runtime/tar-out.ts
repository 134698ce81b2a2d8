/**
 * A tar stream of one path of a container's rootfs (`docker cp
 * CONTAINER:SRC -`): entries are named from the path's base name down,
 * as docker's archive does, and never leave the path (the walk uses lstat
 * and does not follow symlinks).
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { encodeTarHeader, tarPadding, TAR_END, TarEntryType, type TarWriteHeader } from '@berth/cow-fs';

async function* entries(host: string, name: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  signal?.throwIfAborted();
  const st = await fs.lstat(host);
  const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
  let h: TarWriteHeader;
  if (st.isDirectory()) h = { ...base, name: `${name}/`, type: TarEntryType.Directory };
  else if (st.isFile()) h = { ...base, type: TarEntryType.File, size: st.size };
  else if (st.isSymbolicLink()) h = { ...base, type: TarEntryType.Symlink, linkname: await fs.readlink(host) };
  else if (st.isFIFO()) h = { ...base, type: TarEntryType.Fifo };
  else if (st.isCharacterDevice() || st.isBlockDevice()) {
    h = { ...base, type: st.isCharacterDevice() ? TarEntryType.CharDevice : TarEntryType.BlockDevice, devmajor: Number(st.rdev >> 8) & 0xfff, devminor: Number(st.rdev & 0xff) };
  } else return; // sockets are not archived
  yield encodeTarHeader(h);
  if (st.isFile() && st.size > 0) {
    let n = 0;
    for await (const chunk of createReadStream(host, { end: Math.max(0, st.size - 1) })) {
      const b = chunk as Buffer;
      const take = Math.min(b.length, st.size - n);
      if (take > 0) yield take === b.length ? b : b.subarray(0, take);
      n += take;
      if (n >= st.size) break;
    }
    // A file that shrank while read is padded with zeros to its header's size.
    if (n < st.size) yield Buffer.alloc(st.size - n);
    yield tarPadding(st.size);
  } else if (st.isDirectory()) {
    for (const child of (await fs.readdir(host)).sort()) yield* entries(path.join(host, child), `${name}/${child}`, signal);
  }
}

/** A tar archive of `host` whose top entry is named `name`. */
export function tarPath(host: string, name: string, opts: { signal?: AbortSignal } = {}): Readable {
  return Readable.from((async function* () {
    yield* entries(host, name, opts.signal);
    yield TAR_END;
  })(), { objectMode: false });
}
