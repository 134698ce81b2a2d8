/**
 * Reading process facts from /proc. The files are read synchronously: a
 * procfs read is generated in memory and never waits for a disk, and the
 * four trips through the libuv pool an asynchronous read takes (open, fstat,
 * read, close) each cost an event-loop wake-up, which a busy machine makes
 * long (start, wait, remove and attach all ask whether a process lives).
 */
import { readFileSync } from 'node:fs';

/**
 * The start time of process `pid` in clock ticks since boot (field 22 of
 * /proc/<pid>/stat, proc(5)), or undefined if there is no such process.
 * A pid plus its start time names one process even after pid reuse.
 */
export async function processStartTicks(pid: number): Promise<number | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field 22 is rest[19].
  if (rest[0] === 'Z' || rest[0] === 'X') return undefined; // a zombie has exited
  const ticks = Number(rest[19]);
  return Number.isFinite(ticks) ? ticks : undefined;
}

/** Is the process `pid` with start time `startTicks` still the one running? */
export async function isSameProcessAlive(pid: number, startTicks: number | undefined): Promise<boolean> {
  const now = await processStartTicks(pid);
  if (now === undefined) return false;
  return startTicks === undefined || now === startTicks;
}
