/**
 * A child process for the batch crash test: writes three deterministic blobs
 * (seeds `batch-0`…`batch-2`, sizes in {@link batchSizes}) into the store at
 * argv[2] under ingest refs `batch-<i>`, stages them in one commit batch
 * under a lease, then dies by SIGKILL at argv[3]:
 * - `staged`: after staging, before the batch commits;
 * - `rename-<n>`: inside the commit, right after the n-th blob is renamed into `blobs/`;
 * - `never`: commits and exits normally.
 *
 *   node batch-child.js <root> <crashAt>
 */
import fs from 'node:fs/promises';
import { openLocalStore } from '@berth/image-store';
import { randomChunks, randomDigest } from './random.js';

/** The sizes of the three blobs. */
export const batchSizes = [3 << 20, 1000, 5 << 20];

const [root, crashAt] = process.argv.slice(2);
if (root !== undefined) {
  const die = (): never => { process.kill(process.pid, 'SIGKILL'); throw new Error('unreachable'); };
  const m = /^rename-(\d+)$/.exec(crashAt ?? '');
  if (m) {
    const at = Number(m[1]);
    let n = 0;
    const rename = fs.rename;
    // The store calls fs.rename through this module object: count the renames into blobs/.
    fs.rename = async (from, to) => {
      await rename(from, to);
      if (String(to).includes('/blobs/') && ++n === at) die();
    };
  }
  const store = await openLocalStore(root);
  const lease = await store.leases.create();
  const batch = store.commitBatch();
  for (const [i, size] of batchSizes.entries()) {
    const digest = randomDigest(size, `batch-${i}`);
    const w = await store.writer(`batch-${i}`, { expected: { digest, size }, lease: lease.id });
    for (const c of randomChunks(size, `batch-${i}`)) await w.write(c);
    await batch.stage(w);
  }
  if (crashAt === 'staged') die();
  await batch.commit();
  process.stdout.write('committed\n');
}
