//! Filesystem syscalls Node lacks, for @berth/cow-fs and the runtime:
//! mount/umount2 (with fstab-style option parsing), mknod, the `l*xattr`
//! family, lchown, utimensat, renameat2, syncfs/fsync, and a safe
//! resolve-inside-root (`openat2` with `RESOLVE_IN_ROOT`, or a careful
//! userspace walk where `openat2` is missing).
//!
//! Every failure is an [`Error`] that keeps errno, the syscall's name and the
//! path it was called on.
use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn cpath(p: &str) -> Result<CString> {
    CString::new(p).map_err(|_| Error::invalid(format!("path {p:?} contains a NUL byte")))
}

fn check(rc: libc::c_int, syscall: &str, path: &str) -> Result<()> {
    if rc < 0 {
        Err(Error::last(syscall, Some(path)))
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// mount / umount2

/// `mount(2)` flags (`MS_*`), as the kernel defines them.
pub mod ms {
    pub const RDONLY: u64 = libc::MS_RDONLY as u64;
    pub const NOSUID: u64 = libc::MS_NOSUID as u64;
    pub const NODEV: u64 = libc::MS_NODEV as u64;
    pub const NOEXEC: u64 = libc::MS_NOEXEC as u64;
    pub const SYNCHRONOUS: u64 = libc::MS_SYNCHRONOUS as u64;
    pub const REMOUNT: u64 = libc::MS_REMOUNT as u64;
    pub const MANDLOCK: u64 = libc::MS_MANDLOCK as u64;
    pub const DIRSYNC: u64 = libc::MS_DIRSYNC as u64;
    pub const NOSYMFOLLOW: u64 = 256;
    pub const NOATIME: u64 = libc::MS_NOATIME as u64;
    pub const NODIRATIME: u64 = libc::MS_NODIRATIME as u64;
    pub const BIND: u64 = libc::MS_BIND as u64;
    pub const MOVE: u64 = libc::MS_MOVE as u64;
    pub const REC: u64 = libc::MS_REC as u64;
    pub const SILENT: u64 = libc::MS_SILENT as u64;
    pub const POSIXACL: u64 = libc::MS_POSIXACL as u64;
    pub const UNBINDABLE: u64 = libc::MS_UNBINDABLE as u64;
    pub const PRIVATE: u64 = libc::MS_PRIVATE as u64;
    pub const SLAVE: u64 = libc::MS_SLAVE as u64;
    pub const SHARED: u64 = libc::MS_SHARED as u64;
    pub const RELATIME: u64 = libc::MS_RELATIME as u64;
    pub const I_VERSION: u64 = libc::MS_I_VERSION as u64;
    pub const STRICTATIME: u64 = libc::MS_STRICTATIME as u64;
    pub const LAZYTIME: u64 = libc::MS_LAZYTIME as u64;
    /// The propagation-type flags, which mount(2) takes only on their own.
    pub const PROPAGATION: u64 = UNBINDABLE | PRIVATE | SLAVE | SHARED;
}

/// The most mount data the kernel copies (one page, NUL included).
pub const MOUNT_DATA_MAX: usize = 4095;

/// `mount(2)` as one call, exactly as given.
pub fn mount_raw(source: Option<&str>, target: &str, fstype: Option<&str>, flags: u64, data: Option<&str>) -> Result<()> {
    if let Some(d) = data {
        if d.len() > MOUNT_DATA_MAX {
            return Err(Error {
                code: "ERR_NS_MOUNT_DATA_TOO_LONG",
                message: format!("mount {target:?}: data is {} bytes, the kernel takes at most {MOUNT_DATA_MAX}", d.len()),
                errno: None,
                syscall: Some("mount".into()),
                path: Some(target.into()),
            });
        }
    }
    let src = source.map(cpath).transpose()?;
    let tgt = cpath(target)?;
    let fst = fstype.map(cpath).transpose()?;
    let dat = data.map(cpath).transpose()?;
    let rc = unsafe {
        libc::mount(
            src.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            tgt.as_ptr(),
            fst.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            flags as libc::c_ulong,
            dat.as_ref().map_or(std::ptr::null(), |s| s.as_ptr() as *const libc::c_void),
        )
    };
    check(rc, "mount", target)
}

/// The mount flags a new bind mount cannot drop inside a user namespace
/// (they are "locked"); added back when a bind remount fails with EPERM.
fn locked_flags(target: &str) -> u64 {
    let Ok(c) = cpath(target) else { return 0 };
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    let f = st.f_flag;
    let mut out = 0;
    for (st_flag, ms_flag) in [
        (libc::ST_RDONLY, ms::RDONLY),
        (libc::ST_NOSUID, ms::NOSUID),
        (libc::ST_NODEV, ms::NODEV),
        (libc::ST_NOEXEC, ms::NOEXEC),
        (libc::ST_NOATIME, ms::NOATIME),
        (libc::ST_NODIRATIME, ms::NODIRATIME),
        (libc::ST_RELATIME, ms::RELATIME),
    ] {
        if f & st_flag != 0 {
            out |= ms_flag;
        }
    }
    out
}

/// `mount(2)` with the usual follow-ups, in this order:
///
/// 1. the mount itself, with every flag except the propagation types;
/// 2. for a new bind mount with `ro`/`nosuid`/`nodev`/`noexec`/atime flags, a
///    `MS_REMOUNT|MS_BIND` with those flags (a bind ignores them on the first
///    call); on EPERM the flags locked by a user namespace are kept;
/// 3. a separate propagation change (`MS_PRIVATE`… with `MS_REC` when `rec`).
///
/// A call with only propagation flags (plus `rec`/`silent`) is just step 3.
pub fn mount(source: Option<&str>, target: &str, fstype: Option<&str>, flags: u64, data: Option<&str>) -> Result<()> {
    let prop = flags & ms::PROPAGATION;
    let rest = flags & !ms::PROPAGATION;
    let only_prop = prop != 0 && rest & !(ms::REC | ms::SILENT) == 0 && source.is_none() && fstype.is_none() && data.is_none();
    if !only_prop {
        mount_raw(source, target, fstype, rest, data)?;
        let remount_flags = ms::RDONLY | ms::NOSUID | ms::NODEV | ms::NOEXEC | ms::NOATIME | ms::NODIRATIME | ms::RELATIME | ms::STRICTATIME | ms::NOSYMFOLLOW;
        if rest & ms::BIND != 0 && rest & ms::REMOUNT == 0 && rest & remount_flags != 0 {
            let want = ms::REMOUNT | ms::BIND | (rest & (remount_flags | ms::REC));
            if let Err(e) = mount_raw(None, target, None, want, None) {
                if e.errno != Some(libc::EPERM) {
                    return Err(e);
                }
                mount_raw(None, target, None, want | locked_flags(target), None)?;
            }
        }
    }
    if prop != 0 {
        mount_raw(None, target, None, prop | (flags & (ms::REC | ms::SILENT)), None)?;
    }
    Ok(())
}

/// An overlay mount built option by option with the new mount API, so no
/// one-page limit applies.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    /// Lower layers, topmost first.
    pub lower: Vec<String>,
    pub upper: Option<String>,
    pub work: Option<String>,
    /// Other overlay options: `index=off`, `userxattr`, `metacopy=on`, `volatile`…
    pub options: Vec<String>,
}

impl Overlay {
    /// The legacy mount(2) data string (`lowerdir=a:b,upperdir=…,workdir=…,…`).
    pub fn data(&self) -> String {
        let mut parts = vec![format!("lowerdir={}", self.lower.join(":"))];
        if let Some(u) = &self.upper {
            parts.push(format!("upperdir={u}"));
        }
        if let Some(w) = &self.work {
            parts.push(format!("workdir={w}"));
        }
        parts.extend(self.options.iter().cloned());
        parts.join(",")
    }
}

/// `MOUNT_ATTR_*` for fsmount(2) from `MS_*` flags (the ones it knows).
fn mount_attrs(flags: u64) -> u64 {
    let mut a = 0;
    for (ms_flag, attr) in [
        (ms::RDONLY, 0x1),
        (ms::NOSUID, 0x2),
        (ms::NODEV, 0x4),
        (ms::NOEXEC, 0x8),
        (ms::NOATIME, 0x10),
        (ms::STRICTATIME, 0x20),
        (ms::NODIRATIME, 0x80),
        (ms::NOSYMFOLLOW, 0x20_0000),
    ] {
        if flags & ms_flag != 0 {
            a |= attr;
        }
    }
    a
}

/// The messages the kernel left on an fs context fd ("e overlay: …").
fn fs_context_log(fd: RawFd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n <= 0 {
            break;
        }
        out.push(String::from_utf8_lossy(&buf[..n as usize]).trim().to_string());
    }
    out.join("; ")
}

/// Mounts an overlay at `target`. With the new mount API (fsopen, fsconfig
/// with one `lowerdir+` per layer, fsmount, move_mount: Linux ≥ 6.8) there is
/// no limit on the number or length of layers; where the kernel lacks it, a
/// plain mount(2) with [`Overlay::data`], which must fit in one page
/// (`ERR_NS_MOUNT_DATA_TOO_LONG`). `flags` takes `ro`, `nosuid`, `nodev`,
/// `noexec` and the atime flags.
pub fn mount_overlay(target: &str, o: &Overlay, flags: u64) -> Result<()> {
    if o.lower.is_empty() {
        return Err(Error::invalid("an overlay needs at least one lower layer"));
    }
    match mount_overlay_fsconfig(target, o, flags) {
        Ok(()) => Ok(()),
        Err(Fallback::Legacy) => mount(Some("overlay"), target, Some("overlay"), flags, Some(&o.data())),
        Err(Fallback::Failed(e)) => Err(e),
    }
}

enum Fallback {
    Legacy,
    Failed(Error),
}

fn mount_overlay_fsconfig(target: &str, o: &Overlay, flags: u64) -> std::result::Result<(), Fallback> {
    let fstype = CString::new("overlay").unwrap();
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), 1 /* FSOPEN_CLOEXEC */) };
    if fd < 0 {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
        return if errno == libc::ENOSYS { Err(Fallback::Legacy) } else { Err(Fallback::Failed(Error::sys(errno, "fsopen", Some(target)))) };
    }
    let fsfd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let set = |key: &str, value: Option<&str>| -> std::result::Result<(), (i32, String)> {
        let k = CString::new(key).map_err(|_| (libc::EINVAL, String::new()))?;
        let v = value.map(CString::new).transpose().map_err(|_| (libc::EINVAL, String::new()))?;
        let (cmd, vp) = match &v {
            Some(v) => (1 /* FSCONFIG_SET_STRING */, v.as_ptr()),
            None => (0 /* FSCONFIG_SET_FLAG */, std::ptr::null()),
        };
        let rc = unsafe { libc::syscall(libc::SYS_fsconfig, fsfd.as_raw_fd(), cmd, k.as_ptr(), vp, 0) };
        if rc < 0 {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
            return Err((errno, fs_context_log(fsfd.as_raw_fd())));
        }
        Ok(())
    };
    let fail = |what: &str, (errno, log): (i32, String)| {
        let mut e = Error::sys(errno, "fsconfig", Some(target));
        e.message = format!("fsconfig {what} for overlay {target:?}: {}{}", std::io::Error::from_raw_os_error(errno), if log.is_empty() { String::new() } else { format!(" ({log})") });
        Fallback::Failed(e)
    };
    // Lowers topmost first, as in lowerdir=top:…:bottom.
    for (i, l) in o.lower.iter().enumerate() {
        if let Err(err) = set("lowerdir+", Some(l)) {
            // A kernel without lowerdir+ (before 6.8) refuses the key itself.
            return if i == 0 && err.0 == libc::EINVAL && (err.1.contains("lowerdir+") || err.1.contains("Unknown parameter") || err.1.contains("Legacy")) {
                Err(Fallback::Legacy)
            } else {
                Err(fail(&format!("lowerdir+ {l:?}"), err))
            };
        }
    }
    if let Some(u) = &o.upper {
        set("upperdir", Some(u)).map_err(|e| fail("upperdir", e))?;
    }
    if let Some(w) = &o.work {
        set("workdir", Some(w)).map_err(|e| fail("workdir", e))?;
    }
    for opt in &o.options {
        let r = match opt.split_once('=') {
            Some((k, v)) => set(k, Some(v)),
            None => set(opt, None),
        };
        r.map_err(|e| fail(opt, e))?;
    }
    let empty = CString::new("").unwrap();
    let rc = unsafe { libc::syscall(libc::SYS_fsconfig, fsfd.as_raw_fd(), 6 /* FSCONFIG_CMD_CREATE */, std::ptr::null::<libc::c_char>(), std::ptr::null::<libc::c_char>(), 0) };
    if rc < 0 {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
        let log = fs_context_log(fsfd.as_raw_fd());
        // Before overlay took fs_context parameters (Linux 6.5) the keys were
        // gathered as legacy data and refused only now.
        if log.contains("lowerdir+") || log.contains("Legacy") {
            return Err(Fallback::Legacy);
        }
        return Err(fail("create", (errno, log)));
    }
    let mfd = unsafe { libc::syscall(libc::SYS_fsmount, fsfd.as_raw_fd(), 1 /* FSMOUNT_CLOEXEC */, mount_attrs(flags)) };
    if mfd < 0 {
        return Err(Fallback::Failed(Error::last("fsmount", Some(target))));
    }
    let mntfd = unsafe { OwnedFd::from_raw_fd(mfd as RawFd) };
    let t = CString::new(target).map_err(|_| Fallback::Failed(Error::invalid(format!("path {target:?} contains a NUL byte"))))?;
    let rc = unsafe { libc::syscall(libc::SYS_move_mount, mntfd.as_raw_fd(), empty.as_ptr(), libc::AT_FDCWD, t.as_ptr(), 4 /* MOVE_MOUNT_F_EMPTY_PATH */) };
    if rc < 0 {
        return Err(Fallback::Failed(Error::last("move_mount", Some(target))));
    }
    Ok(())
}

/// Splits overlay mount data (`lowerdir=a:b,upperdir=…`) into an [`Overlay`],
/// undoing the `\:` escapes of the legacy syntax (the new API needs none).
pub fn parse_overlay_data(data: &[String]) -> Overlay {
    let mut o = Overlay::default();
    for d in data {
        if let Some(v) = d.strip_prefix("lowerdir=") {
            o.lower = split_unescaped(v, ':');
        } else if let Some(v) = d.strip_prefix("upperdir=") {
            o.upper = Some(v.to_string());
        } else if let Some(v) = d.strip_prefix("workdir=") {
            o.work = Some(v.to_string());
        } else {
            o.options.push(d.clone());
        }
    }
    o
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut esc = false;
    for c in s.chars() {
        if esc {
            cur.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// `umount2(2)` flags.
pub mod mnt {
    pub const FORCE: i32 = libc::MNT_FORCE;
    pub const DETACH: i32 = libc::MNT_DETACH;
    pub const EXPIRE: i32 = libc::MNT_EXPIRE;
    pub const NOFOLLOW: i32 = 8; // UMOUNT_NOFOLLOW
}

/// `umount2(2)`.
pub fn umount2(target: &str, flags: i32) -> Result<()> {
    let t = cpath(target)?;
    check(unsafe { libc::umount2(t.as_ptr(), flags) }, "umount2", target)
}

/// fstab-style mount options split into flags, propagation and data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// `MS_*` flags to set (never propagation flags).
    pub flags: u64,
    /// `MS_*` flags an option cleared (`rw`, `suid`, `dev`…), for remounts.
    pub cleared: u64,
    /// Propagation changes in order, each `MS_PRIVATE|MS_REC`-style.
    pub propagation: Vec<u64>,
    /// The options the kernel's filesystem parses (`lowerdir=…`, `mode=755`).
    pub data: Vec<String>,
}

impl MountOptions {
    /// The data options joined with commas, as mount(2) takes them.
    pub fn data_string(&self) -> String {
        self.data.join(",")
    }
}

/// Splits fstab-style options as runc does (`libcontainer/specconv`): known
/// flags (`ro`, `nosuid`, `bind`, `rbind`…) set or clear `MS_*` bits,
/// propagation names (`private`, `rslave`…) go to `propagation`, and the
/// rest (`mode=755`, `lowerdir=…`, `index=off`, `userxattr`) is data.
pub fn parse_mount_options<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut out = MountOptions::default();
    for o in options {
        let o = o.as_ref();
        let (clear, bits) = match o {
            "async" => (true, ms::SYNCHRONOUS),
            "atime" => (true, ms::NOATIME),
            "bind" => (false, ms::BIND),
            "defaults" => (false, 0),
            "dev" => (true, ms::NODEV),
            "diratime" => (true, ms::NODIRATIME),
            "dirsync" => (false, ms::DIRSYNC),
            "exec" => (true, ms::NOEXEC),
            "iversion" => (false, ms::I_VERSION),
            "lazytime" => (false, ms::LAZYTIME),
            "loud" => (true, ms::SILENT),
            "mand" => (false, ms::MANDLOCK),
            "noatime" => (false, ms::NOATIME),
            "nodev" => (false, ms::NODEV),
            "nodiratime" => (false, ms::NODIRATIME),
            "noexec" => (false, ms::NOEXEC),
            "noiversion" => (true, ms::I_VERSION),
            "nolazytime" => (true, ms::LAZYTIME),
            "nomand" => (true, ms::MANDLOCK),
            "norelatime" => (true, ms::RELATIME),
            "nostrictatime" => (true, ms::STRICTATIME),
            "nosuid" => (false, ms::NOSUID),
            "nosymfollow" => (false, ms::NOSYMFOLLOW),
            "rbind" => (false, ms::BIND | ms::REC),
            "relatime" => (false, ms::RELATIME),
            "remount" => (false, ms::REMOUNT),
            "ro" => (false, ms::RDONLY),
            "rw" => (true, ms::RDONLY),
            "silent" => (false, ms::SILENT),
            "strictatime" => (false, ms::STRICTATIME),
            "suid" => (true, ms::NOSUID),
            "sync" => (false, ms::SYNCHRONOUS),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable" | "runbindable" => {
                let rec = if o.starts_with('r') { ms::REC } else { 0 };
                let p = match o.trim_start_matches('r') {
                    "private" => ms::PRIVATE,
                    "shared" => ms::SHARED,
                    "slave" => ms::SLAVE,
                    _ => ms::UNBINDABLE,
                };
                out.propagation.push(p | rec);
                continue;
            }
            "" => continue,
            _ => {
                out.data.push(o.to_string());
                continue;
            }
        };
        if clear {
            out.flags &= !bits;
            out.cleared |= bits;
        } else {
            out.flags |= bits;
            out.cleared &= !bits;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// mknod, lchown, utimensat, renameat2, sync

/// `makedev(3)`.
pub fn makedev(major: u32, minor: u32) -> u64 {
    libc::makedev(major, minor)
}

/// `mknod(2)`: `mode` includes the file type (`S_IFCHR`…).
pub fn mknod(path: &str, mode: u32, dev: u64) -> Result<()> {
    let p = cpath(path)?;
    check(unsafe { libc::mknod(p.as_ptr(), mode as libc::mode_t, dev as libc::dev_t) }, "mknod", path)
}

/// `lchown(2)`; `u32::MAX` leaves an id unchanged.
pub fn lchown(path: &str, uid: u32, gid: u32) -> Result<()> {
    let p = cpath(path)?;
    check(unsafe { libc::lchown(p.as_ptr(), uid, gid) }, "lchown", path)
}

/// One timestamp for [`utimensat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Time {
    Now,
    Omit,
    At { sec: i64, nsec: i64 },
}

impl Time {
    fn timespec(self) -> Result<libc::timespec> {
        Ok(match self {
            Time::Now => libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_NOW },
            Time::Omit => libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_OMIT },
            Time::At { sec, nsec } => {
                if !(0..1_000_000_000).contains(&nsec) {
                    return Err(Error::invalid(format!("nsec {nsec} is not in 0..999999999")));
                }
                libc::timespec { tv_sec: sec as libc::time_t, tv_nsec: nsec as _ }
            }
        })
    }
}

/// `utimensat(2)` relative to the cwd; `nofollow` sets the times of a symlink itself.
pub fn utimensat(path: &str, atime: Time, mtime: Time, nofollow: bool) -> Result<()> {
    let p = cpath(path)?;
    let ts = [atime.timespec()?, mtime.timespec()?];
    let flags = if nofollow { libc::AT_SYMLINK_NOFOLLOW } else { 0 };
    check(unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), ts.as_ptr(), flags) }, "utimensat", path)
}

/// `renameat2(2)` flags.
pub mod rename {
    pub const NOREPLACE: u32 = libc::RENAME_NOREPLACE;
    pub const EXCHANGE: u32 = libc::RENAME_EXCHANGE;
    pub const WHITEOUT: u32 = libc::RENAME_WHITEOUT;
}

/// `renameat2(2)` relative to the cwd.
pub fn renameat2(old: &str, new: &str, flags: u32) -> Result<()> {
    let o = cpath(old)?;
    let n = cpath(new)?;
    let rc = unsafe { libc::syscall(libc::SYS_renameat2, libc::AT_FDCWD, o.as_ptr(), libc::AT_FDCWD, n.as_ptr(), flags) };
    if rc < 0 {
        let mut e = Error::last("renameat2", Some(old));
        e.message = format!("renameat2 {old:?} -> {new:?}: {}", std::io::Error::from_raw_os_error(e.errno.unwrap_or(0)));
        return Err(e);
    }
    Ok(())
}

fn open_path(path: &str, flags: i32, syscall: &str) -> Result<OwnedFd> {
    let p = cpath(path)?;
    let fd = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::last(syscall, Some(path)));
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `syncfs(2)` on the filesystem holding `path`.
pub fn syncfs(path: &str) -> Result<()> {
    let fd = open_path(path, libc::O_RDONLY, "open")?;
    check(unsafe { libc::syncfs(fd.as_raw_fd()) }, "syncfs", path)
}

/// Opens `path` read-only and `fsync(2)`s it.
pub fn fsync_path(path: &str) -> Result<()> {
    let fd = open_path(path, libc::O_RDONLY, "open")?;
    check(unsafe { libc::fsync(fd.as_raw_fd()) }, "fsync", path)
}

/// Opens the directory `path` and `fsync(2)`s it, making renames and
/// creations inside it durable.
pub fn fsync_dir(path: &str) -> Result<()> {
    let fd = open_path(path, libc::O_RDONLY | libc::O_DIRECTORY, "open")?;
    check(unsafe { libc::fsync(fd.as_raw_fd()) }, "fsync", path)
}

/// Deletes `path` and, for a directory, everything under it, without
/// following symlinks (std's `remove_dir_all`, which walks with `openat` and
/// `O_NOFOLLOW`). A missing path is not an error.
pub fn remove_tree(path: &str) -> Result<()> {
    let missing_ok = |r: std::io::Result<()>, syscall: &str| match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&e, syscall, Some(path))),
        Ok(()) => Ok(()),
    };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&e, "lstat", Some(path))),
        Ok(m) if m.is_dir() => missing_ok(std::fs::remove_dir_all(path), "remove"),
        Ok(_) => missing_ok(std::fs::remove_file(path), "unlink"),
    }
}

/// `flock(2)` on an open descriptor: `exclusive` (else shared), `unlock`
/// releases. With `wait == false` a held lock returns `Ok(false)` at once
/// (EWOULDBLOCK) instead of blocking; EINTR is retried.
pub fn flock(fd: i32, exclusive: bool, unlock: bool, wait: bool) -> Result<bool> {
    let mut op = if unlock { libc::LOCK_UN } else if exclusive { libc::LOCK_EX } else { libc::LOCK_SH };
    if !wait {
        op |= libc::LOCK_NB;
    }
    loop {
        if unsafe { libc::flock(fd, op) } == 0 {
            return Ok(true);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) if !wait => return Ok(false),
            _ => return Err(Error::last("flock", None)),
        }
    }
}

// ---------------------------------------------------------------------------
// file mappings

/// A whole file mapped into memory: private (copy-on-write) and readable and
/// writable, so the memory can back a JavaScript string or Buffer without a
/// copy, and writes through a Buffer stay in this process. Unmapped on drop.
/// The pages come from the page cache as they are touched. A file
/// truncated while mapped makes the pages past its new end fault (SIGBUS):
/// map only files that are replaced (rename, unlink), never rewritten in place.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// The mapping is owned memory like a Vec: it may be dropped on another thread.
unsafe impl Send for Mapping {}

impl Mapping {
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len > 0 {
            unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
        }
    }
}

/// Maps the regular file at `path` whole (see [`Mapping`]); an empty file gives an empty mapping.
pub fn map_file(path: &str) -> Result<Mapping> {
    let c = cpath(path)?;
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::last("open", Some(path)));
    }
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(Error::last("fstat", Some(path)));
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Error::sys(libc::EINVAL, "mmap", Some(path)));
    }
    let len = st.st_size as usize;
    if len == 0 {
        return Ok(Mapping { ptr: std::ptr::NonNull::dangling().as_ptr(), len: 0 });
    }
    let p = unsafe {
        libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE, fd.as_raw_fd(), 0)
    };
    if p == libc::MAP_FAILED {
        return Err(Error::last("mmap", Some(path)));
    }
    Ok(Mapping { ptr: p as *mut u8, len })
}

// ---------------------------------------------------------------------------
// xattrs

/// `lsetxattr(2)` flags.
pub mod xattr {
    pub const CREATE: i32 = libc::XATTR_CREATE;
    pub const REPLACE: i32 = libc::XATTR_REPLACE;
}

/// `lsetxattr(2)`.
pub fn lsetxattr(path: &str, name: &str, value: &[u8], flags: i32) -> Result<()> {
    let p = cpath(path)?;
    let n = cpath(name)?;
    let rc = unsafe { libc::lsetxattr(p.as_ptr(), n.as_ptr(), value.as_ptr() as *const libc::c_void, value.len(), flags) };
    check(rc, "lsetxattr", path)
}

/// `lgetxattr(2)`; `None` when the attribute is absent (ENODATA).
pub fn lgetxattr(path: &str, name: &str) -> Result<Option<Vec<u8>>> {
    let p = cpath(path)?;
    let n = cpath(name)?;
    loop {
        let size = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
        if size < 0 {
            let e = Error::last("lgetxattr", Some(path));
            return if e.errno == Some(libc::ENODATA) { Ok(None) } else { Err(e) };
        }
        let mut buf = vec![0u8; size as usize];
        let got = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if got < 0 {
            let e = Error::last("lgetxattr", Some(path));
            match e.errno {
                Some(libc::ERANGE) => continue, // grew in between
                Some(libc::ENODATA) => return Ok(None),
                _ => return Err(e),
            }
        }
        buf.truncate(got as usize);
        return Ok(Some(buf));
    }
}

/// `llistxattr(2)`: the attribute names.
pub fn llistxattr(path: &str) -> Result<Vec<String>> {
    let p = cpath(path)?;
    loop {
        let size = unsafe { libc::llistxattr(p.as_ptr(), std::ptr::null_mut(), 0) };
        if size < 0 {
            return Err(Error::last("llistxattr", Some(path)));
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size as usize];
        let got = unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
        if got < 0 {
            let e = Error::last("llistxattr", Some(path));
            if e.errno == Some(libc::ERANGE) {
                continue;
            }
            return Err(e);
        }
        buf.truncate(got as usize);
        return Ok(buf.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect());
    }
}

/// `lremovexattr(2)`.
pub fn lremovexattr(path: &str, name: &str) -> Result<()> {
    let p = cpath(path)?;
    let n = cpath(name)?;
    check(unsafe { libc::lremovexattr(p.as_ptr(), n.as_ptr()) }, "lremovexattr", path)
}

// ---------------------------------------------------------------------------
// resolve inside a root

/// How [`open_in_root`] resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    /// `openat2(2)`, falling back to the walk on ENOSYS.
    Auto,
    /// `openat2(2)` only.
    Openat2,
    /// The userspace walk only.
    Walk,
}

/// Options of [`open_in_root`].
#[derive(Debug, Clone, Copy)]
pub struct InRoot {
    /// `open(2)` flags; `O_CLOEXEC` is always added.
    pub flags: i32,
    /// Creation mode with `O_CREAT`.
    pub mode: u32,
    /// Refuse every symlink (`RESOLVE_NO_SYMLINKS`, ELOOP).
    pub no_symlinks: bool,
    /// Fail with EXDEV instead of clamping when the path would leave the
    /// root (`RESOLVE_BENEATH`).
    pub beneath: bool,
    pub resolver: Resolver,
}

impl Default for InRoot {
    fn default() -> Self {
        InRoot { flags: libc::O_RDONLY, mode: 0, no_symlinks: false, beneath: false, resolver: Resolver::Auto }
    }
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const MAX_SYMLINKS: usize = 40;

fn display_path(root: &str, rel: &str) -> String {
    format!("{}/{}", root.trim_end_matches('/'), rel.trim_start_matches('/'))
}

fn openat2(dirfd: RawFd, rel: &str, how: &OpenHow) -> std::result::Result<OwnedFd, i32> {
    let c = CString::new(if rel.is_empty() { "." } else { rel }).map_err(|_| libc::EINVAL)?;
    for _ in 0..16 {
        let fd = unsafe { libc::syscall(libc::SYS_openat2, dirfd, c.as_ptr(), how as *const OpenHow, std::mem::size_of::<OpenHow>()) };
        if fd >= 0 {
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
        // EAGAIN: a concurrent rename or mount made ".." resolution unsafe; retry.
        if errno != libc::EAGAIN {
            return Err(errno);
        }
    }
    Err(libc::EAGAIN)
}

fn openat(dirfd: RawFd, name: &CStr, flags: i32, mode: u32) -> std::result::Result<OwnedFd, i32> {
    let fd = unsafe { libc::openat(dirfd, name.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
    if fd < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
    } else {
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

fn dup(fd: &OwnedFd) -> std::result::Result<OwnedFd, i32> {
    fd.try_clone().map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
}

fn fstat_fd(fd: &OwnedFd) -> std::result::Result<libc::stat, i32> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
    }
    Ok(st)
}

fn readlink_fd(fd: &OwnedFd) -> std::result::Result<String, i32> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    let empty = CString::new("").unwrap();
    let n = unsafe { libc::readlinkat(fd.as_raw_fd(), empty.as_ptr(), buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
    }
    buf.truncate(n as usize);
    String::from_utf8(buf).map_err(|_| libc::EILSEQ)
}

fn push_components(queue: &mut VecDeque<String>, path: &str) {
    for c in path.split('/').rev() {
        if !c.is_empty() && c != "." {
            queue.push_front(c.to_string());
        }
    }
}

/// The userspace fallback of `RESOLVE_IN_ROOT`: walks `rel` one component
/// at a time from `root`, opening each with `O_PATH|O_NOFOLLOW`, so the
/// kernel never follows a link on its own. Symlinks are read and their
/// targets resolved again from the root (absolute) or the current directory
/// (relative); `..` pops the stack of directories walked and stops at the
/// root. At most 40 links are followed (ELOOP after).
fn walk_in_root(root: &OwnedFd, rel: &str, o: &InRoot) -> std::result::Result<OwnedFd, i32> {
    let mut queue = VecDeque::new();
    push_components(&mut queue, rel);
    let mut stack: Vec<OwnedFd> = Vec::new(); // ancestors of `cur` below the root
    let mut cur = dup(root)?;
    let mut links = 0usize;
    let caller_nofollow = o.flags & libc::O_NOFOLLOW != 0;
    if queue.is_empty() {
        // The root itself.
        let dot = CString::new(".").unwrap();
        return openat(cur.as_raw_fd(), &dot, o.flags & !libc::O_CREAT & !libc::O_EXCL, 0);
    }
    while let Some(c) = queue.pop_front() {
        if c == ".." {
            match stack.pop() {
                Some(parent) => cur = parent,
                None if o.beneath => return Err(libc::EXDEV),
                None => {} // clamped at the root
            }
            if queue.is_empty() {
                let dot = CString::new(".").unwrap();
                return openat(cur.as_raw_fd(), &dot, o.flags & !libc::O_CREAT & !libc::O_EXCL, 0);
            }
            continue;
        }
        let name = CString::new(c.as_str()).map_err(|_| libc::EINVAL)?;
        let last = queue.is_empty();
        let probe = openat(cur.as_raw_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW, 0);
        let probe = match probe {
            Ok(fd) => fd,
            Err(libc::ENOENT) if last && o.flags & libc::O_CREAT != 0 => {
                // Create it here; O_NOFOLLOW|O_EXCL-safe: a symlink raced in fails.
                return openat(cur.as_raw_fd(), &name, o.flags | libc::O_NOFOLLOW, o.mode);
            }
            Err(e) => return Err(e),
        };
        let st = fstat_fd(&probe)?;
        let is_link = st.st_mode & libc::S_IFMT == libc::S_IFLNK;
        if is_link && !(last && caller_nofollow) {
            if o.no_symlinks {
                return Err(libc::ELOOP);
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(libc::ELOOP);
            }
            let target = readlink_fd(&probe)?;
            if target.starts_with('/') {
                if o.beneath {
                    return Err(libc::EXDEV);
                }
                stack.clear();
                cur = dup(root)?;
            }
            push_components(&mut queue, &target);
            if queue.is_empty() {
                // A link to "/" or ".": the directory we are in.
                let dot = CString::new(".").unwrap();
                return openat(cur.as_raw_fd(), &dot, o.flags & !libc::O_CREAT & !libc::O_EXCL, 0);
            }
            continue;
        }
        if last {
            if o.flags & libc::O_PATH != 0 && o.flags & libc::O_DIRECTORY == 0 {
                return Ok(probe);
            }
            // Reopen through the O_PATH fd, never by name: the name could have
            // been swapped for a symlink since the probe.
            let proc = CString::new(format!("/proc/self/fd/{}", probe.as_raw_fd())).unwrap();
            if is_link {
                return openat(libc::AT_FDCWD, &proc, o.flags & !libc::O_CREAT, 0);
            }
            if o.flags & libc::O_DIRECTORY != 0 && st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                return Err(libc::ENOTDIR);
            }
            if o.flags & libc::O_CREAT != 0 && o.flags & libc::O_EXCL != 0 {
                return Err(libc::EEXIST);
            }
            return openat(libc::AT_FDCWD, &proc, o.flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW), 0);
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(libc::ENOTDIR);
        }
        let prev = std::mem::replace(&mut cur, probe);
        stack.push(prev);
    }
    unreachable!("the loop returns on the last component")
}

/// Opens `rel` as if `root` were `/`: `..` and absolute symlinks are
/// clamped inside `root` (or fail with EXDEV when `beneath`), magic links
/// (`/proc/<pid>/fd/…`) are refused. Returns an fd with `O_CLOEXEC` that the
/// caller closes.
pub fn open_in_root(root: &str, rel: &str, o: &InRoot) -> Result<OwnedFd> {
    let shown = display_path(root, rel);
    let rootfd = open_path(root, libc::O_PATH | libc::O_DIRECTORY, "open")?;
    if o.resolver != Resolver::Walk {
        let mut resolve = libc::RESOLVE_NO_MAGICLINKS;
        resolve |= if o.beneath { libc::RESOLVE_BENEATH } else { libc::RESOLVE_IN_ROOT };
        if o.no_symlinks {
            resolve |= libc::RESOLVE_NO_SYMLINKS;
        }
        let creating = o.flags & (libc::O_CREAT | libc::O_TMPFILE) != 0;
        let how = OpenHow { flags: (o.flags | libc::O_CLOEXEC) as u32 as u64, mode: if creating { o.mode as u64 } else { 0 }, resolve };
        match openat2(rootfd.as_raw_fd(), rel.trim_start_matches('/'), &how) {
            Ok(fd) => return Ok(fd),
            Err(libc::ENOSYS) if o.resolver == Resolver::Auto => {}
            Err(e) => return Err(Error::sys(e, "openat2", Some(&shown))),
        }
    }
    walk_in_root(&rootfd, rel, o).map_err(|e| Error::sys(e, "openat", Some(&shown)))
}

/// The path an fd refers to (`readlink /proc/self/fd/N`).
pub fn fd_path(fd: RawFd) -> Result<String> {
    let link = format!("/proc/self/fd/{fd}");
    std::fs::read_link(&link)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| Error::io(&e, "readlink", Some(&link)))
}

/// The host path `rel` resolves to inside `root` (following every symlink,
/// clamped in the root). The file must exist.
pub fn resolve_in_root(root: &str, rel: &str, resolver: Resolver) -> Result<String> {
    let fd = open_in_root(root, rel, &InRoot { flags: libc::O_PATH, resolver, ..InRoot::default() })?;
    fd_path(fd.as_raw_fd())
}

/// `mkdir -p` inside `root`: each missing component is created with
/// `mkdirat` on its parent's fd, which was itself resolved inside the root,
/// so a symlink cannot redirect the creation outside. A dangling symlink in
/// the way is an error (ENOENT), not followed out.
pub fn mkdir_in_root(root: &str, rel: &str, mode: u32, resolver: Resolver) -> Result<()> {
    let dir_opts = InRoot { flags: libc::O_PATH | libc::O_DIRECTORY, resolver, ..InRoot::default() };
    let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    let mut prefix = String::new();
    for (i, c) in comps.iter().enumerate() {
        let parent = prefix.clone();
        if i > 0 {
            prefix.push('/');
        }
        prefix.push_str(c);
        match open_in_root(root, &prefix, &dir_opts) {
            Ok(_) => continue,
            Err(e) if e.errno == Some(libc::ENOENT) && *c != ".." => {
                let pfd = open_in_root(root, &parent, &dir_opts)?;
                let name = cpath(c)?;
                let rc = unsafe { libc::mkdirat(pfd.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) };
                if rc < 0 {
                    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
                    if errno != libc::EEXIST {
                        return Err(Error::sys(errno, "mkdirat", Some(&display_path(root, &prefix))));
                    }
                    // Raced with another creator, or a dangling symlink: check again.
                }
                open_in_root(root, &prefix, &dir_opts)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options_like_runc() {
        let o = parse_mount_options(&["rbind", "ro", "nosuid", "rprivate", "mode=755", "rw", "lowerdir=/a:/b", "index=off"]);
        assert_eq!(o.flags, ms::BIND | ms::REC | ms::NOSUID);
        assert_eq!(o.cleared, ms::RDONLY);
        assert_eq!(o.propagation, vec![ms::PRIVATE | ms::REC]);
        assert_eq!(o.data_string(), "mode=755,lowerdir=/a:/b,index=off");
        let o = parse_mount_options(&["defaults", "slave", "unbindable"]);
        assert_eq!(o.flags, 0);
        assert_eq!(o.propagation, vec![ms::SLAVE, ms::UNBINDABLE]);
    }

    #[test]
    fn refuses_mount_data_over_a_page() {
        let big = "x".repeat(MOUNT_DATA_MAX + 1);
        let e = mount_raw(None, "/nonexistent", Some("tmpfs"), 0, Some(&big)).unwrap_err();
        assert_eq!(e.code, "ERR_NS_MOUNT_DATA_TOO_LONG");
    }

    #[test]
    fn parses_overlay_data() {
        let o = parse_overlay_data(&["lowerdir=/a\\:b:/c".to_string(), "upperdir=/u".into(), "workdir=/w".into(), "index=off".into(), "userxattr".into()]);
        assert_eq!(o.lower, vec!["/a:b".to_string(), "/c".to_string()]);
        assert_eq!(o.upper.as_deref(), Some("/u"));
        assert_eq!(o.work.as_deref(), Some("/w"));
        assert_eq!(o.options, vec!["index=off".to_string(), "userxattr".to_string()]);
        assert_eq!(Overlay { lower: vec!["/x".into(), "/y".into()], ..Overlay::default() }.data(), "lowerdir=/x:/y");
    }

    #[test]
    fn makedev_matches_glibc() {
        assert_eq!(makedev(0, 0), 0);
        assert_eq!(makedev(1, 3), 0x103);
        assert_eq!(makedev(0x1000, 0x100), (1u64 << 44) | (1 << 20));
    }

    fn tmpdir(name: &str) -> String {
        let d = std::env::temp_dir().join(format!("berth-fsys-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.to_string_lossy().into_owned()
    }

    #[test]
    fn walk_and_openat2_agree_on_escapes() {
        let root = tmpdir("walk");
        std::fs::create_dir_all(format!("{root}/etc")).unwrap();
        std::fs::write(format!("{root}/etc/passwd"), "inside").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", format!("{root}/abs")).unwrap();
        std::os::unix::fs::symlink("../../../etc", format!("{root}/up")).unwrap();
        std::os::unix::fs::symlink("loop2", format!("{root}/loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", format!("{root}/loop2")).unwrap();
        for r in [Resolver::Walk, Resolver::Auto] {
            for rel in ["abs", "up/passwd", "../../etc/passwd", "/etc/../../etc/passwd", "etc/../up/./passwd"] {
                let p = resolve_in_root(&root, rel, r).unwrap();
                assert_eq!(p, format!("{root}/etc/passwd"), "{rel} with {r:?}");
            }
            let e = resolve_in_root(&root, "loop1", r).unwrap_err();
            assert_eq!(e.errno, Some(libc::ELOOP));
            let e = open_in_root(&root, "../etc/passwd", &InRoot { beneath: true, resolver: r, ..InRoot::default() }).unwrap_err();
            assert_eq!(e.errno, Some(libc::EXDEV), "{r:?}");
            let e = open_in_root(&root, "abs", &InRoot { no_symlinks: true, resolver: r, ..InRoot::default() }).unwrap_err();
            assert_eq!(e.errno, Some(libc::ELOOP));
        }
        mkdir_in_root(&root, "up/a/b", 0o755, Resolver::Walk).unwrap();
        assert!(std::path::Path::new(&format!("{root}/etc/a/b")).is_dir());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
