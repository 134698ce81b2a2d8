/**
 * readableChunks: a download body read chunk by chunk, without the copy
 * Node's own async iterator makes when several chunks wait (it concatenates
 * everything buffered).
 */
import { PassThrough, Readable } from 'node:stream';
import test from 'ava';
import { readableChunks } from '../src/internal/chunks.js';

test('yields each chunk as the stream emitted it (the same Buffers, none merged) where Node\'s iterator concatenates', async (t) => {
  const chunks = Array.from({ length: 8 }, (_, i) => Buffer.alloc(64 * 1024, i));
  // All written before the consumer looks: Node's own iterator returns them as one new Buffer.
  const viaNode = new PassThrough();
  for (const c of chunks) viaNode.write(c);
  viaNode.end();
  const merged: Buffer[] = [];
  for await (const c of viaNode) merged.push(c as Buffer);
  t.true(merged.length < chunks.length, 'the reference concatenates (what this helper avoids)');

  const s = new PassThrough();
  for (const c of chunks) s.write(c);
  s.end();
  const got: Buffer[] = [];
  for await (const c of readableChunks(s)) got.push(c);
  t.is(got.length, chunks.length);
  got.forEach((c, i) => t.true(c.equals(chunks[i]!)));
  t.is(got[0]!.buffer, chunks[0]!.buffer, 'no copy');
});

test('pauses the stream past the high-water mark and resumes it as the consumer catches up', async (t) => {
  let produced = 0;
  const s = new Readable({ read() { produced++; this.push(produced > 64 ? null : Buffer.alloc(16 * 1024)); } });
  const it = readableChunks(s, 64 * 1024);
  const first = await it.next();
  t.false(first.done);
  await new Promise((r) => setTimeout(r, 50));
  t.true(s.isPaused(), 'paused while the consumer holds back');
  t.true(produced < 20, `${produced} chunks made while paused`);
  let n = 1;
  for await (const c of it) { n++; t.is(c.length, 16 * 1024); }
  t.is(n, 64);
});

test('a stream error, or a close before the end, fails the iteration after the chunks received; stopping early destroys the stream', async (t) => {
  const failing = new PassThrough();
  failing.write(Buffer.from('a'));
  setImmediate(() => failing.destroy(Object.assign(new Error('boom'), { code: 'ERR_TEST' })));
  const seen: string[] = [];
  await t.throwsAsync(async () => { for await (const c of readableChunks(failing)) seen.push(c.toString()); }, { code: 'ERR_TEST' });
  t.deepEqual(seen, ['a']);

  const cut = new PassThrough();
  cut.write(Buffer.from('b'));
  setImmediate(() => cut.destroy());
  await t.throwsAsync(async () => { for await (const _ of readableChunks(cut)) { /* drain */ } }, { code: 'ERR_STREAM_PREMATURE_CLOSE' });

  const long = new PassThrough();
  long.write(Buffer.from('c'));
  for await (const _ of readableChunks(long)) break;
  t.true(long.destroyed);
});
