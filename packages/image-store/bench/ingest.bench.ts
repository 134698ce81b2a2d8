/**
 * Ingest throughput: writing a 500 MB stream into the on-disk store (hash
 * while writing, 4 MiB batched writes, one fsync, rename) against the two
 * passes the same work takes with coreutils: `sha256sum` of the file plus a
 * `cp` of it, in the same run. The store also fsyncs; a second peer adds the
 * same durability to cp (`cp` + `sync -d` of the copy), for reference.
 *
 * Target: berth's median ≤ 1.25 × the `sha256sum + cp` median (≥ 80 % of its throughput).
 */
import fs from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Benchmark } from '@berth/testkit';
import { openLocalStore, type LocalStore } from '@berth/image-store';
import { createDigester, type Digest } from '@berth/oci-spec';
import { randomStream } from '../test/helpers/random.js';

const run = promisify(execFile);
const size = Number(process.env.BERTH_BENCH_INGEST_MB ?? 500) << 20;
let dir = '';
let source = '';
let digest = '' as Digest;
let store: LocalStore | undefined;
let users = 0;
let n = 0;

async function setup(): Promise<void> {
  users += 1;
  if (dir) return;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-ingest-bench-'));
  source = path.join(dir, 'source.bin');
  // The test helpers' deterministic AES-CTR stream, digested as it is written.
  const h = createDigester();
  await pipeline(Readable.from(randomStream(size, 'ingest-bench')), h, createWriteStream(source));
  digest = h.digest();
  store = await openLocalStore(path.join(dir, 'store'));
}

async function teardown(): Promise<void> {
  users -= 1;
  if (users > 0) return;
  await store?.close();
  await fs.rm(dir, { recursive: true, force: true });
  dir = '';
}

/** The benchmarks of this file (`npm run bench -- ingest`). */
export const benchmarks: Benchmark[] = [
  {
    group: 'image-store: ingest a 500 MB stream',
    name: 'berth writer → commit (fsync, rename)',
    tool: 'berth',
    iterations: 5,
    setup,
    teardown,
    async run() {
      await store!.delete(digest).catch(() => {});
      const w = await store!.writer(`bench-${n++}`);
      await w.copyFrom(createReadStream(source, { highWaterMark: 1 << 20 }));
      await w.commit({ size, digest });
    },
  },
  {
    group: 'image-store: ingest a 500 MB stream',
    name: 'sha256sum + cp',
    tool: 'coreutils',
    iterations: 5,
    setup,
    teardown,
    async run() {
      await run('sh', ['-c', 'rm -f "$2" && sha256sum "$1" >/dev/null && cp "$1" "$2"', 'sh', source, path.join(dir, 'copy.bin')]);
    },
  },
  {
    group: 'image-store: ingest a 500 MB stream',
    name: 'sha256sum + cp + sync of the copy',
    tool: 'coreutils-sync',
    iterations: 5,
    setup,
    teardown,
    async run() {
      await run('sh', ['-c', 'rm -f "$2" && sha256sum "$1" >/dev/null && cp "$1" "$2" && sync "$2"', 'sh', source, path.join(dir, 'copy-sync.bin')]);
    },
  },
];
