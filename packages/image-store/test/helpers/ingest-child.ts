/**
 * A child process for the crash test: writes a deterministic blob into the
 * store at argv[2] under ingest ref argv[3], prints `progress <bytes>` once
 * `argv[6]` bytes were handed to the writer, then keeps writing slowly until
 * the parent kills it with SIGKILL.
 *
 *   node ingest-child.js <root> <ref> <size> <seed> <announceAfter>
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { openLocalStore } from '@berth/image-store';
import { randomChunks } from './random.js';

const [root, ref, sizeText, seed, announceText] = process.argv.slice(2);
const size = Number(sizeText);
const announceAfter = Number(announceText);

async function* source(): AsyncGenerator<Buffer> {
  let sent = 0;
  let announced = false;
  for (const c of randomChunks(size, seed!)) {
    yield c;
    sent += c.length;
    if (!announced && sent >= announceAfter) {
      announced = true;
      process.stdout.write(`progress ${sent}\n`);
    }
    if (announced) await sleep(20);
  }
}

const store = await openLocalStore(root!);
const w = await store.writer(ref!);
await w.copyFrom(source());
process.stdout.write('finished\n');
await w.close();
