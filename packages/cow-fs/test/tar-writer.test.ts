/**
 * encodeTarHeaderInto writes a header in place exactly as encodeTarHeader
 * encodes it, and declines (returns 0, target untouched) whenever PAX or GNU
 * records would be needed.
 */
import test from 'ava';
import { encodeTarHeader, encodeTarHeaderInto, TarEntryType, type TarWriteHeader } from '@berth/cow-fs';

const fits: TarWriteHeader[] = [
  { name: 'd/f1', type: TarEntryType.File, mode: 0o644, uid: 0, gid: 0, size: 2, mtime: 1_700_000_000 },
  { name: 'dir/', type: TarEntryType.Directory, mode: 0o4755, uid: 1000, gid: 1000, mtime: { sec: 5, nsec: 999 } },
  { name: 'a/.wh.b', type: TarEntryType.File, mode: 0, size: 0, mtime: 0 },
  { name: 'l', type: TarEntryType.Symlink, mode: 0o777, linkname: '../x/y', mtime: 1 },
  { name: 'h', type: TarEntryType.Link, mode: 0o600, linkname: 'd/f1' },
  { name: 'dev/null', type: TarEntryType.CharDevice, mode: 0o666, devmajor: 1, devminor: 3 },
  { name: `${'p'.repeat(120)}/${'n'.repeat(90)}`, type: TarEntryType.File, mode: 0o644, size: 1 },
  { name: 'x', type: TarEntryType.Fifo, mode: 0o600, xattrs: new Map() },
];

const declined: TarWriteHeader[] = [
  { name: 'n'.repeat(101), type: TarEntryType.File, mode: 0o644 },
  { name: 'ü', type: TarEntryType.File, mode: 0o644 },
  { name: 'f', type: TarEntryType.File, mode: 0o644, xattrs: new Map([['user.a', Buffer.from('b')]]) },
  { name: 'f', type: TarEntryType.File, mode: 0o644, xattrs: { 'security.capability': Buffer.from([1]) } },
  { name: 'l', type: TarEntryType.Symlink, mode: 0o777, linkname: 't'.repeat(101) },
  { name: 'f', type: TarEntryType.File, mode: 0o644, uid: 0o10000000 },
  { name: 'f', type: TarEntryType.File, mode: 0o644, size: 0o100000000000 },
];

test('a header that fits one block is written in place, byte for byte as encodeTarHeader makes it', (t) => {
  for (const h of fits) {
    const target = Buffer.alloc(2048, 0xaa);
    t.is(encodeTarHeaderInto(h, target, 1024), 512, h.name);
    t.true(target.subarray(1024, 1536).equals(encodeTarHeader(h)), h.name);
    t.true(target.subarray(0, 1024).every((b) => b === 0xaa) && target.subarray(1536).every((b) => b === 0xaa), h.name);
  }
});

test('a header that needs PAX or GNU records, or does not fit the target, is declined and the target is untouched', (t) => {
  for (const h of [...declined, fits[0]!]) {
    const target = Buffer.alloc(1024, 0xaa);
    const at = h === fits[0] ? 600 : 0;
    t.is(encodeTarHeaderInto(h, target, at), 0, h.name);
    t.true(target.every((b) => b === 0xaa), h.name);
  }
});
