/**
 * kill -9 of a process in the middle of writing a 100 MB blob: after
 * reopening, no partial blob is visible, and the ingest resumes at its offset
 * and commits with the right digest.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import fs from 'node:fs/promises';
import { openLocalStore } from '@berth/image-store';
import { tempDir } from './helpers/temp.js';
import { randomChunks, randomDigest } from './helpers/random.js';
import { collect } from './helpers/collect.js';

const size = 100 << 20;
const child = path.join(import.meta.dirname, 'helpers', 'ingest-child.js');

async function* skip(size: number, seed: string, offset: number): AsyncGenerator<Buffer> {
  let pos = 0;
  for (const c of randomChunks(size, seed)) {
    if (pos + c.length > offset) yield pos >= offset ? c : c.subarray(offset - pos);
    pos += c.length;
  }
}

test('kill -9 while writing 100 MB: no partial blob, ingest resumes at its offset', async (t) => {
  const root = await tempDir(t);
  const digest = randomDigest(size, 'crash');
  const proc = spawn(process.execPath, [child, root, 'big-layer', String(size), 'crash', String(40 << 20)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (d: string) => {
      out += d;
      if (out.includes('progress')) resolve();
    });
    proc.on('exit', (code) => reject(new Error(`child exited early with ${code}: ${out}`)));
  });
  proc.kill('SIGKILL');
  const [, signal] = await once(proc, 'exit');
  t.is(signal, 'SIGKILL');
  t.false(out.includes('finished'));

  const store = await openLocalStore(root);
  t.teardown(() => store.close());
  t.deepEqual(await collect(store.walk()), [], 'no blob is visible');
  t.deepEqual(await fs.readdir(path.join(root, 'blobs', 'sha256')), []);
  const [st] = await collect(store.listIngests());
  t.is(st?.ref, 'big-layer');
  t.true(st!.offset > 0 && st!.offset < size, `offset ${st?.offset}`);

  // The dead child's lock is stale: a new writer takes over and resumes.
  const w = await store.writer('big-layer');
  t.is(w.offset, st!.offset);
  await w.copyFrom(skip(size, 'crash', w.offset));
  const info = await w.commit({ size, digest });
  t.is(info.digest, digest);
  t.deepEqual((await store.verify()).corrupt, []);
  t.deepEqual(await collect(store.listIngests()), []);
});
