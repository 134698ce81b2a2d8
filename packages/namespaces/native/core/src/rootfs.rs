//! Rootfs planning, done in the parent: mount option parsing (runc's table),
//! a symlink-safe join of a path inside the rootfs, and the list of mount
//! operations the child performs.
use libc::c_ulong;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// The flags and data of a mount's `options`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// `MS_*` flags to set.
    pub flags: c_ulong,
    /// Propagation changes applied after the mount (`MS_SHARED|MS_REC`…), in order.
    pub propagation: Vec<c_ulong>,
    /// Filesystem-specific options, comma-joined (`mode=755,size=65536k`).
    pub data: String,
}

impl MountOptions {
    /// Is this a bind mount (`bind` or `rbind`)?
    pub fn is_bind(&self) -> bool {
        self.flags & libc::MS_BIND != 0
    }
    /// The flags a bind mount needs a remount for (a bind ignores them).
    pub fn remount_flags(&self) -> c_ulong {
        self.flags & (libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_NOATIME | libc::MS_NODIRATIME | libc::MS_RELATIME | libc::MS_STRICTATIME)
    }
}

/// Parses OCI mount `options` as runc does: known words become flags
/// (`ro`, `nosuid`, `bind`…) or propagation (`rprivate`…); the rest is data.
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options {
        let (set, clear): (c_ulong, c_ulong) = match opt.as_str() {
            "async" => (0, libc::MS_SYNCHRONOUS),
            "atime" => (0, libc::MS_NOATIME),
            "bind" => (libc::MS_BIND, 0),
            "defaults" => (0, 0),
            "dev" => (0, libc::MS_NODEV),
            "diratime" => (0, libc::MS_NODIRATIME),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "mand" => (libc::MS_MANDLOCK, 0),
            "noatime" => (libc::MS_NOATIME, 0),
            "nodev" => (libc::MS_NODEV, 0),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "noexec" => (libc::MS_NOEXEC, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "norelatime" => (0, libc::MS_RELATIME),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "nosuid" => (libc::MS_NOSUID, 0),
            "rbind" => (libc::MS_BIND | libc::MS_REC, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "remount" => (libc::MS_REMOUNT, 0),
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "suid" => (0, libc::MS_NOSUID),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "private" => { o.propagation.push(libc::MS_PRIVATE); continue; }
            "rprivate" => { o.propagation.push(libc::MS_PRIVATE | libc::MS_REC); continue; }
            "shared" => { o.propagation.push(libc::MS_SHARED); continue; }
            "rshared" => { o.propagation.push(libc::MS_SHARED | libc::MS_REC); continue; }
            "slave" => { o.propagation.push(libc::MS_SLAVE); continue; }
            "rslave" => { o.propagation.push(libc::MS_SLAVE | libc::MS_REC); continue; }
            "unbindable" => { o.propagation.push(libc::MS_UNBINDABLE); continue; }
            "runbindable" => { o.propagation.push(libc::MS_UNBINDABLE | libc::MS_REC); continue; }
            // runc/crun extensions berth does not implement; harmless to drop.
            "tmpcopyup" | "rro" | "rrw" | "idmap" | "ridmap" | "copy-symlink" | "notmpcopyup" => continue,
            other => { data.push(other); continue; }
        };
        o.flags = (o.flags & !clear) | set;
    }
    o.data = data.join(",");
    o
}

/// The `MS_*` propagation flag of `rootfsPropagation`.
pub fn propagation_flag(name: &str) -> Option<c_ulong> {
    parse_options(&[name.to_string()]).propagation.first().copied()
}

/// Joins `unsafe_path` under `root`, resolving symlinks as if `root` were
/// `/`, so a symlink in the rootfs cannot point a mount outside it
/// (the idea of filepath-securejoin). Missing components are kept as is.
pub fn secure_join(root: &Path, unsafe_path: &str) -> PathBuf {
    let mut todo: VecDeque<String> = unsafe_path.split('/').filter(|p| !p.is_empty()).map(str::to_string).collect();
    let mut cur = PathBuf::new();
    let mut links = 0;
    while let Some(p) = todo.pop_front() {
        match p.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let next = cur.join(&p);
        match std::fs::read_link(root.join(&next)) {
            Ok(target) if links < 255 => {
                links += 1;
                let t = target.to_string_lossy().to_string();
                if t.starts_with('/') {
                    cur = PathBuf::new();
                }
                for part in t.split('/').filter(|p| !p.is_empty()).rev() {
                    todo.push_front(part.to_string());
                }
            }
            _ => cur = next,
        }
    }
    root.join(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_flags_data_and_propagation() {
        let o = parse_options(&s(&["nosuid", "strictatime", "mode=755", "size=65536k"]));
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        let o = parse_options(&s(&["rbind", "ro", "rprivate", "nosuid", "nodev", "noexec"]));
        assert!(o.is_bind());
        assert_eq!(o.flags & libc::MS_REC, libc::MS_REC);
        assert_eq!(o.remount_flags(), libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
        assert_eq!(o.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
        let o = parse_options(&s(&["ro", "rw", "newinstance", "ptmxmode=0666"]));
        assert_eq!(o.flags & libc::MS_RDONLY, 0);
        assert_eq!(o.data, "newinstance,ptmxmode=0666");
        assert_eq!(propagation_flag("rslave"), Some(libc::MS_SLAVE | libc::MS_REC));
        assert_eq!(propagation_flag("bogus"), None);
    }

    #[test]
    fn joins_inside_the_root() {
        let d = std::env::temp_dir().join(format!("berth-sj-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("real/sub")).unwrap();
        std::os::unix::fs::symlink("/real", d.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", d.join("real/up")).unwrap();
        assert_eq!(secure_join(&d, "/abs/sub"), d.join("real/sub"));
        assert_eq!(secure_join(&d, "/real/up/passwd"), d.join("etc/passwd"));
        assert_eq!(secure_join(&d, "/../../x"), d.join("x"));
        assert_eq!(secure_join(&d, "/new/dir"), d.join("new/dir"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
