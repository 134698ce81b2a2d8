/**
 * diff: additions, changes, deletions, opaque dirs, hardlinks and xattrs
 * round-trip through apply; the same change gives the same digest; gzip,
 * zstd and none; the overlay walk reads only the upper dir.
 */
import fs from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { applyLayer, diff, type DiffStream } from '@berth/cow-fs';
import * as ns from '@berth/namespaces';
import { makeTar, streamOf, type TarSpec } from './helpers/tar.js';
import { isRoot, tmp } from './helpers/temp.js';
import { compareTrees, readTree } from './helpers/tree.js';

const t0 = isRoot ? test : test.skip;

async function drain(s: DiffStream): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of s) out.push(c as Buffer);
  return Buffer.concat(out);
}

const base: TarSpec[] = [
  { name: 'a', data: 'a' }, { name: 'b', data: 'b' }, { name: 'dir/', type: 'directory' }, { name: 'dir/x', data: 'x' },
  { name: 'dir/sub/', type: 'directory' }, { name: 'dir/sub/y', data: 'y' }, { name: 'keep/', type: 'directory' }, { name: 'keep/z', data: 'z' },
];

/** Makes lower and upper copies of the base and changes upper. */
async function scenario(t: ExecutionContext): Promise<{ lower: string; upper: string; dir: string }> {
  const dir = await tmp(t);
  const lower = `${dir}/lower`;
  const upper = `${dir}/upper`;
  fs.mkdirSync(lower);
  fs.mkdirSync(upper);
  await applyLayer(lower, streamOf(makeTar(base)), { sync: false });
  await applyLayer(upper, streamOf(makeTar(base)), { sync: false });
  fs.writeFileSync(`${upper}/a`, 'changed a');
  fs.rmSync(`${upper}/b`);
  fs.rmSync(`${upper}/dir`, { recursive: true });
  fs.mkdirSync(`${upper}/dir`);
  fs.writeFileSync(`${upper}/dir/only`, 'o');
  fs.writeFileSync(`${upper}/new`, 'n');
  fs.linkSync(`${upper}/new`, `${upper}/new-link`);
  ns.mknod(`${upper}/fifo2`, { type: 'fifo', mode: 0o600 });
  ns.lsetxattr(`${upper}/keep/z`, 'user.tag', Buffer.from('t'));
  fs.symlinkSync('a', `${upper}/sym`);
  return { lower, upper, dir };
}

for (const compression of ['gzip', 'zstd', 'none'] as const) {
  t0(`naive diff (${compression}) round-trips and is deterministic`, async (t) => {
    const { lower, upper, dir } = await scenario(t);
    const s1 = diff(lower, upper, { compression });
    const layer = await drain(s1);
    const r1 = await s1.result;
    const s2 = diff(lower, upper, { compression });
    const again = await drain(s2);
    t.is((await s2.result).digest, r1.digest);
    t.true(layer.equals(again));
    t.is(r1.compressedSize, layer.length);
    t.is(r1.mediaType, `application/vnd.oci.image.layer.v1.tar${compression === 'none' ? '' : '+' + compression}`);
    const fresh = `${dir}/fresh`;
    fs.mkdirSync(fresh);
    await applyLayer(fresh, streamOf(makeTar(base)), { sync: false });
    const applied = await applyLayer(fresh, streamOf(layer), { sync: false });
    t.is(applied.diffId, r1.diffId);
    t.is(applied.compression, compression);
    t.deepEqual(compareTrees(readTree(upper), readTree(fresh)), []);
  });
}

t0('overlay diff walks only the upper dir: whiteouts and opaque dirs come from overlay form', async (t) => {
  const dir = await tmp(t);
  for (const d of ['lower', 'upper', 'work', 'merged', 'fresh']) fs.mkdirSync(`${dir}/${d}`);
  await applyLayer(`${dir}/lower`, streamOf(makeTar(base)), { sync: false });
  ns.mount('overlay', `${dir}/merged`, 'overlay', {}, `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`);
  let expected;
  try {
    const m = `${dir}/merged`;
    fs.writeFileSync(`${m}/a`, 'changed a');
    fs.rmSync(`${m}/b`);
    fs.rmSync(`${m}/dir`, { recursive: true });
    fs.mkdirSync(`${m}/dir`);
    fs.writeFileSync(`${m}/dir/only`, 'o');
    fs.writeFileSync(`${m}/new`, 'n');
    fs.linkSync(`${m}/new`, `${m}/new-link`);
    ns.lsetxattr(`${m}/keep/z`, 'user.tag', Buffer.from('t'));
    expected = readTree(m);
  } finally {
    ns.umount(`${dir}/merged`);
  }
  // The lower is not read: pass a directory that does not exist.
  const s = diff(`${dir}/does-not-exist`, `${dir}/upper`, { overlay: true, compression: 'gzip' });
  const layer = await drain(s);
  await applyLayer(`${dir}/fresh`, streamOf(makeTar(base)), { sync: false });
  await applyLayer(`${dir}/fresh`, streamOf(layer), { sync: false });
  t.deepEqual(compareTrees(expected, readTree(`${dir}/fresh`)), []);
  const s2 = diff(undefined, `${dir}/upper`, { overlay: true, compression: 'gzip' });
  await drain(s2);
  t.is((await s2.result).digest, (await s.result).digest);
});
