/**
 * One of several processes contending for one lock file that keeps going
 * stale: before each round it may plant a lock of a dead process (as a crash
 * would leave), then takes the lock and checks that it alone holds it (an
 * O_EXCL marker file: a second holder finds it there). Prints
 * `{ rounds, overlaps }` as JSON.
 *
 *   node lock-child.js <lock file> <marker file> <rounds> <dead pid>
 */
import { closeSync, linkSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { acquireLock } from '../../src/local/file-lock.js';

const [file, marker, roundsText, dead] = process.argv.slice(2) as [string, string, string, string];
const rounds = Number(roundsText);
let overlaps = 0;
for (let i = 0; i < rounds; i++) {
  if (i % 2 === 0) {
    const tmp = `${file}.plant.${process.pid}`;
    writeFileSync(tmp, `${dead} 1 ${os.hostname()}\n`);
    try { linkSync(tmp, file); } catch { /* held or planted already */ }
    unlinkSync(tmp);
  }
  const lock = await acquireLock(file);
  try {
    let fd: number | undefined;
    try {
      fd = openSync(marker, 'wx');
    } catch {
      overlaps++;
    }
    await new Promise((r) => setImmediate(r));
    if (fd !== undefined) {
      closeSync(fd);
      unlinkSync(marker);
    }
  } finally {
    await lock.release();
  }
}
process.stdout.write(JSON.stringify({ rounds, overlaps }));
