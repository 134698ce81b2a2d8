import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { mapFile, mapFileLatin1, SystemCallError } from '@berth/namespaces';

const require = createRequire(import.meta.url);

function tempDir(t: ExecutionContext): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-map-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('mapFileLatin1 reads a file as one-byte text and mapFile as bytes; an empty file maps to "" and an empty Buffer', (t) => {
  const d = tempDir(t);
  const ascii = path.join(d, 'a.js');
  fs.writeFileSync(ascii, '(function () { return "h\\u00e9"; })\n');
  t.is(mapFileLatin1(ascii), fs.readFileSync(ascii, 'latin1'));
  const high = path.join(d, 'high');
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  fs.writeFileSync(high, bytes);
  t.is(mapFileLatin1(high), bytes.toString('latin1'), 'every byte is one code unit (0x80-0xff too)');
  t.deepEqual(mapFile(high), bytes);
  const empty = path.join(d, 'empty');
  fs.writeFileSync(empty, '');
  t.is(mapFileLatin1(empty), '');
  t.is(mapFile(empty).length, 0);
});

test('the mapping is private: a write through the Buffer leaves the file as it was, and a file replaced after mapping keeps the mapped bytes', (t) => {
  const d = tempDir(t);
  const f = path.join(d, 'f');
  fs.writeFileSync(f, 'original');
  const b = mapFile(f);
  const s = mapFileLatin1(f);
  b.write('CHANGED!');
  t.is(fs.readFileSync(f, 'utf8'), 'original');
  t.is(b.toString(), 'CHANGED!', 'the write is seen in this process');
  fs.writeFileSync(`${f}.new`, 'replaced');
  fs.renameSync(`${f}.new`, f);
  t.is(s, 'original', 'the old file stays mapped');
  t.is(mapFileLatin1(f), 'replaced');
});

test('the string is not a copy: bytes written into the file in place after mapping show through its untouched pages (a read copy keeps the old ones)', (t) => {
  const d = tempDir(t);
  const f = path.join(d, 'big.js');
  fs.writeFileSync(f, Buffer.alloc(4 << 20, 'x'));
  const mapped = mapFileLatin1(f);
  const copy = fs.readFileSync(f, 'latin1');
  const fd = fs.openSync(f, 'r+');
  fs.writeSync(fd, 'y', 3 << 20);
  fs.closeSync(fd);
  t.is(mapped[3 << 20], 'y', 'the untouched page is the file\'s own');
  t.is(copy[3 << 20], 'x');
});

test('errors are typed: a missing file is ENOENT from open, a directory EINVAL (not a regular file)', (t) => {
  const d = tempDir(t);
  const missing = t.throws(() => mapFile(path.join(d, 'missing')));
  t.true(missing instanceof SystemCallError);
  t.like(missing, { code: 'ERR_NS_SYSCALL', errno: 2, syscall: 'open', path: path.join(d, 'missing') });
  const dir = t.throws(() => mapFileLatin1(d));
  t.like(dir, { code: 'ERR_NS_SYSCALL', errno: 22, syscall: 'mmap' });
});

test('the CommonJS entry point @berth/namespaces/map-file maps the same, with the addon\'s coded errors', (t) => {
  const d = tempDir(t);
  const f = path.join(d, 'f');
  fs.writeFileSync(f, 'cjs');
  const cjs = require('@berth/namespaces/map-file') as { mapFile(p: string): Buffer; mapFileLatin1(p: string): string };
  t.is(cjs.mapFileLatin1(f), 'cjs');
  t.deepEqual(cjs.mapFile(f), Buffer.from('cjs'));
  t.like(t.throws(() => cjs.mapFile(path.join(d, 'missing'))), { code: 'ERR_NS_SYSCALL', errno: 2 });
});
