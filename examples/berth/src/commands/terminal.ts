/**
 * The local terminal side of `run -it`, `attach` and `exec -it`: raw mode
 * while attached (restored on every way out), SIGWINCH forwarded as a
 * resize, and the streams of a {@link ContainerAttachment} joined to ours.
 */
import type { ContainerAttachment } from '@berth/engine';
import type { CliContext } from '../context.js';

/** The terminal's size as Docker's resize query (`h` rows, `w` columns), when stdout is a terminal. */
export function terminalSize(ctx: CliContext): { h: number; w: number } | undefined {
  const out = ctx.stdout as NodeJS.WriteStream;
  if (!out.isTTY || typeof out.getWindowSize !== 'function') return undefined;
  // Asked of the kernel now: `rows`/`columns` are refreshed by Node's own SIGWINCH listener, which may run after ours.
  const [w, h] = out.getWindowSize();
  return h > 0 && w > 0 ? { h, w } : undefined;
}

/**
 * Puts stdin in raw mode when it is a terminal (and `tty`), and forwards
 * SIGWINCH to `resize` (once now); the returned function undoes both.
 */
export function holdTerminal(ctx: CliContext, tty: boolean, resize: (size: { h: number; w: number }) => unknown): () => void {
  const stdin = ctx.stdin as NodeJS.ReadStream;
  const raw = tty && stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  if (raw) stdin.setRawMode(true);
  const onWinch = () => {
    const size = terminalSize(ctx);
    if (size) void Promise.resolve().then(() => resize(size)).catch(() => undefined);
  };
  if (tty) {
    process.on('SIGWINCH', onWinch);
    onWinch();
  }
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    if (tty) process.off('SIGWINCH', onWinch);
    if (raw) stdin.setRawMode(false);
  };
}

/**
 * Joins an attachment to the CLI's stdio until it ends: output to stdout
 * and stderr, our stdin to its stdin. Resolves with how it ended (the
 * container's status when it exited).
 */
export async function pumpAttachment(ctx: CliContext, a: ContainerAttachment): Promise<import('@berth/engine').AttachEnd> {
  const outs: Array<Promise<void>> = [];
  const pipe = (from: NodeJS.ReadableStream | undefined, to: NodeJS.WritableStream) => {
    if (!from) return;
    outs.push(new Promise<void>((resolve) => {
      from.on('data', (c: Buffer) => { to.write(c); });
      from.once('end', resolve);
      from.once('error', () => resolve());
    }));
  };
  pipe(a.stdout, ctx.stdout);
  pipe(a.stderr, ctx.stderr);
  const input = a.stdin;
  const onData = (c: Buffer) => { input?.write(c); };
  const onEnd = () => { input?.end(); };
  if (input) {
    ctx.stdin.on('data', onData);
    ctx.stdin.once('end', onEnd);
    ctx.stdin.resume();
  }
  // The runtime and the attach socket do not always hold the event loop: keep it until the attachment ends.
  const keep = setInterval(() => undefined, 1 << 30);
  try {
    const end = await a.ended;
    await Promise.all(outs);
    return end;
  } finally {
    clearInterval(keep);
    if (input) {
      ctx.stdin.off('data', onData);
      ctx.stdin.off('end', onEnd);
      ctx.stdin.pause();
    }
  }
}
