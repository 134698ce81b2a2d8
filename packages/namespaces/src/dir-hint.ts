/**
 * A placement hint for filesystems that take one: FS_TOPDIR_FL (`chattr +T`).
 */
import { binding } from './native.js';
import { callNative } from './errors.js';

/**
 * Marks `path` (a directory, not followed if a symlink) as the top of a
 * directory hierarchy (FS_TOPDIR_FL, `chattr +T`): ext4's Orlov allocator then
 * spreads its subdirectories over block groups, as it does for directories in
 * `/`, instead of packing them beside their parent. For roots whose
 * subdirectories are independent trees (snapshots). Returns false where the
 * filesystem has no such flag (tmpfs, overlay, xfs, btrfs…).
 *
 * @throws SystemCallError when the path cannot be opened as a directory, or the flag cannot be set (EPERM…).
 */
export function markTopDirectory(path: string): boolean {
  return callNative(() => binding<{ markTopDirectory(path: string): boolean }>().markTopDirectory(path));
}
