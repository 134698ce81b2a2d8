/**
 * A filesystem mount as snapshotters hand it out and runtimes apply it, in
 * containerd's shape (`core/mount/mount.go`): `mount -t <type> <source> <target> -o <options>`.
 *
 * `target` is usually left out: the caller decides where the mount goes (for a
 * rootfs, the bundle's `rootfs` directory). Examples:
 *
 * ```ts
 * { type: 'overlay', source: 'overlay', options: ['lowerdir=/l2:/l1', 'upperdir=/u', 'workdir=/w'] }
 * { type: 'bind', source: '/var/lib/berth/snapshots/7/fs', options: ['rbind', 'ro'] }
 * ```
 */
export interface Mount {
  /** The filesystem type (`overlay`, `bind`, `tmpfs`…). */
  type: string;
  /** The source: a device, a directory for bind mounts, or a label such as `overlay`. */
  source: string;
  /** Where to mount, when the mount itself decides; usually absent. */
  target?: string;
  /** Mount options in `mount(8)` form (`ro`, `rbind`, `lowerdir=…`). */
  options: string[];
}
