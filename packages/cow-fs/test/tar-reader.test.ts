/** The streaming tar parser on crafted archives (pure: no filesystem). */
import test from 'ava';
import { encodeTarHeader, parsePaxRecords, TarParser, type TarHeader } from '@berth/cow-fs';
import { makeTar } from './helpers/tar.js';

interface Seen { h: TarHeader; data: Array<[number, string]> }

function parse(buf: Buffer, chunk = buf.length): Seen[] {
  const out: Seen[] = [];
  const p = new TarParser({
    entry: (h) => { out.push({ h, data: [] }); },
    data: (c, pos) => { out[out.length - 1]!.data.push([pos, c.toString('latin1')]); },
    end: () => undefined,
  });
  for (let i = 0; i < buf.length; i += chunk) p.write(buf.subarray(i, i + chunk));
  p.finish();
  return out;
}

test('entries parse the same whatever the chunking (1, 7, 511, 513 bytes)', (t) => {
  const tar = makeTar([
    { name: 'a/', type: 'directory' }, { name: 'a/file', data: 'x'.repeat(1000) },
    { name: `${'long/'.repeat(40)}name`, data: 'deep', xattrs: { 'user.k': Buffer.from([0, 10, 61, 255]) } },
    { name: 'sym', type: 'symlink', linkname: 't'.repeat(150) },
  ]);
  const whole = parse(tar).map((s) => [s.h.name, s.h.type, s.h.size, s.h.linkname, [...s.h.xattrs].map(([k, v]) => [k, v.toString('hex')]), s.data.map((d) => d[1]).join('')]);
  for (const c of [1, 7, 511, 513]) {
    t.deepEqual(parse(tar, c).map((s) => [s.h.name, s.h.type, s.h.size, s.h.linkname, [...s.h.xattrs].map(([k, v]) => [k, v.toString('hex')]), s.data.map((d) => d[1]).join('')]), whole);
  }
  t.is(whole[2]![0], `${'long/'.repeat(40)}name`);
  t.deepEqual(whole[2]![4], [['user.k', '000a3dff']]);
});

test('GNU long names and links, base-256 numbers, PAX global headers', (t) => {
  const gnu = makeTar([{ name: 'n'.repeat(300), type: 'link', linkname: 'l'.repeat(200), options: { longNames: 'gnu' } }]);
  const [e] = parse(gnu);
  t.is(e!.h.name, 'n'.repeat(300));
  t.is(e!.h.linkname, 'l'.repeat(200));
  const big = encodeTarHeader({ name: 'big-ids', type: 'file', mode: 0o644, uid: 0o7777777 + 5, gid: 3_000_000 });
  t.is(parse(Buffer.concat([big, Buffer.alloc(1024)]))[0]!.h.uid, 0o7777777 + 5);
  const header = Buffer.from(encodeTarHeader({ name: 'b256', type: 'file', mode: 0o644 }));
  header.fill(0, 108, 116);
  header[108] = 0x80;
  header.writeUInt32BE(4_000_000_000, 112);
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  t.is(parse(Buffer.concat([header, Buffer.alloc(1024)]))[0]!.h.uid, 4_000_000_000);
  const body = Buffer.from('15 uid=1000000\n');
  const g = encodeTarHeader({ name: 'g', type: 'file', mode: 0o644, size: body.length });
  g.write('g', 156, 'latin1');
  g.fill(0x20, 148, 156);
  let s2 = 0;
  for (const b of g) s2 += b;
  g.write(s2.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  const withGlobal = Buffer.concat([g, body, Buffer.alloc(512 - body.length), makeTar([{ name: 'x' }, { name: 'y' }])]);
  t.deepEqual(parse(withGlobal).map((s) => s.h.uid), [1_000_000, 1_000_000]);
});

test('PAX records keep binary values and reject bad lengths', (t) => {
  const recs = parsePaxRecords(Buffer.concat([Buffer.from('21 SCHILY.xattr.a='), Buffer.from([0, 0xff]), Buffer.from('\n'), Buffer.from('12 path=abc\n')]));
  t.deepEqual(recs.map(([k, v]) => [k, v.toString('hex')]), [['SCHILY.xattr.a', '00ff'], ['path', '616263']]);
  t.throws(() => parsePaxRecords(Buffer.from('99 path=abc\n')), { code: 'ERR_LAYER_CORRUPT' });
  t.throws(() => parsePaxRecords(Buffer.from('x path=abc\n')), { code: 'ERR_LAYER_CORRUPT' });
});

test('unknown entry types and truncated archives are typed errors', (t) => {
  const h = encodeTarHeader({ name: 'vol', type: 'file', mode: 0o644 });
  h.write('M', 156, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  const err = t.throws(() => parse(Buffer.concat([h, Buffer.alloc(1024)])), { code: 'ERR_LAYER_UNSUPPORTED_ENTRY' });
  t.is((err as unknown as { details: { entry: string } }).details.entry, 'vol');
  t.throws(() => parse(makeTar([{ name: 'a', data: 'x'.repeat(2000) }]).subarray(0, 1000)), { code: 'ERR_LAYER_CORRUPT' });
});
