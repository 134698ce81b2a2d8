/**
 * Resolving a container path inside a rootfs on the host, the way
 * `securejoin` (moby `pkg/symlink`, runc) does: every component is looked
 * up with lstat, symlinks are followed *inside* the root (an absolute
 * target restarts at the root, `..` never climbs above it), so the result
 * always lies under `root`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from '../errors.js';

const maxSymlinks = 255;

/**
 * The host path of `p` (a container path) under `root`, with symlinks in
 * every component resolved within the root. With `followLast: false` a
 * final symlink is kept (docker cp without `-L`). Missing trailing
 * components are kept as they are (the caller may create them).
 */
export async function resolveInRoot(root: string, p: string, opts: { followLast?: boolean } = {}): Promise<string> {
  const followLast = opts.followLast ?? true;
  let pending = p.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length) {
    const c = pending.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    const host = path.join(root, ...done, c);
    const st = await fs.lstat(host).catch(() => undefined);
    if (st?.isSymbolicLink() && (pending.length > 0 || followLast)) {
      if (++links > maxSymlinks) throw new InvalidArgumentError('path', p, 'too many levels of symbolic links');
      const target = await fs.readlink(host);
      if (target.startsWith('/')) done.length = 0;
      pending = [...target.split('/').filter((x) => x !== '' && x !== '.'), ...pending];
      continue;
    }
    done.push(c);
    if (!st) {
      // The rest does not exist: nothing more to resolve.
      done.push(...pending.filter((x) => x !== '..'));
      if (pending.includes('..')) throw new InvalidArgumentError('path', p, '".." after a missing component');
      break;
    }
  }
  return path.join(root, ...done);
}
