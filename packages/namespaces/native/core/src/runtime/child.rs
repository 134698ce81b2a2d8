//! The cloned child. Runs between clone and execve and only makes system
//! calls on the prepared [`Plan`]: no allocation, no formatting (the parent
//! may be multi-threaded, so a malloc lock could be held by a thread that
//! does not exist here). Failures go back to the parent over the sync
//! socket as a fixed-layout message (see [`super::msg`]), then `_exit(1)`.
//!
//! Order (runc's standard_init_linux.go): non-dumpable → wait for the parent
//! (uid/gid maps, cgroup, oom_score_adj) → setns → hostname → rootfs
//! (propagation, bind, mounts, devices, links, pivot_root, sysctl, readonly
//! root, readonlyPaths, maskedPaths); in a new network namespace, `lo` up
//! (runc's "loopback" strategy, with an ioctl instead of netlink) → stdio → rlimits → cwd → bounding
//! set, user, capabilities → no_new_privs → umask → close fds → exec fifo
//! → seccomp → execve.
use super::msg::{self, Code};
use super::plan::{DevOp, MountKind, MountOp, Plan, ProcessPlan, RootfsPlan, StdioFds};
use libc::{c_char, c_int, c_ulong, c_void};
use std::ptr::null;

pub(crate) struct Fail {
    code: Code,
    errno: c_int,
    syscall: &'static [u8],
    path: *const c_char,
}

type R = Result<(), Fail>;

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

fn fail(code: Code, syscall: &'static [u8], path: *const c_char) -> Fail {
    Fail { code, errno: errno(), syscall, path }
}

fn check(rc: c_int, code: Code, syscall: &'static [u8], path: *const c_char) -> R {
    if rc < 0 {
        Err(fail(code, syscall, path))
    } else {
        Ok(())
    }
}

/// Sends the failure to the parent (and, when the parent is gone, to
/// stderr) and exits.
unsafe fn die(sock: c_int, f: Fail) -> ! {
    let mut buf = [0u8; 4400];
    let n = msg::encode_error(&mut buf, f.code, f.errno, f.syscall, if f.path.is_null() { &[] } else { std::ffi::CStr::from_ptr(f.path).to_bytes() });
    if libc::send(sock, buf.as_ptr() as *const c_void, n, libc::MSG_NOSIGNAL) < 0 {
        let m = b"berth-runtime: container init failed: ";
        libc::write(2, m.as_ptr() as *const c_void, m.len());
        libc::write(2, f.syscall.as_ptr() as *const c_void, f.syscall.len());
        if !f.path.is_null() {
            libc::write(2, b" ".as_ptr() as *const c_void, 1);
            libc::write(2, f.path as *const c_void, libc::strlen(f.path));
        }
        libc::write(2, b"\n".as_ptr() as *const c_void, 1);
    }
    libc::_exit(if f.code == Code::ExecNotFound { 127 } else { 1 })
}

const NONE: *const c_char = null();

// The credential calls go straight to the kernel: glibc's wrappers
// (setxid) try to change every thread of the process it remembers, taking
// a lock another thread of the parent may have held at clone time.
unsafe fn setresuid(id: u32) -> c_int {
    libc::syscall(libc::SYS_setresuid, id, id, id) as c_int
}
unsafe fn setresgid(id: u32) -> c_int {
    libc::syscall(libc::SYS_setresgid, id, id, id) as c_int
}

/// Closes every fd from `first` up except the sorted `keep` ones.
pub(crate) unsafe fn close_others(keep: &[c_int], first: c_int) {
    let mut lo = first as libc::c_uint;
    for &k in keep {
        let k = k as libc::c_uint;
        if k > lo {
            libc::syscall(libc::SYS_close_range, lo, k - 1, 0);
        }
        lo = k + 1;
    }
    libc::syscall(libc::SYS_close_range, lo, libc::c_uint::MAX, 0);
}

/// The entry of the first child (after a clone with the new-namespace flags).
pub(crate) unsafe fn child_main(plan: &Plan, sock: c_int) -> ! {
    libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    if plan.ns.intermediate {
        intermediate(plan, sock)
    }
    if let Err(f) = join_namespaces(plan) {
        die(sock, f)
    }
    init(plan, sock)
}

unsafe fn join_namespaces(plan: &Plan) -> R {
    for &(fd, typ) in &plan.ns.joins {
        check(libc::setns(fd, typ), Code::Namespace, b"setns", NONE)?;
    }
    Ok(())
}

/// Joins the namespaces (a pid namespace only applies to children), clones
/// the real child as a sibling (CLONE_PARENT), reports its pid and exits.
unsafe fn intermediate(plan: &Plan, sock: c_int) -> ! {
    if let Err(f) = join_namespaces(plan) {
        die(sock, f)
    }
    let flags = ((plan.ns.clone_flags & !libc::CLONE_NEWCGROUP) as c_ulong) | libc::CLONE_PARENT as c_ulong | libc::SIGCHLD as c_ulong;
    let pid = libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) as c_int;
    if pid < 0 {
        die(sock, fail(Code::Namespace, b"clone", NONE))
    }
    if pid == 0 {
        init(plan, sock)
    }
    let mut buf = [0u8; 5];
    let n = msg::encode_pid(&mut buf, pid);
    libc::send(sock, buf.as_ptr() as *const c_void, n, libc::MSG_NOSIGNAL);
    libc::_exit(0)
}

unsafe fn init(plan: &Plan, sock: c_int) -> ! {
    libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    // Wait for the parent: uid/gid maps, cgroup and oom_score_adj come first.
    let mut go = [0u8; 1];
    if libc::read(sock, go.as_mut_ptr() as *mut c_void, 1) != 1 {
        libc::_exit(1)
    }
    let r = (|| -> R {
        if plan.new_userns {
            check(setresgid(0), Code::User, b"setresgid", NONE)?;
            check(setresuid(0), Code::User, b"setresuid", NONE)?;
        }
        // The parent has put this process in the container's cgroup: a new
        // cgroup namespace made now is rooted there (runc's order), so
        // /proc/self/cgroup reads "/" and the cgroupfs mounted below shows
        // the container's own cgroup.
        if plan.ns.clone_flags & libc::CLONE_NEWCGROUP != 0 {
            check(libc::unshare(libc::CLONE_NEWCGROUP), Code::Namespace, b"unshare", NONE)?;
        }
        libc::umask(0);
        if plan.ns.clone_flags & libc::CLONE_NEWNET != 0 {
            loopback_up()?;
        }
        if let Some(r) = &plan.rootfs {
            setup_rootfs(r, plan.new_userns)?;
        }
        Ok(())
    })();
    if let Err(f) = r {
        die(sock, f)
    }
    match exec_process(plan, &plan.process, sock) {
        Err(f) => die(sock, f),
        Ok(()) => libc::_exit(1),
    }
}

/// `struct ifreq` with the flags member of its union (40 bytes on 64-bit).
#[repr(C)]
struct IfreqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Brings `lo` up in the network namespace this process created, as `ip
/// link set lo up` would: SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP, on
/// a datagram socket of the new namespace. No netlink, no child process.
unsafe fn loopback_up() -> R {
    const LO: *const c_char = b"lo\0".as_ptr() as *const c_char;
    let mut s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
    if s < 0 {
        // A kernel without IPv4: interface ioctls work on any socket.
        s = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
    }
    if s < 0 {
        return Err(fail(Code::Syscall, b"socket", LO));
    }
    let mut ifr: IfreqFlags = std::mem::zeroed();
    ifr.name[..2].copy_from_slice(b"lo");
    let r = (|| -> R {
        check(libc::ioctl(s, libc::SIOCGIFFLAGS, &mut ifr as *mut IfreqFlags), Code::Syscall, b"ioctl(SIOCGIFFLAGS)", LO)?;
        if ifr.flags & libc::IFF_UP as libc::c_short == 0 {
            ifr.flags |= libc::IFF_UP as libc::c_short;
            check(libc::ioctl(s, libc::SIOCSIFFLAGS, &ifr as *const IfreqFlags), Code::Syscall, b"ioctl(SIOCSIFFLAGS)", LO)?;
        }
        Ok(())
    })();
    libc::close(s);
    r
}

unsafe fn mount(src: *const c_char, target: *const c_char, fstype: *const c_char, flags: c_ulong, data: *const c_char) -> c_int {
    libc::mount(src, target, fstype, flags, data as *const c_void)
}

fn opt(c: &Option<std::ffi::CString>) -> *const c_char {
    c.as_ref().map(|c| c.as_ptr()).unwrap_or(null())
}

/// Remounts a bind with `flags`; a user namespace locks nosuid/nodev/noexec
/// and atime flags of the source, so on EPERM they are kept and it retries.
unsafe fn remount_bind(target: *const c_char, flags: c_ulong) -> c_int {
    let base = libc::MS_BIND | libc::MS_REMOUNT;
    if mount(NONE, target, NONE, base | flags, NONE) == 0 {
        return 0;
    }
    if errno() != libc::EPERM {
        return -1;
    }
    // statfs(2) directly: glibc's statvfs may read /proc/mounts (and allocate).
    #[repr(C)]
    struct StatFs {
        f_type: i64,
        f_bsize: i64,
        f_blocks: u64,
        f_bfree: u64,
        f_bavail: u64,
        f_files: u64,
        f_ffree: u64,
        f_fsid: [i32; 2],
        f_namelen: i64,
        f_frsize: i64,
        f_flags: i64,
        f_spare: [i64; 4],
    }
    let mut st: StatFs = std::mem::zeroed();
    if libc::syscall(libc::SYS_statfs, target, &mut st as *mut StatFs) < 0 {
        return -1;
    }
    let f = st.f_flags as libc::c_ulong;
    let mut locked = 0;
    for (st_flag, ms) in [(libc::ST_NOSUID, libc::MS_NOSUID), (libc::ST_NODEV, libc::MS_NODEV), (libc::ST_NOEXEC, libc::MS_NOEXEC), (libc::ST_NOATIME, libc::MS_NOATIME), (libc::ST_NODIRATIME, libc::MS_NODIRATIME), (libc::ST_RELATIME, libc::MS_RELATIME)] {
        if f & st_flag != 0 {
            locked |= ms;
        }
    }
    mount(NONE, target, NONE, base | flags | locked, NONE)
}

unsafe fn mkdirs(dirs: &[std::ffi::CString]) -> R {
    for d in dirs {
        if libc::mkdir(d.as_ptr(), 0o755) < 0 && errno() != libc::EEXIST {
            return Err(fail(Code::Mount, b"mkdir", d.as_ptr()));
        }
    }
    Ok(())
}

unsafe fn do_mount(m: &MountOp) -> R {
    let t = m.target.as_ptr();
    mkdirs(&m.dirs)?;
    if m.file {
        // Read-only: opening an existing file for writing would copy it up
        // into an overlay's writable layer (runc opens it O_CREAT alone).
        let fd = libc::open(t, libc::O_CREAT | libc::O_RDONLY | libc::O_CLOEXEC, 0o644);
        if fd < 0 && errno() != libc::EEXIST {
            return Err(fail(Code::Mount, b"open", t));
        }
        libc::close(fd);
    }
    match &m.kind {
        MountKind::Bind => {
            check(mount(opt(&m.source), t, NONE, m.flags, NONE), Code::Mount, b"mount", t)?;
            if m.remount != 0 {
                check(remount_bind(t, m.remount), Code::Mount, b"mount", t)?;
            }
        }
        MountKind::Normal => {
            let src = if m.source.is_some() { opt(&m.source) } else { opt(&m.fstype) };
            if mount(src, t, opt(&m.fstype), m.flags, opt(&m.data)) < 0 {
                let e = errno();
                match &m.fallback_bind {
                    Some(host) if e == libc::EPERM || e == libc::EINVAL => {
                        check(mount(host.as_ptr(), t, NONE, libc::MS_BIND | libc::MS_REC, NONE), Code::Mount, b"mount", t)?;
                        let ro = m.flags & (libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
                        if ro != 0 {
                            check(remount_bind(t, ro), Code::Mount, b"mount", t)?;
                        }
                    }
                    _ => return Err(Fail { code: Code::Mount, errno: e, syscall: b"mount", path: t }),
                }
            }
        }
        MountKind::Cgroup(dirs, links) => {
            // Best effort, as a view for tools inside: a tmpfs with each v1
            // hierarchy mounted under it (rooted at the container's cgroup
            // when it has a cgroup namespace).
            let base = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
            if mount(b"tmpfs\0".as_ptr() as *const c_char, t, b"tmpfs\0".as_ptr() as *const c_char, base, b"mode=755\0".as_ptr() as *const c_char) == 0 {
                for (dir, data) in dirs {
                    libc::mkdir(dir.as_ptr(), 0o755);
                    mount(b"cgroup\0".as_ptr() as *const c_char, dir.as_ptr(), b"cgroup\0".as_ptr() as *const c_char, m.flags | base, data.as_ptr());
                }
                for (target, link) in links {
                    libc::symlink(target.as_ptr(), link.as_ptr());
                }
                if m.flags & libc::MS_RDONLY != 0 {
                    mount(NONE, t, NONE, libc::MS_REMOUNT | libc::MS_RDONLY | base, b"mode=755\0".as_ptr() as *const c_char);
                }
            }
        }
    }
    for &p in &m.propagation {
        check(mount(NONE, t, NONE, p, NONE), Code::Mount, b"mount", t)?;
    }
    Ok(())
}

unsafe fn make_device(d: &DevOp, userns: bool) -> R {
    let t = d.target.as_ptr();
    if !userns && libc::mknod(t, d.mode, d.dev) == 0 {
        // mknod applies the umask; set the mode exactly.
        libc::chmod(t, d.mode & 0o7777);
        if d.uid != 0 || d.gid != 0 {
            check(libc::chown(t, d.uid, d.gid), Code::Device, b"chown", t)?;
        }
        return Ok(());
    }
    if !userns && errno() == libc::EEXIST {
        return Ok(());
    }
    // In a user namespace (or without CAP_MKNOD): bind the host's device.
    let fd = libc::open(t, libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o666);
    if fd < 0 {
        return Err(fail(Code::Device, b"open", t));
    }
    libc::close(fd);
    check(mount(d.host.as_ptr(), t, NONE, libc::MS_BIND, NONE), Code::Device, b"mount", t)
}

unsafe fn setup_rootfs(r: &RootfsPlan, userns: bool) -> R {
    if let Some(h) = &r.hostname {
        check(libc::sethostname(h.as_ptr(), h.as_bytes().len()), Code::Syscall, b"sethostname", NONE)?;
    }
    if let Some(h) = &r.domainname {
        check(libc::setdomainname(h.as_ptr(), h.as_bytes().len()), Code::Syscall, b"setdomainname", NONE)?;
    }
    let root = b"/\0".as_ptr() as *const c_char;
    let rootfs = r.rootfs.as_ptr();
    check(mount(NONE, root, NONE, r.root_propagation, NONE), Code::Mount, b"mount", root)?;
    check(mount(rootfs, rootfs, NONE, libc::MS_BIND | libc::MS_REC, NONE), Code::Mount, b"mount", rootfs)?;
    for m in &r.mounts {
        do_mount(m)?;
    }
    for d in &r.devices {
        make_device(d, userns)?;
    }
    for (target, link) in &r.links {
        if libc::symlink(target.as_ptr(), link.as_ptr()) < 0 && errno() == libc::EEXIST {
            libc::unlink(link.as_ptr());
            check(libc::symlink(target.as_ptr(), link.as_ptr()), Code::Device, b"symlink", link.as_ptr())?;
        }
    }
    check(libc::chdir(rootfs), Code::Mount, b"chdir", rootfs)?;
    let dot = b".\0".as_ptr() as *const c_char;
    let pivoted = !r.no_pivot && libc::syscall(libc::SYS_pivot_root, dot, dot) == 0;
    if pivoted {
        // The old root is now stacked on "."; keep its unmount from
        // propagating to the host, then detach it (runc's pivotRoot).
        check(mount(NONE, dot, NONE, libc::MS_SLAVE | libc::MS_REC, NONE), Code::Mount, b"mount", dot)?;
        check(libc::umount2(dot, libc::MNT_DETACH), Code::Mount, b"umount2", dot)?;
    } else {
        // pivot_root is impossible (rootfs on ramfs) or not wanted.
        check(mount(rootfs, root, NONE, libc::MS_MOVE, NONE), Code::Mount, b"mount", rootfs)?;
        check(libc::chroot(dot), Code::Mount, b"chroot", rootfs)?;
    }
    check(libc::chdir(root), Code::Mount, b"chdir", root)?;
    if r.final_propagation != 0 {
        check(mount(NONE, root, NONE, r.final_propagation, NONE), Code::Mount, b"mount", root)?;
    }
    for (path, value) in &r.sysctl {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_TRUNC | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(fail(Code::Syscall, b"open", path.as_ptr()));
        }
        let n = libc::write(fd, value.as_ptr() as *const c_void, value.len());
        let e = errno();
        libc::close(fd);
        if n < 0 {
            return Err(Fail { code: Code::Syscall, errno: e, syscall: b"write", path: path.as_ptr() });
        }
    }
    if r.readonly {
        check(remount_bind(root, libc::MS_RDONLY), Code::Mount, b"mount", root)?;
    }
    for p in &r.readonly_paths {
        let p = p.as_ptr();
        if mount(p, p, NONE, libc::MS_BIND | libc::MS_REC, NONE) < 0 {
            if errno() == libc::ENOENT {
                continue;
            }
            return Err(fail(Code::Mount, b"mount", p));
        }
        check(remount_bind(p, libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC), Code::Mount, b"mount", p)?;
    }
    for p in &r.masked {
        let p = p.as_ptr();
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(p, &mut st) < 0 {
            if errno() == libc::ENOENT {
                continue;
            }
            return Err(fail(Code::Mount, b"stat", p));
        }
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            check(mount(b"tmpfs\0".as_ptr() as *const c_char, p, b"tmpfs\0".as_ptr() as *const c_char, libc::MS_RDONLY, NONE), Code::Mount, b"mount", p)?;
        } else {
            check(mount(b"/dev/null\0".as_ptr() as *const c_char, p, NONE, libc::MS_BIND, NONE), Code::Mount, b"mount", p)?;
        }
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}
#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

unsafe fn load_seccomp(p: &ProcessPlan) -> R {
    if let Some(prog) = &p.seccomp {
        #[repr(C)]
        struct Fprog {
            len: u16,
            filter: *const u64,
        }
        let f = Fprog { len: prog.filter.len() as u16, filter: prog.filter.as_ptr() };
        let rc = libc::syscall(libc::SYS_seccomp, 1usize /* SECCOMP_SET_MODE_FILTER */, prog.flags as usize, &f as *const Fprog);
        if rc < 0 {
            return Err(fail(Code::Seccomp, b"seccomp", NONE));
        }
    }
    Ok(())
}

/// Opens a pty from the container's /dev/ptmx, sends the master to the
/// parent over the sync socket (SCM_RIGHTS) and returns the slave.
unsafe fn new_pty(sock: c_int, rows: u16, cols: u16) -> Result<c_int, Fail> {
    let ptmx = b"/dev/ptmx\0".as_ptr() as *const c_char;
    let master = libc::open(ptmx, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
    if master < 0 {
        return Err(fail(Code::Syscall, b"open", ptmx));
    }
    let unlock: c_int = 0;
    check(libc::ioctl(master, libc::TIOCSPTLCK, &unlock), Code::Syscall, b"ioctl(TIOCSPTLCK)", ptmx)?;
    const TIOCGPTPEER: libc::c_ulong = 0x5441;
    let slave = libc::ioctl(master, TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
    check(slave, Code::Syscall, b"ioctl(TIOCGPTPEER)", ptmx)?;
    if rows > 0 && cols > 0 {
        let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        libc::ioctl(master, libc::TIOCSWINSZ, &ws);
    }
    let tag = [msg::PTY];
    let mut iov = libc::iovec { iov_base: tag.as_ptr() as *mut c_void, iov_len: 1 };
    let mut cbuf = [0u64; 4];
    let mut m: libc::msghdr = std::mem::zeroed();
    m.msg_iov = &mut iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf.as_mut_ptr() as *mut c_void;
    m.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<c_int>() as u32) as usize;
    let c = libc::CMSG_FIRSTHDR(&m);
    (*c).cmsg_level = libc::SOL_SOCKET;
    (*c).cmsg_type = libc::SCM_RIGHTS;
    (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<c_int>() as u32) as usize;
    *(libc::CMSG_DATA(c) as *mut c_int) = master;
    if libc::sendmsg(sock, &m, libc::MSG_NOSIGNAL) < 0 {
        return Err(fail(Code::Syscall, b"sendmsg", NONE));
    }
    libc::close(master);
    Ok(slave)
}

unsafe fn dup_stdio(stdio: StdioFds, preserve: c_int, sock: c_int) -> R {
    let min = 3 + preserve;
    let stdio = match stdio {
        StdioFds::NewPty { rows, cols } => StdioFds::Pty(new_pty(sock, rows, cols)?),
        s => s,
    };
    let fds = match stdio {
        StdioFds::NewPty { .. } => unreachable!(),
        StdioFds::Pty(slave) => {
            check(libc::setsid(), Code::Syscall, b"setsid", NONE)?;
            check(libc::ioctl(slave, libc::TIOCSCTTY, 0), Code::Syscall, b"ioctl(TIOCSCTTY)", NONE)?;
            [slave, slave, slave]
        }
        StdioFds::Fds(f) => f,
    };
    // First move every source above the preserved range, then dup2 onto
    // 0-2 (dup2 clears FD_CLOEXEC), so no source is overwritten early.
    let mut tmp = [-1; 3];
    for i in 0..3 {
        if fds[i] >= 0 {
            tmp[i] = libc::fcntl(fds[i], libc::F_DUPFD_CLOEXEC, min);
            if tmp[i] < 0 {
                return Err(fail(Code::Syscall, b"fcntl(F_DUPFD)", NONE));
            }
        }
    }
    for i in 0..3 {
        if tmp[i] >= 0 {
            check(libc::dup2(tmp[i], i as c_int), Code::Syscall, b"dup2", NONE)?;
            libc::close(tmp[i]);
        }
    }
    // Node marks 0-2 close-on-exec; inherited ones must survive exec.
    for i in 0..min {
        libc::fcntl(i, libc::F_SETFD, 0);
    }
    Ok(())
}

/// Everything from stdio to execve; shared by create and exec.
pub(crate) unsafe fn exec_process(plan: &Plan, p: &ProcessPlan, sock: c_int) -> R {
    dup_stdio(plan.stdio, plan.preserve_fds, sock)?;
    for &(res, soft, hard) in &p.rlimits {
        let mut l = libc::rlimit { rlim_cur: soft, rlim_max: hard };
        if libc::setrlimit(res as _, &l) < 0 {
            // Without CAP_SYS_RESOURCE the hard limit cannot rise: clamp to it.
            let mut cur: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(res as _, &mut cur) == 0 {
                l.rlim_max = l.rlim_max.min(cur.rlim_max);
                l.rlim_cur = l.rlim_cur.min(l.rlim_max);
                libc::setrlimit(res as _, &l);
            }
        }
    }
    let cwd = p.cwd.as_ptr();
    if libc::chdir(cwd) < 0 {
        return Err(fail(Code::BadCwd, b"chdir", cwd));
    }
    if !p.no_new_privs {
        // Loading a filter without no_new_privs needs CAP_SYS_ADMIN, so do it
        // while the caps are still there (runc does the same).
        load_seccomp(p)?;
    }
    let caps = &p.caps;
    for c in 0..=caps.last {
        if caps.bounding & (1 << c) == 0 && libc::prctl(libc::PR_CAPBSET_DROP, c as libc::c_ulong, 0, 0, 0) < 0 && errno() != libc::EINVAL {
            return Err(fail(Code::Capabilities, b"prctl(PR_CAPBSET_DROP)", NONE));
        }
    }
    libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0);
    check(libc::syscall(libc::SYS_setgroups, p.groups.len(), p.groups.as_ptr()) as c_int, Code::User, b"setgroups", NONE)?;
    check(setresgid(p.gid), Code::User, b"setresgid", NONE)?;
    check(setresuid(p.uid), Code::User, b"setresuid", NONE)?;
    libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0);
    let mut hdr = CapHeader { version: 0x2008_0522, pid: 0 };
    let data = [
        CapData { effective: caps.effective as u32, permitted: caps.permitted as u32, inheritable: caps.inheritable as u32 },
        CapData { effective: (caps.effective >> 32) as u32, permitted: (caps.permitted >> 32) as u32, inheritable: (caps.inheritable >> 32) as u32 },
    ];
    check(libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) as c_int, Code::Capabilities, b"capset", NONE)?;
    libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as c_ulong, 0, 0, 0);
    for c in 0..=caps.last {
        if caps.ambient & (1 << c) != 0 {
            libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE as c_ulong, c as c_ulong, 0, 0);
        }
    }
    if p.no_new_privs {
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), Code::Syscall, b"prctl(PR_SET_NO_NEW_PRIVS)", NONE)?;
    }
    libc::umask(p.umask as libc::mode_t);
    // Find the binary now (as the container user), so a missing one is a
    // typed error of create rather than a failure after start.
    let mut exe: *const c_char = null();
    let mut last_err = libc::ENOENT;
    for cand in &p.exe_candidates {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(cand.as_ptr(), &mut st) == 0 {
            if st.st_mode & libc::S_IFMT == libc::S_IFREG && libc::access(cand.as_ptr(), libc::X_OK) == 0 {
                exe = cand.as_ptr();
                break;
            }
            last_err = libc::EACCES;
        }
    }
    if exe.is_null() {
        return Err(Fail { code: Code::ExecNotFound, errno: last_err, syscall: b"execve", path: p.arg0.as_ptr() });
    }
    // No fd but 0-2 and the preserved ones may reach the container
    // (CVE-2024-21626): mark every other one close-on-exec. The sync socket
    // and the fifo directory stay usable until execve.
    let first = (3 + plan.preserve_fds) as libc::c_uint;
    if libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC) < 0 {
        return Err(fail(Code::Syscall, b"close_range", NONE));
    }
    if plan.fifo_dir >= 0 {
        let ready = [msg::READY];
        libc::send(sock, ready.as_ptr() as *const c_void, 1, libc::MSG_NOSIGNAL);
        // Blocks until `start` opens the fifo for reading (runc's exec.fifo).
        let fd = libc::openat(plan.fifo_dir, plan.fifo_name.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(fail(Code::Syscall, b"open", plan.fifo_name.as_ptr()));
        }
        libc::write(fd, b"0".as_ptr() as *const c_void, 1);
        libc::close(fd);
        libc::close(plan.fifo_dir);
    }
    if p.no_new_privs {
        load_seccomp(p)?;
    }
    libc::execve(exe, p.argv_ptrs.as_ptr(), p.env_ptrs.as_ptr());
    Err(fail(Code::ExecFailed, b"execve", exe))
}
