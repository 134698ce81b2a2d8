/**
 * diff's one pass: the tar is produced once, in large chunks, and feeds the
 * diffId, the compressed layer and its digest, and the optional `tee` (the
 * uncompressed tar, for applying the layer at once). Chunking never changes
 * the bytes; a tee that closes early fails the diff, and a failing diff
 * fails the tee's reader, so neither side waits forever.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import test from 'ava';
import { applyLayer, diff, type DiffStream } from '@berth/cow-fs';
import { tmp } from './helpers/temp.js';
import { compareTrees, readTree } from './helpers/tree.js';

async function drain(s: AsyncIterable<unknown>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of s) out.push(c as Buffer);
  return Buffer.concat(out);
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** 600 small files (more than one 256 KiB chunk of headers), a 300 KiB file (passes through whole), nested dirs, a symlink. */
function fill(upper: string): void {
  for (let d = 0; d < 3; d++) {
    fs.mkdirSync(`${upper}/d${d}/sub`, { recursive: true });
    for (let i = 0; i < 200; i++) fs.writeFileSync(`${upper}/d${d}/f${i}`, `${d}:${i}\n`);
    fs.writeFileSync(`${upper}/d${d}/sub/empty`, '');
  }
  fs.writeFileSync(`${upper}/big`, Buffer.alloc(300 * 1024, 7));
  fs.symlinkSync('d0/f1', `${upper}/link`);
}

for (const thread of [false, true]) {
  test(`the tee gets the uncompressed tar of the same pass: it hashes to the diffId, equals a plain diff, and applies to the same tree${thread ? ' (diff thread)' : ''}`, async (t) => {
  const dir = await tmp(t);
  const upper = `${dir}/upper`;
  fs.mkdirSync(upper);
  fill(upper);
  const tee = new PassThrough();
  const teed = drain(tee);
  const s = diff(undefined, upper, { compression: 'gzip', tee, thread });
  const gz = await drain(s);
  const r = await s.result;
  const tar = await teed;
  t.is(sha(tar), String(r.diffId));
  t.is(tar.length, r.size);
  t.is(sha(gz), String(r.digest));
  const plain = diff(undefined, upper, { compression: 'none' });
  t.true((await drain(plain)).equals(tar));
  t.is((await plain.result).diffId, r.diffId);
  const fresh = `${dir}/fresh`;
  fs.mkdirSync(fresh);
  const applied = await applyLayer(fresh, Readable.from([tar]), { sync: false });
  t.is(applied.diffId, r.diffId);
  t.deepEqual(compareTrees(readTree(upper), readTree(fresh)), []);
  });
}

test('chunking does not change the gzip bytes: the digest equals gzip -6 of the whole tar at once', async (t) => {
  const dir = await tmp(t);
  fs.mkdirSync(`${dir}/upper`);
  fill(`${dir}/upper`);
  const tar = await drain(diff(undefined, `${dir}/upper`, { compression: 'none' }));
  const s = diff(undefined, `${dir}/upper`, { compression: 'gzip' });
  await drain(s);
  t.is(String((await s.result).digest), sha(zlib.gzipSync(tar, { level: 6 })));
});

for (const thread of [false, true]) {
test(`a tee that closes before the end fails the diff (ERR_DIFF_FAILED) instead of waiting for it${thread ? ' (diff thread)' : ''}`, async (t) => {
  const dir = await tmp(t);
  fs.mkdirSync(`${dir}/upper`);
  fill(`${dir}/upper`);
  // A reader that takes one chunk and gives up, the way a failing apply does.
  const tee = new PassThrough({ highWaterMark: 1024 });
  tee.once('data', () => tee.destroy());
  const s: DiffStream = diff(undefined, `${dir}/upper`, { compression: 'gzip', tee, thread });
  const sink = pipeline(s, new Writable({ write(_c, _e, cb) { cb(); } }));
  const e = await t.throwsAsync(s.result);
  t.is((e as { code?: string }).code, 'ERR_DIFF_FAILED');
  await t.throwsAsync(sink);
});

test(`a diff that fails destroys its tee, so the tee reader fails too${thread ? ' (diff thread)' : ''}`, async (t) => {
  const dir = await tmp(t);
  const tee = new PassThrough();
  const s = diff(undefined, `${dir}/no-such-upper`, { compression: 'gzip', tee, thread });
  s.resume();
  const e = await t.throwsAsync(s.result);
  t.is((e as { code?: string }).code, 'ERR_DIFF_FAILED');
  t.is(((e as { cause?: { code?: string } }).cause)?.code, 'ENOENT');
  await t.throwsAsync(drain(tee));
});
}

test('the diff thread gives the same bytes as the main thread, for naive and overlay walks, and stops when aborted', async (t) => {
  const dir = await tmp(t);
  fs.mkdirSync(`${dir}/lower`);
  fs.mkdirSync(`${dir}/upper`);
  fill(`${dir}/upper`);
  fs.writeFileSync(`${dir}/lower/gone`, 'x');
  for (const overlay of [false, true]) {
    const a = diff(`${dir}/lower`, `${dir}/upper`, { compression: 'gzip', overlay });
    const b = diff(`${dir}/lower`, `${dir}/upper`, { compression: 'gzip', overlay, thread: true });
    t.true((await drain(a)).equals(await drain(b)));
    t.deepEqual(await a.result, await b.result);
  }
  const ac = new AbortController();
  const s = diff(undefined, `${dir}/upper`, { compression: 'gzip', thread: true, signal: ac.signal });
  ac.abort();
  s.resume();
  const e = await t.throwsAsync(s.result);
  t.regex(String((e as { code?: string }).code), /^ERR_/);
});
