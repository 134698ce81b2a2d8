/**
 * The filesystem syscalls Node lacks (mknod, xattrs, mount, syncfs), taken
 * from @berth/namespaces when it provides them, else from the util-linux,
 * coreutils and attr command-line tools. The narrow interface below is all
 * cow-fs asks of @berth/namespaces.
 */
import * as namespaces from '@berth/namespaces';
import { spawnSync } from 'node:child_process';

/** A device or special file, as mknod creates it. */
export interface MknodSpec {
  type: 'char' | 'block' | 'fifo';
  mode: number;
  major?: number;
  minor?: number;
}

/** The part of @berth/namespaces' fs API cow-fs uses. */
interface NamespacesFs {
  mknod(path: string, spec: MknodSpec): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  lgetxattr(path: string, name: string): Buffer | undefined;
  llistxattr(path: string): string[];
  lremovexattr(path: string, name: string): void;
  syncfs(path: string): void;
  mount(source: string | null, target: string, fstype: string | null, flags: Record<string, boolean>, data?: string): void;
  umount(target: string, opts?: { detach?: boolean }): void;
}

const ns = namespaces as unknown as Partial<NamespacesFs>;
const has = (name: keyof NamespacesFs): boolean => typeof ns[name] === 'function';

function run(cmd: string, args: string[], what: string, opts: { input?: Buffer; allowFail?: boolean } = {}): Buffer {
  const r = spawnSync(cmd, args, { input: opts.input, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0 && !opts.allowFail) {
    const e = new Error(`${what}: ${cmd} ${args.join(' ')}: ${r.stderr.toString().trim()}`) as Error & { code?: string; syscall?: string; path?: string };
    const stderr = r.stderr.toString();
    e.code = /No such file/.test(stderr) ? 'ENOENT' : /Operation not supported/.test(stderr) ? 'EOPNOTSUPP' : /Permission denied|not permitted/.test(stderr) ? 'EPERM' : 'EIO';
    e.syscall = what;
    e.path = args[args.length - 1];
    throw e;
  }
  return r.stdout;
}

/** Creates a char/block device or a fifo at `path` (does not follow a final symlink: the path must not exist). */
export function mknod(path: string, spec: MknodSpec): void {
  if (has('mknod')) return ns.mknod!(path, spec);
  const mode = (spec.mode & 0o7777).toString(8);
  if (spec.type === 'fifo') run('mknod', ['-m', mode, path, 'p'], 'mknod');
  else run('mknod', ['-m', mode, path, spec.type === 'char' ? 'c' : 'b', String(spec.major ?? 0), String(spec.minor ?? 0)], 'mknod');
}

/** Sets one xattr on `path` without following a final symlink. */
export function lsetxattr(path: string, name: string, value: Buffer): void {
  if (has('lsetxattr')) return ns.lsetxattr!(path, name, value);
  run('setfattr', ['-h', '-n', name, '-v', '0x' + value.toString('hex'), '--', path], 'lsetxattr');
}

/** Lists the xattr names of `path` without following a final symlink. */
export function llistxattr(path: string): string[] {
  if (has('llistxattr')) return ns.llistxattr!(path);
  const out = run('getfattr', ['-h', '--absolute-names', '-m', '-', '--', path], 'llistxattr', { allowFail: true }).toString();
  return out.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

/** Reads one xattr of `path`, or undefined when it is absent. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  if (has('lgetxattr')) return ns.lgetxattr!(path, name);
  const r = spawnSync('getfattr', ['-h', '--absolute-names', '-e', 'hex', '-n', name, '--', path]);
  if (r.status !== 0) return undefined;
  const line = r.stdout.toString().split('\n').find((l) => l.startsWith(name + '='));
  if (line === undefined) return Buffer.alloc(0);
  const v = line.slice(name.length + 1);
  return v.startsWith('0x') ? Buffer.from(v.slice(2), 'hex') : Buffer.from(v.replace(/^"|"$/g, ''));
}

/** Reads every xattr of `path` (no final symlink follow), sorted by name. */
export function lgetxattrs(path: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (has('llistxattr') && has('lgetxattr')) {
    for (const n of ns.llistxattr!(path).sort()) {
      const v = ns.lgetxattr!(path, n);
      if (v !== undefined) out.set(n, v);
    }
    return out;
  }
  const r = spawnSync('getfattr', ['-h', '--absolute-names', '-d', '-e', 'hex', '-m', '-', '--', path], { maxBuffer: 1 << 30 });
  for (const line of r.stdout.toString().split('\n')) {
    const eq = line.indexOf('=');
    if (line.startsWith('#') || eq < 0) continue;
    const v = line.slice(eq + 1);
    out.set(line.slice(0, eq), v.startsWith('0x') ? Buffer.from(v.slice(2), 'hex') : Buffer.from(v.replace(/^"|"$/g, '')));
  }
  return new Map([...out].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

/** Flushes the filesystem that holds `path` (syncfs(2)). */
export function syncfs(path: string): void {
  if (has('syncfs')) return ns.syncfs!(path);
  run('sync', ['-f', path], 'syncfs');
}

/** Mounts one mount description at `target`. */
export function mount(m: { type: string; source: string; options: string[] }, target: string): void {
  if (has('mount')) {
    const flags: Record<string, boolean> = {};
    const data: string[] = [];
    for (const o of m.options) {
      if (o === 'ro') flags.readonly = true;
      else if (o === 'rw') continue;
      else if (o === 'bind') flags.bind = true;
      else if (o === 'rbind') { flags.bind = true; flags.rec = true; }
      else if (o === 'nosuid' || o === 'nodev' || o === 'noexec') flags[o] = true;
      else data.push(o);
    }
    const bind = flags.bind === true;
    ns.mount!(m.source, target, bind ? null : m.type, { ...flags, readonly: false }, bind ? undefined : data.join(','));
    // A read-only bind needs a second, remount call (mount(2), MS_BIND|MS_REMOUNT|MS_RDONLY).
    if (flags.readonly === true) ns.mount!(null, target, null, { ...flags, remount: true, readonly: true });
    return;
  }
  const type = m.type === 'bind' ? 'none' : m.type;
  run('mount', ['-t', type, '-o', m.options.join(','), m.source, target], 'mount');
}

/** Unmounts `target` (lazily with `detach`). */
export function umount(target: string, opts: { detach?: boolean } = {}): void {
  if (has('umount')) return ns.umount!(target, opts);
  run('umount', [...(opts.detach === true ? ['-l'] : []), target], 'umount');
}
