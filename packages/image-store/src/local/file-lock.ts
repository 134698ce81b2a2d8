/**
 * Cross-process file locks. Node has no flock(2), so a lock is a file created
 * atomically with link(2) (fails with EEXIST when held) holding
 * `<pid> <starttime> <hostname>`. A lock whose process is gone (no such pid,
 * or a pid reused by another process: different start time in
 * /proc/<pid>/stat) is stale and is broken, under a second lock,
 * `<file>.break`, held for the few calls that take it: the breaker reads the
 * lock again and removes it only if it is still the stale one. No holder
 * removes a lock that is not its own, takers cannot create one while it
 * exists, and breakers take turns, so the file read is the file removed.
 * (Breaking by renaming the lock aside and putting back a live one found
 * there, as before, could put back a lock its holder had meanwhile released:
 * every process then waited on a live process that held nothing, a
 * deadlock; `test/multi-process.test.ts` runs six processes on a lock that
 * keeps going stale.) In-process callers are serialized by a promise chain
 * per path first, so a process holds each lock once.
 *
 * A breaker that dies holding `<file>.break` leaves it stale: it is removed
 * when its holder is gone, after a read (two breakers finding it stale at
 * once could both remove it, the second one a new holder's: then two break
 * at once, which needs a process dying inside that few-call window first).
 *
 * Taking and releasing a free lock are a few tiny metadata calls (write a
 * temp file, link, unlink), made synchronously: on the libuv pool they would
 * queue behind whatever long jobs run there (a layer's writes and inflate,
 * fsyncs, a tree being deleted), and a lock round could take a hundred
 * milliseconds of waiting for well under one of work.
 */
import fs from 'node:fs/promises';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { throwIfAborted } from '@berth/oci-spec';
import { StoreLockedError, StoreIoError } from '../errors.js';

function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime), counted after the ")" that ends the command name.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const self = `${process.pid} ${startTime(process.pid) ?? '0'} ${os.hostname()}`;

/** Is the holder written in a lock file still alive? */
function holderAlive(content: string): boolean {
  const [pidText, start, host] = content.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (host !== undefined && host !== os.hostname()) return true; // cannot tell: assume alive
  if (pid === process.pid) return start === (startTime(pid) ?? '0');
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const st = startTime(pid);
  return st === undefined || start === undefined || st === start;
}

/** A held lock; `release()` is idempotent. */
export interface HeldLock {
  /** The lock file's path. */
  readonly path: string;
  /** Releases the lock. */
  release(): Promise<void>;
}

/** Options of {@link acquireLock}. */
export interface AcquireOptions {
  /** Wait for the lock (default true); false throws ERR_STORE_LOCKED at once. */
  wait?: boolean;
  /** Aborts the wait. */
  signal?: AbortSignal;
  /** A name for errors. */
  name?: string;
}

const inProcess = new Map<string, Promise<void>>();
const heldHere = new Set<string>();

function tryCreate(file: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, `${self}\n`);
  try {
    linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    try { unlinkSync(tmp); } catch { /* gone */ }
  }
}

/** The content of `file`, or undefined when it is gone. */
function readLock(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Removes `file` when it still holds `content`; a missing file is fine. */
function removeIfStill(file: string, content: string): void {
  if (readLock(file) !== content) return;
  try { unlinkSync(file); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
}

/**
 * Removes the lock `file` if it still holds `stale` (a dead holder's),
 * holding `<file>.break` meanwhile; returns false when another breaker holds
 * that now (the caller waits and looks again).
 */
function breakStale(file: string, stale: string): boolean {
  const breakFile = `${file}.break`;
  if (!tryCreate(breakFile)) {
    const holder = readLock(breakFile);
    // A breaker that died in its few calls: its break lock goes (see the module comment).
    if (holder !== undefined && holder.trim() !== '' && !holderAlive(holder)) removeIfStill(breakFile, holder);
    return false;
  }
  try {
    removeIfStill(file, stale);
    return true;
  } finally {
    try { unlinkSync(breakFile); } catch { /* gone */ }
  }
}

/** Acquires the lock file `file` (its directory must exist). */
export async function acquireLock(file: string, options: AcquireOptions = {}): Promise<HeldLock> {
  const name = options.name ?? path.basename(file);
  const wait = options.wait ?? true;
  // In-process: one holder per path at a time.
  if (!wait && heldHere.has(file)) throw new StoreLockedError(name, `pid ${process.pid}`);
  let releaseLocal!: () => void;
  const mine = new Promise<void>((r) => { releaseLocal = r; });
  const prev = inProcess.get(file) ?? Promise.resolve();
  const chained = prev.then(() => mine);
  inProcess.set(file, chained);
  const cleanupLocal = () => {
    releaseLocal();
    if (inProcess.get(file) === chained) inProcess.delete(file);
  };
  try {
    await prev;
    heldHere.add(file);
    let delay = 2;
    for (;;) {
      throwIfAborted(options.signal, `lock ${name}`);
      if (tryCreate(file)) break;
      const content = readLock(file);
      if (content === undefined) continue; // released meanwhile
      // A dead holder's lock; or one naming this process, which holds nothing here while it waits for it.
      if (content.trim() !== '' && (!holderAlive(content) || content === `${self}\n`)) {
        if (breakStale(file, content)) continue;
      }
      if (!wait) throw new StoreLockedError(name, content.trim().split(' ')[0] ? `pid ${content.trim().split(' ')[0]}` : undefined);
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
  } catch (e) {
    heldHere.delete(file);
    cleanupLocal();
    if (e instanceof Error && 'code' in e && typeof e.code === 'string' && e.code.startsWith('ERR_')) throw e;
    throw new StoreIoError(`lock ${name}`, e);
  }
  let released = false;
  return {
    path: file,
    async release() {
      if (released) return;
      released = true;
      try { unlinkSync(file); } catch { /* gone */ }
      heldHere.delete(file);
      cleanupLocal();
    },
  };
}

/** Runs `fn` while holding the lock `file`. */
export async function withLock<T>(file: string, fn: () => Promise<T>, options: AcquireOptions = {}): Promise<T> {
  const lock = await acquireLock(file, options);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/** Is the lock `file` held by a live process right now? */
export async function isLocked(file: string): Promise<boolean> {
  const content = await fs.readFile(file, 'utf8').catch(() => undefined);
  return content !== undefined && (content.trim() === '' || holderAlive(content));
}
