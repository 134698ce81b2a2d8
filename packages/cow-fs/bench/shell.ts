/**
 * A long-lived `sh` that runs the peers' commands for the unpack benchmark.
 *
 * Why: Node's child_process forks the benchmark process itself, which marks
 * its whole heap copy-on-write; berth, unpacking in that process right after,
 * then takes thousands of extra page faults (measured here: ≈6,000–8,000 more
 * minor faults and about twice the CPU time of the unpack that follows a
 * spawn). That cost belongs to the harness, not to berth or the peer. Forking
 * once at setup and letting this small shell fork the peers keeps it out of
 * every measured run; the peer still starts as a fresh process each time.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

/** Runs shell commands one at a time in one `sh` process. */
export class BenchShell {
  private readonly sh: ChildProcessByStdio<Writable, Readable, null>;
  private out = '';
  private waiting: { resolve: (status: number) => void; reject: (e: Error) => void } | undefined;
  private seq = 0;

  constructor() {
    this.sh = spawn('sh', [], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.sh.stdout.setEncoding('utf8');
    this.sh.stdout.on('data', (d: string) => {
      this.out += d;
      const m = /@@done (\d+) (\d+)\n/.exec(this.out);
      if (m !== null && Number(m[1]) === this.seq) {
        this.out = '';
        const w = this.waiting;
        this.waiting = undefined;
        w?.resolve(Number(m[2]));
      }
    });
    this.sh.once('exit', () => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.reject(new Error('bench shell exited'));
    });
  }

  /** Runs `cmd` (its output discarded) and resolves with its exit status. */
  run(cmd: string): Promise<number> {
    if (this.waiting !== undefined) throw new Error('BenchShell runs one command at a time');
    const n = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.sh.stdin.write(`{ ${cmd} ; } >/dev/null 2>&1 </dev/null; echo "@@done ${n} $?"\n`);
    });
  }

  /** Ends the shell (idempotent). */
  close(): void {
    this.sh.stdin.end();
  }
}
