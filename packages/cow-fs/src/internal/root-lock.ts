/**
 * What lets several processes share one snapshotter root: berth is
 * daemonless, so every CLI process (a pull, a `run`, an `rm`) opens the same
 * root. Without it two processes gave the same id to two snapshots (one
 * directory renamed over the other) and the last metadata write dropped the
 * other's records.
 *
 * `<root>/metadata.lock` is held with flock(2) (exclusive) by a process from
 * the start of a change (before it picks an id or makes a directory) until
 * its metadata write is on disk; the kernel drops it if the process dies.
 * The same file holds a token naming the metadata's version, which lets a
 * process keep the metadata in memory and re-read it only when another one
 * changed it:
 *
 * - a writer (holding the lock) writes a dirty token (`d…`), replaces the
 *   metadata file, then writes a new clean one (`c…`);
 * - a reader reads the token, then the metadata when the token is not the
 *   clean one it last saw. The metadata it gets is at least as new as that
 *   token, and a dirty token (a write in progress, or a writer that died
 *   mid-way) is never trusted.
 *
 * Readers take no lock: the metadata file is replaced atomically (rename).
 * The token is not fsynced: after a machine crash every process starts from
 * the metadata file.
 */
import fs from 'node:fs';
import { randomHex } from '@berth/oci-spec';
import { flock, flockExclusive } from '@berth/namespaces';

const TOKEN_LENGTH = 17;

export class RootLock {
  private readonly fd: number;
  /** Whether this process holds the lock (through this descriptor). */
  held = false;
  /** The clean token this process last saw or wrote; undefined when its view is not known to match. */
  private seen: string | undefined;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  }

  private token(): string {
    const b = Buffer.alloc(TOKEN_LENGTH);
    const n = fs.readSync(this.fd, b, 0, TOKEN_LENGTH, 0);
    return b.toString('latin1', 0, n);
  }

  private writeToken(t: string): void {
    fs.writeSync(this.fd, t, 0, 'latin1');
  }

  /**
   * Whether the metadata must be (re-)read: the token is not the clean one
   * last seen. Records the token as seen; call it before reading the
   * metadata. Without the lock, the metadata read after it is at least as
   * new as the token.
   */
  stale(): boolean {
    const t = this.token();
    if (t === this.seen && t[0] !== 'd') return false;
    this.seen = t[0] === 'd' ? undefined : t;
    return true;
  }

  /** Takes the lock, polling while another holder has it (a change there takes milliseconds). */
  async acquire(signal?: AbortSignal): Promise<void> {
    if (this.held) return;
    await flockExclusive(this.fd, { ...(signal ? { signal } : {}), what: 'snapshotter lock' });
    this.held = true;
  }

  /** Marks a metadata write as begun (the lock is held). */
  beginWrite(): void {
    this.seen = undefined;
    this.writeToken(`d${randomHex(8)}`);
  }

  /** Marks the metadata write as done: a new clean token, which this process has seen. */
  endWrite(): void {
    const t = `c${randomHex(8)}`;
    this.writeToken(t);
    this.seen = t;
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    flock(this.fd, 'unlock');
  }

  close(): void {
    this.release();
    fs.closeSync(this.fd);
  }
}
