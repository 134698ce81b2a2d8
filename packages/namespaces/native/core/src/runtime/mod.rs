//! The container runtime, following the OCI lifecycle
//! (created → running → stopped): [`create`], [`start`], [`kill`],
//! [`state`], [`delete`], [`exec`], [`pause`]/[`resume`].
//!
//! The parent plans everything ([`plan`]), clones a child with the
//! new-namespace flags ([`child`]), writes the uid/gid maps, oom_score_adj
//! and the cgroup, then lets the child go on over a sync socket ([`msg`]).
//! With `exec_fifo` the child blocks before execve on `<root>/<id>/exec.fifo`
//! until [`start`] reads it (runc's create/start split); without it (`run`)
//! the child execs at once and the parent returns when execve succeeded.
//! Waiting for exit is left to the caller (a thread that `waitpid`s).
mod child;
mod msg;
pub(crate) mod plan;
pub mod state;

use crate::cgroups::{self, Manager};
use crate::error::{Error, Result};
use crate::spec::{self, Process, Spec, NAMESPACE_ORDER};
use libc::{c_int, c_void};
use plan::{cpath, cstr, NsPlan, Plan};
pub use plan::StdioFds;
pub use state::{State, DEFAULT_ROOT};
use std::path::{Path, PathBuf};

/// What [`create`] needs.
pub struct CreateOptions {
    pub id: String,
    /// The runtime root holding `<id>/state.json`.
    pub root: PathBuf,
    /// The bundle directory (relative `root.path` and bind sources resolve against it).
    pub bundle: PathBuf,
    pub spec: Spec,
    pub stdio: StdioFds,
    /// Use MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// Pass fds 3 .. 3+n to the container.
    pub preserve_fds: i32,
    /// Block before execve until [`start`]; `false` runs at once.
    pub exec_fifo: bool,
}

/// What [`create`] returns.
#[derive(Debug, Clone)]
pub struct Created {
    pub pid: i32,
    pub state: State,
    /// The pty master, with `StdioFds::NewPty`.
    pub pty_master: Option<i32>,
}

fn sys<T: PartialOrd + Default>(rc: T, syscall: &str, path: Option<&str>) -> Result<T> {
    if rc < T::default() {
        Err(Error::last(syscall, path))
    } else {
        Ok(rc)
    }
}

struct Fd(c_int);
impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            unsafe { libc::close(self.0) };
        }
    }
}

fn open_cgroup(path: &str) -> Result<Option<Box<dyn Manager>>> {
    match cgroups::open(path, &cgroups::Options::default()) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.code == "ERR_NS_NOT_IMPLEMENTED" => Ok(None),
        Err(e) => Err(e),
    }
}

/// Receives one message from the sync socket; `None` on EOF. A pty master
/// passed with SCM_RIGHTS is stored in `fd_out`.
fn recv_fd(sock: c_int, fd_out: &mut Option<c_int>) -> Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 4400];
    loop {
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut c_void, iov_len: buf.len() };
        let mut cbuf = [0u64; 8];
        let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
        m.msg_iov = &mut iov;
        m.msg_iovlen = 1;
        m.msg_control = cbuf.as_mut_ptr() as *mut c_void;
        m.msg_controllen = std::mem::size_of_val(&cbuf);
        let n = unsafe { libc::recvmsg(sock, &mut m, libc::MSG_CMSG_CLOEXEC) };
        if n > 0 && m.msg_controllen > 0 {
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&m);
                if !c.is_null() && (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    *fd_out = Some(*(libc::CMSG_DATA(c) as *const c_int));
                }
            }
        }
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(Error::last("recv", None));
        }
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n as usize);
        return Ok(Some(buf));
    }
}

/// Reaps a child, retrying on EINTR.
pub fn reap(pid: i32) -> Option<c_int> {
    let mut status = 0;
    loop {
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r == pid {
            return Some(status);
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return None;
    }
}

fn write_file(path: &str, data: &[u8]) -> Result<()> {
    std::fs::write(path, data).map_err(|e| Error::io(&e, "write", Some(path)))
}

fn id_map(m: &[spec::IdMapping]) -> String {
    m.iter().map(|x| format!("{} {} {}\n", x.container_id, x.host_id, x.size)).collect()
}

/// The spawned child and the parent's end of the sync socket.
struct Spawned {
    pid: i32,
    sock: Fd,
}

/// Clones the child (and, with a joined pid namespace, the intermediate).
fn recv(sock: c_int) -> Result<Option<Vec<u8>>> {
    let mut fd = None;
    let r = recv_fd(sock, &mut fd);
    if let Some(f) = fd {
        unsafe { libc::close(f) };
    }
    r
}

fn spawn(plan: &Plan) -> Result<Spawned> {
    let mut sv = [-1; 2];
    sys(unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) }, "socketpair", None)?;
    let (psock, csock) = (Fd(sv[0]), Fd(sv[1]));
    // The fds the child keeps; it closes every other one at once, so fds
    // another thread opened for another container cannot leak into this one
    // (and hold that container's pipes and sync socket open).
    let mut keep: Vec<c_int> = plan.ns.joins.iter().map(|j| j.0).collect();
    keep.push(csock.0);
    keep.push(plan.fifo_dir);
    match plan.stdio {
        StdioFds::Fds(f) => keep.extend(f),
        StdioFds::Pty(s) => keep.push(s),
        StdioFds::NewPty { .. } => {}
    }
    keep.retain(|&f| f >= 3 + plan.preserve_fds);
    keep.sort_unstable();
    keep.dedup();
    // A new cgroup namespace is not a clone flag: the child unshares it
    // after the parent put it in its cgroup (as runc does), so the
    // namespace is rooted at the container's own cgroup.
    let flags = if plan.ns.intermediate { 0 } else { plan.ns.clone_flags & !libc::CLONE_NEWCGROUP } as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) } as c_int;
    if pid < 0 {
        return Err(Error::last("clone", None));
    }
    if pid == 0 {
        unsafe {
            child::close_others(&keep, 3 + plan.preserve_fds);
            child::child_main(plan, csock.0)
        }
    }
    drop(csock);
    if !plan.ns.intermediate {
        return Ok(Spawned { pid, sock: psock });
    }
    let m = recv(psock.0);
    reap(pid);
    match m? {
        Some(m) if m.len() == 5 && m[0] == msg::PID => Ok(Spawned { pid: i32::from_le_bytes([m[1], m[2], m[3], m[4]]), sock: psock }),
        Some(m) => Err(msg::decode_error(&m)),
        None => Err(Error::new("ERR_NS_INTERNAL", "the intermediate child exited without a pid")),
    }
}

/// After the parent's part, lets the child go on and reads its verdict:
/// `R` (ready, blocked on the fifo) when `expect_ready`, else EOF (exec'd).
/// Returns the pty master the child sent, if any.
fn release(pid: i32, sock: &Fd, expect_ready: bool) -> Result<Option<c_int>> {
    let go = [msg::GO];
    if unsafe { libc::send(sock.0, go.as_ptr() as *const c_void, 1, libc::MSG_NOSIGNAL) } != 1 {
        return Err(Error::new("ERR_NS_INTERNAL", "the container child exited before setup"));
    }
    let mut pty = None;
    let r = loop {
        let mut fd = None;
        let m = recv_fd(sock.0, &mut fd);
        if fd.is_some() {
            if let Some(old) = pty.replace(fd.unwrap()) {
                unsafe { libc::close(old) };
            }
        }
        match m {
            Ok(Some(m)) if m == [msg::PTY] => continue,
            Ok(Some(m)) if m == [msg::READY] && expect_ready => break Ok(()),
            Ok(None) if !expect_ready => break Ok(()),
            Ok(Some(m)) if m.first() == Some(&msg::ERROR) => break Err(msg::decode_error(&m)),
            Err(e) => break Err(e),
            _ => break Err(Error::new("ERR_NS_INTERNAL", format!("the container child (pid {pid}) exited during setup"))),
        }
    };
    match r {
        Ok(()) => Ok(pty),
        Err(e) => {
            if let Some(f) = pty {
                unsafe { libc::close(f) };
            }
            Err(e)
        }
    }
}

fn kill_and_reap(pid: i32) {
    unsafe { libc::kill(pid, libc::SIGKILL) };
    reap(pid);
}

fn ns_inode(pid: &str, name: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/{name}")).ok().map(|m| m.ino())
}

/// Plans the namespaces of a spec: new ones become clone flags, ones with a
/// path are opened to setns() in the child.
fn plan_namespaces(spec: &Spec) -> Result<(NsPlan, Vec<Fd>)> {
    let mut ns = NsPlan { clone_flags: 0, joins: Vec::new(), intermediate: false };
    let mut fds = Vec::new();
    let Some(linux) = &spec.linux else { return Ok((ns, fds)) };
    for kind in NAMESPACE_ORDER.iter().map(|k| if *k == "net" { "network" } else { k }).chain(["time"]) {
        let Some(n) = linux.namespaces.iter().find(|n| n.typ == kind) else { continue };
        let flag = spec::namespace_flag(&n.typ)?;
        match n.path.as_deref().filter(|p| !p.is_empty()) {
            None => ns.clone_flags |= flag,
            Some(p) => {
                let c = cstr(p)?;
                let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
                if fd < 0 {
                    let mut e = Error::last("open", Some(p));
                    e.code = "ERR_NS_NAMESPACE_FAILED";
                    return Err(e);
                }
                fds.push(Fd(fd));
                ns.joins.push((fd, flag));
                if flag == libc::CLONE_NEWPID {
                    ns.intermediate = true;
                }
            }
        }
    }
    Ok((ns, fds))
}

/// The directory under the root that caches compiled seccomp programs (not a
/// container: it has no `state.json`, so [`list`] skips it).
pub const SECCOMP_CACHE_DIR: &str = ".seccomp-cache";

/// Creates a container: state dir, cgroup, clone, setup up to just before
/// execve. With `exec_fifo` the process waits for [`start`]; without it the
/// process has exec'd when this returns.
pub fn create(o: CreateOptions) -> Result<Created> {
    o.spec.validate()?;
    let dir = state::dir(&o.root, &o.id)?;
    std::fs::create_dir_all(&o.root).map_err(|e| Error::io(&e, "mkdir", Some(&o.root.to_string_lossy())))?;
    if let Err(e) = std::fs::create_dir(&dir) {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            return Err(Error::new("ERR_NS_CONTAINER_EXISTS", format!("container {:?} already exists", o.id)));
        }
        return Err(Error::io(&e, "mkdir", Some(&dir.to_string_lossy())));
    }
    let mut cg: Option<Box<dyn Manager>> = None;
    let r = create_in(&o, &dir, &mut cg);
    if r.is_err() {
        if let Some(m) = &cg {
            let _ = m.remove();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    r
}

fn create_in(o: &CreateOptions, dir: &Path, cg_out: &mut Option<Box<dyn Manager>>) -> Result<Created> {
    let spec = &o.spec;
    let linux = spec.linux.clone().unwrap_or_default();
    let (ns, _ns_fds) = plan_namespaces(spec)?;
    let new_userns = ns.clone_flags & libc::CLONE_NEWUSER != 0;
    if spec.namespace("mount").is_none() {
        return Err(Error::new("ERR_NS_INVALID_SPEC", "berth needs a mount namespace (linux.namespaces has no \"mount\")"));
    }
    let process = spec.process.as_ref().ok_or_else(|| Error::new("ERR_NS_INVALID_SPEC", "spec has no process"))?;
    let rootfs = plan::plan_rootfs(spec, &o.bundle, o.no_pivot, new_userns)?;
    let rootfs_path = String::from_utf8_lossy(rootfs.rootfs.as_bytes()).to_string();
    let mut fifo_dir = Fd(-1);
    if o.exec_fifo {
        let fifo = cpath(&dir.join("exec.fifo"))?;
        sys(unsafe { libc::mkfifo(fifo.as_ptr(), 0o622) }, "mkfifo", Some(&dir.join("exec.fifo").to_string_lossy()))?;
        // mkfifo applies the umask; a user-namespaced init opens it as "other".
        sys(unsafe { libc::chmod(fifo.as_ptr(), 0o622) }, "chmod", Some(&dir.join("exec.fifo").to_string_lossy()))?;
        fifo_dir = Fd(sys(unsafe { libc::open(cpath(dir)?.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) }, "open", Some(&dir.to_string_lossy()))?);
    }
    let plan = Plan {
        ns,
        rootfs: Some(rootfs),
        process: plan::plan_process(process, linux.seccomp.as_ref(), dir.parent().map(|r| r.join(SECCOMP_CACHE_DIR)).as_deref())?,
        stdio: o.stdio,
        preserve_fds: o.preserve_fds,
        fifo_dir: fifo_dir.0,
        fifo_name: cstr("exec.fifo")?,
        new_userns,
    };
    // The cgroup: runc's cgroupfs driver, a relative path goes under /berth.
    let cg_path = linux.cgroups_path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| o.id.clone());
    let cg = open_cgroup(&cg_path)?;
    if let Some(m) = &cg {
        m.create()?;
    }
    *cg_out = cg;
    let cg = cg_out.as_deref();
    if let (Some(m), Some(res)) = (cg, &linux.resources) {
        m.apply(&with_default_devices(res, &linux.devices))?;
    }
    let sp = spawn(&plan)?;
    let pid = sp.pid;
    let r = (|| -> Result<Option<c_int>> {
        if new_userns {
            write_file(&format!("/proc/{pid}/uid_map"), id_map(&linux.uid_mappings).as_bytes())?;
            if unsafe { libc::geteuid() } != 0 {
                write_file(&format!("/proc/{pid}/setgroups"), b"deny")?;
            }
            write_file(&format!("/proc/{pid}/gid_map"), id_map(&linux.gid_mappings).as_bytes())?;
        }
        if let Some(adj) = process.oom_score_adj {
            write_file(&format!("/proc/{pid}/oom_score_adj"), adj.to_string().as_bytes())?;
        }
        if let Some(m) = cg {
            m.add_task(pid)?;
        }
        release(pid, &sp.sock, o.exec_fifo)
    })();
    drop(fifo_dir);
    let pty_master = match r {
        Ok(p) => p,
        Err(e) => {
            kill_and_reap(pid);
            return Err(e);
        }
    };
    let st = State {
        oci_version: if spec.oci_version.is_empty() { "1.0.2".into() } else { spec.oci_version.clone() },
        id: o.id.clone(),
        status: if o.exec_fifo { "created" } else { "running" }.into(),
        pid,
        bundle: o.bundle.to_string_lossy().to_string(),
        rootfs: rootfs_path,
        created: state::rfc3339(std::time::SystemTime::now()),
        owner: String::new(),
        annotations: spec.annotations.clone(),
        cgroups_path: cg.map(|m| m.path().to_string()),
        pid_start_time: state::proc_stat(pid).map(|s| s.0).unwrap_or(0),
    };
    if let Err(e) = state::save(&o.root, &st) {
        kill_and_reap(pid);
        if let Some(f) = pty_master {
            unsafe { libc::close(f) };
        }
        return Err(e);
    }
    Ok(Created { pid, state: st, pty_master })
}

/// The device rules runc adds after the spec's own (specconv's
/// AllowedDevices): mknod of any device, the default devices, ptys and tun,
/// and every `linux.devices` entry, so a spec's "deny all" still leaves the
/// container the devices it was given.
pub fn with_default_devices(res: &cgroups::LinuxResources, devices: &[spec::Device]) -> cgroups::LinuxResources {
    let mut r = res.clone();
    if r.devices.is_empty() {
        return r;
    }
    let rule = |typ: &str, major: i64, minor: i64, access: &str| cgroups::LinuxDeviceCgroup {
        allow: true,
        typ: Some(typ.to_string()),
        major: if major < 0 { None } else { Some(major) },
        minor: if minor < 0 { None } else { Some(minor) },
        access: Some(access.to_string()),
    };
    r.devices.push(rule("c", -1, -1, "m"));
    r.devices.push(rule("b", -1, -1, "m"));
    for (major, minor) in [(1, 3), (1, 5), (1, 7), (5, 0), (1, 9), (1, 8), (136, -1), (5, 2), (10, 200)] {
        r.devices.push(rule("c", major, minor, "rwm"));
    }
    for d in devices {
        let typ = if d.typ == "b" { "b" } else { "c" };
        if d.typ != "p" {
            r.devices.push(rule(typ, d.major, d.minor, "rwm"));
        }
    }
    r
}

/// Reads a container's state, with `status` computed now.
pub fn state(root: &Path, id: &str) -> Result<State> {
    let mut s = state::load_raw(root, id)?;
    s.status = if !state::init_alive(&s) {
        "stopped"
    } else if root.join(id).join("exec.fifo").exists() {
        "created"
    } else if frozen(&s) {
        "paused"
    } else {
        "running"
    }
    .into();
    Ok(s)
}

fn frozen(s: &State) -> bool {
    let Some(p) = &s.cgroups_path else { return false };
    match open_cgroup(p) {
        Ok(Some(m)) => matches!(m.freezer_state(), Ok(cgroups::FreezerState::Frozen) | Ok(cgroups::FreezerState::Freezing)),
        _ => false,
    }
}

/// The ids of the containers under `root`.
pub fn list(root: &Path) -> Result<Vec<State>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(&e, "opendir", Some(&root.to_string_lossy()))),
    };
    let mut ids: Vec<String> = rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().to_string()).collect();
    ids.sort();
    for id in ids {
        if let Ok(s) = state(root, &id) {
            out.push(s);
        }
    }
    Ok(out)
}

fn precondition(id: &str, status: &str, want: &str) -> Error {
    Error::new("ERR_NS_CONTAINER_STATE", format!("container {id:?} is {status}, not {want}"))
}

/// Starts a created container: opens its exec fifo, which releases the
/// child into execve. Returns once the child has taken the token.
pub fn start(root: &Path, id: &str) -> Result<State> {
    let s = state(root, id)?;
    if s.status != "created" {
        return Err(precondition(id, &s.status, "created"));
    }
    let fifo = root.join(id).join("exec.fifo");
    let fp = fifo.to_string_lossy().to_string();
    let c = cpath(&fifo)?;
    let fd = Fd(sys(unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) }, "open", Some(&fp))?);
    // The child opens the fifo for writing and writes one byte; poll so a
    // child that died meanwhile does not hang us.
    loop {
        let mut p = libc::pollfd { fd: fd.0, events: libc::POLLIN, revents: 0 };
        let n = unsafe { libc::poll(&mut p, 1, 50) };
        if n > 0 && p.revents & libc::POLLIN != 0 {
            let mut b = [0u8; 1];
            let r = unsafe { libc::read(fd.0, b.as_mut_ptr() as *mut c_void, 1) };
            if r == 1 {
                break;
            }
        }
        if !state::init_alive(&s) {
            let _ = std::fs::remove_file(&fifo);
            return Err(Error::new("ERR_NS_CONTAINER_STATE", format!("container {id:?} exited before start")));
        }
    }
    let _ = std::fs::remove_file(&fifo);
    Ok(State { status: "running".into(), ..s })
}

/// Sends `sig` to the container's init, or with `all` to every process of its cgroup.
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let s = state(root, id)?;
    if s.status == "stopped" {
        return Err(precondition(id, &s.status, "running"));
    }
    if all {
        if let Some(m) = s.cgroups_path.as_deref().map(open_cgroup).transpose()?.flatten() {
            return m.kill_all(sig);
        }
    }
    sys(unsafe { libc::kill(s.pid, sig) }, "kill", None).map(|_| ())
}

/// Deletes a stopped container (or, with `force`, kills it first): removes
/// its cgroup and state directory. Reaps the init if it is our child.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let s = state(root, id)?;
    if s.status != "stopped" && s.status != "created" && !force {
        return Err(precondition(id, &s.status, "stopped"));
    }
    let cg = s.cgroups_path.as_deref().map(open_cgroup).transpose()?.flatten();
    if s.status != "stopped" {
        if let Some(m) = &cg {
            if s.status == "paused" {
                let _ = m.thaw();
            }
            let _ = m.kill_all(libc::SIGKILL);
        }
        if state::init_alive(&s) {
            unsafe { libc::kill(s.pid, libc::SIGKILL) };
        }
        // Reap it when it is our child (no-op otherwise); wait for it to die.
        for _ in 0..200 {
            let mut st = 0;
            unsafe { libc::waitpid(s.pid, &mut st, libc::WNOHANG | libc::__WALL) };
            if !state::init_alive(&s) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    if let Some(m) = &cg {
        m.remove()?;
    }
    let d = state::dir(root, id)?;
    std::fs::remove_dir_all(&d).map_err(|e| Error::io(&e, "rmdir", Some(&d.to_string_lossy())))
}

/// Freezes a running container (cgroup freezer).
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let s = state(root, id)?;
    if s.status != "running" {
        return Err(precondition(id, &s.status, "running"));
    }
    cgroup_of(&s)?.freeze()
}

/// Thaws a paused container.
pub fn resume(root: &Path, id: &str) -> Result<()> {
    let s = state(root, id)?;
    if s.status != "paused" {
        return Err(precondition(id, &s.status, "paused"));
    }
    cgroup_of(&s)?.thaw()
}

/// The cgroup manager of a container.
pub fn cgroup_of(s: &State) -> Result<Box<dyn Manager>> {
    let p = s.cgroups_path.as_deref().ok_or_else(|| Error::new("ERR_NS_NO_CGROUP", format!("container {:?} has no cgroup", s.id)))?;
    open_cgroup(p)?.ok_or_else(|| Error::new("ERR_NS_NOT_IMPLEMENTED", "cgroup backends are not available"))
}

/// Did the kernel OOM-kill a task of this container?
pub fn oom_killed(cgroups_path: &str) -> bool {
    matches!(open_cgroup(cgroups_path), Ok(Some(m)) if m.oom_killed().unwrap_or(false))
}

/// The pids of a container's processes (its cgroup, or its pid namespace).
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let s = state(root, id)?;
    if let Some(m) = s.cgroups_path.as_deref().map(open_cgroup).transpose()?.flatten() {
        return m.pids();
    }
    let Some(ino) = ns_inode(&s.pid.to_string(), "pid") else { return Ok(vec![]) };
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").map_err(|e| Error::io(&e, "opendir", Some("/proc")))?.flatten() {
        if let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() {
            if ns_inode(&p.to_string(), "pid") == Some(ino) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// What [`exec`] needs besides the container.
pub struct ExecOptions {
    pub process: Process,
    pub stdio: StdioFds,
    pub preserve_fds: i32,
}

/// Runs another process in a running container: an intermediate child
/// setns()es into each of its namespaces that differ from ours (user
/// first, mount last) and clones the process as our child, which then
/// joins the container's cgroups. Returns its host pid once it exec'd, and
/// the pty master with `StdioFds::NewPty`.
pub fn exec(root: &Path, id: &str, o: ExecOptions) -> Result<(i32, Option<i32>)> {
    let s = state(root, id)?;
    if s.status != "running" && s.status != "created" {
        return Err(precondition(id, &s.status, "running"));
    }
    let init = s.pid.to_string();
    let mut fds = Vec::new();
    let mut joins = Vec::new();
    for (name, flag) in [("user", libc::CLONE_NEWUSER), ("ipc", libc::CLONE_NEWIPC), ("uts", libc::CLONE_NEWUTS), ("net", libc::CLONE_NEWNET), ("pid", libc::CLONE_NEWPID), ("cgroup", libc::CLONE_NEWCGROUP), ("mnt", libc::CLONE_NEWNS)] {
        let theirs = ns_inode(&init, name);
        if theirs.is_none() || theirs == ns_inode("self", name) {
            continue;
        }
        let p = format!("/proc/{init}/ns/{name}");
        let c = cstr(&p)?;
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(Error::last("open", Some(&p)));
        }
        fds.push(Fd(fd));
        joins.push((fd, flag));
    }
    // The container's seccomp profile applies to exec'd processes too.
    let cfg = Path::new(&s.bundle).join("config.json");
    let seccomp = match std::fs::read(&cfg) {
        Ok(b) => Spec::from_json(&b).ok().and_then(|sp| sp.linux.and_then(|l| l.seccomp)),
        Err(_) => None,
    };
    let plan = Plan {
        ns: NsPlan { clone_flags: 0, joins, intermediate: true },
        rootfs: None,
        process: plan::plan_process(&o.process, seccomp.as_ref(), Some(&root.join(SECCOMP_CACHE_DIR)))?,
        stdio: o.stdio,
        preserve_fds: o.preserve_fds,
        fifo_dir: -1,
        fifo_name: cstr("")?,
        new_userns: false,
    };
    let sp = spawn(&plan)?;
    let pid = sp.pid;
    let r = (|| -> Result<Option<c_int>> {
        if let Some(adj) = o.process.oom_score_adj {
            write_file(&format!("/proc/{pid}/oom_score_adj"), adj.to_string().as_bytes())?;
        }
        join_cgroups_of(s.pid, pid);
        release(pid, &sp.sock, false)
    })();
    match r {
        Ok(pty) => Ok((pid, pty)),
        Err(e) => {
            kill_and_reap(pid);
            Err(e)
        }
    }
}

/// Puts `pid` in every cgroup of `of` (read from `/proc/<of>/cgroup`).
fn join_cgroups_of(of: i32, pid: i32) {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{of}/cgroup")) else { return };
    let unified = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "/sys/fs/cgroup" } else { "/sys/fs/cgroup/unified" };
    for line in s.lines() {
        let mut it = line.splitn(3, ':');
        let (_, ctrls, path) = (it.next(), it.next().unwrap_or(""), it.next().unwrap_or("/"));
        let base = if ctrls.is_empty() { unified.to_string() } else { format!("/sys/fs/cgroup/{}", ctrls.strip_prefix("name=").unwrap_or(ctrls)) };
        let _ = std::fs::write(format!("{base}{path}/cgroup.procs"), pid.to_string());
    }
}

/// Opens a pseudo-terminal pair: (master, slave), both close-on-exec.
pub fn openpty(rows: u16, cols: u16) -> Result<(c_int, c_int)> {
    let master = sys(unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) }, "posix_openpt", None)?;
    let m = Fd(master);
    sys(unsafe { libc::grantpt(master) }, "grantpt", None)?;
    sys(unsafe { libc::unlockpt(master) }, "unlockpt", None)?;
    let mut name = [0 as libc::c_char; 128];
    let rc = unsafe { libc::ptsname_r(master, name.as_mut_ptr(), name.len()) };
    if rc != 0 {
        return Err(Error::sys(rc, "ptsname_r", None));
    }
    let slave = sys(unsafe { libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) }, "open", Some("/dev/pts"))?;
    if rows > 0 && cols > 0 {
        resize_pty(master, rows, cols)?;
    }
    std::mem::forget(m);
    Ok((master, slave))
}

/// Sets a pty's window size (TIOCSWINSZ).
pub fn resize_pty(fd: c_int, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    sys(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }, "ioctl(TIOCSWINSZ)", None).map(|_| ())
}

/// Decodes a wait status: (exit code, terminating signal).
pub fn decode_status(status: c_int) -> (Option<i32>, Option<i32>) {
    if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    }
}

/// Waits for a process that is not our child (pidfd + poll); its exit status is unknowable.
pub fn wait_foreign(pid: i32) -> Result<()> {
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as c_int;
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        return Err(Error::io(&e, "pidfd_open", None));
    }
    let fd = Fd(fd);
    loop {
        let mut p = libc::pollfd { fd: fd.0, events: libc::POLLIN, revents: 0 };
        let n = unsafe { libc::poll(&mut p, 1, -1) };
        if n > 0 {
            return Ok(());
        }
        if n < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Err(Error::last("poll", None));
        }
    }
}
