//! The plan: everything the child needs, computed in the parent before
//! clone (C strings, flags, masks, the seccomp program). The child then
//! only makes system calls: it does not allocate, parse or format, which
//! keeps it safe after cloning a multi-threaded process and keeps the
//! clone → exec path short.
use crate::caps::CapSets;
use crate::error::{Error, Result};
use crate::rootfs::{parse_options, propagation_flag, secure_join};
use crate::seccomp::{self, Program};
use crate::spec::{self, Process, Spec};
use libc::{c_char, c_int, c_ulong};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub(crate) fn cstr(s: impl AsRef<[u8]>) -> Result<CString> {
    CString::new(s.as_ref().to_vec()).map_err(|_| Error::new("ERR_NS_INVALID_SPEC", "string contains a NUL byte"))
}

pub(crate) fn cpath(p: &Path) -> Result<CString> {
    cstr(p.as_os_str().as_bytes())
}

/// What a mount operation mounts.
pub(crate) enum MountKind {
    Normal,
    Bind,
    /// A tmpfs with each v1 hierarchy mounted under it: (dir, controllers), plus symlinks (target, link).
    Cgroup(Vec<(CString, CString)>, Vec<(CString, CString)>),
}

pub(crate) struct MountOp {
    pub kind: MountKind,
    pub source: Option<CString>,
    pub target: CString,
    pub fstype: Option<CString>,
    pub flags: c_ulong,
    pub data: Option<CString>,
    pub remount: c_ulong,
    pub propagation: Vec<c_ulong>,
    pub dirs: Vec<CString>,
    pub file: bool,
    /// For sysfs/mqueue, which a user namespace may not mount: rbind this host path instead.
    pub fallback_bind: Option<CString>,
}

pub(crate) struct DevOp {
    pub target: CString,
    pub host: CString,
    pub mode: u32,
    pub dev: libc::dev_t,
    pub uid: u32,
    pub gid: u32,
}

pub(crate) struct RootfsPlan {
    pub rootfs: CString,
    pub root_propagation: c_ulong,
    pub mounts: Vec<MountOp>,
    pub devices: Vec<DevOp>,
    pub links: Vec<(CString, CString)>,
    pub no_pivot: bool,
    pub readonly: bool,
    pub final_propagation: c_ulong,
    pub sysctl: Vec<(CString, Vec<u8>)>,
    pub masked: Vec<CString>,
    pub readonly_paths: Vec<CString>,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
}

/// The process part of the plan (also used by exec). `argv` and `env` own
/// the strings `argv_ptrs` and `env_ptrs` point into.
#[allow(dead_code)]
pub(crate) struct ProcessPlan {
    pub argv: Vec<CString>,
    pub argv_ptrs: Vec<*const c_char>,
    pub env: Vec<CString>,
    pub env_ptrs: Vec<*const c_char>,
    /// The paths to try for `args[0]` (PATH lookup in the container env).
    pub exe_candidates: Vec<CString>,
    pub arg0: CString,
    pub cwd: CString,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<libc::gid_t>,
    pub umask: u32,
    pub rlimits: Vec<(c_int, u64, u64)>,
    pub caps: CapSets,
    pub no_new_privs: bool,
    pub seccomp: Option<Program>,
    pub terminal: bool,
}

/// Stdio of the child: fds to dup onto 0, 1 and 2 (`-1` keeps the inherited
/// one), a pty slave to make the controlling terminal, or a new pty that
/// the child opens from the container's own `/dev/ptmx` (so `tty` names it
/// inside) and whose master it sends to the parent (as runc does).
#[derive(Debug, Clone, Copy)]
pub enum StdioFds {
    Fds([c_int; 3]),
    Pty(c_int),
    NewPty { rows: u16, cols: u16 },
}

/// Where the child's namespaces come from.
pub(crate) struct NsPlan {
    /// `CLONE_NEW*` flags of new namespaces.
    pub clone_flags: c_int,
    /// Namespaces to join: (fd, CLONE_NEW* type), user first, mount last.
    pub joins: Vec<(c_int, c_int)>,
    /// A pid namespace is joined: an intermediate child setns()es and clones
    /// the real child with CLONE_PARENT.
    pub intermediate: bool,
}

pub(crate) struct Plan {
    pub ns: NsPlan,
    pub rootfs: Option<RootfsPlan>,
    pub process: ProcessPlan,
    pub stdio: StdioFds,
    pub preserve_fds: c_int,
    /// Directory fd holding `exec.fifo`; the child blocks opening it until `start`.
    pub fifo_dir: c_int,
    pub fifo_name: CString,
    pub new_userns: bool,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn rlimit_resource(name: &str) -> Result<c_int> {
    Ok(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return Err(Error::new("ERR_NS_INVALID_SPEC", format!("unknown rlimit {name:?}"))),
    } as c_int)
}

fn ptrs(v: &[CString]) -> Vec<*const c_char> {
    let mut p: Vec<*const c_char> = v.iter().map(|c| c.as_ptr()).collect();
    p.push(std::ptr::null());
    p
}

/// Plans the process part of a spec (for create, and for exec with `seccomp` of the container);
/// the seccomp program is compiled through `seccomp_cache` when given.
pub(crate) fn plan_process(p: &Process, seccomp_profile: Option<&spec::Seccomp>, seccomp_cache: Option<&Path>) -> Result<ProcessPlan> {
    if p.args.is_empty() {
        return Err(Error::new("ERR_NS_INVALID_SPEC", "process.args is empty"));
    }
    let argv = p.args.iter().map(cstr).collect::<Result<Vec<_>>>()?;
    let env = p.env.iter().map(cstr).collect::<Result<Vec<_>>>()?;
    let arg0 = &p.args[0];
    let exe_candidates = if arg0.contains('/') {
        vec![cstr(arg0)?]
    } else {
        let path = p.env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
        path.split(':').map(|d| cstr(format!("{}/{}", if d.is_empty() { "." } else { d }, arg0))).collect::<Result<Vec<_>>>()?
    };
    let cwd = if p.cwd.is_empty() { "/" } else { p.cwd.as_str() };
    if !cwd.starts_with('/') {
        return Err(Error::new("ERR_NS_INVALID_SPEC", format!("process.cwd {cwd:?} is not absolute")));
    }
    let rlimits = p.rlimits.iter().map(|r| Ok((rlimit_resource(&r.typ)?, r.soft, r.hard))).collect::<Result<Vec<_>>>()?;
    Ok(ProcessPlan {
        argv_ptrs: ptrs(&argv),
        env_ptrs: ptrs(&env),
        argv,
        env,
        exe_candidates,
        arg0: cstr(arg0)?,
        cwd: cstr(cwd)?,
        uid: p.user.uid,
        gid: p.user.gid,
        groups: p.user.additional_gids.clone(),
        umask: p.user.umask.unwrap_or(0o022),
        rlimits,
        caps: CapSets::from_spec(p.capabilities.as_ref())?,
        no_new_privs: p.no_new_privileges,
        seccomp: match seccomp_profile {
            Some(s) => Some(seccomp::compile_cached(s, seccomp_cache)?),
            None => None,
        },
        terminal: p.terminal,
    })
}

/// The default devices every container gets when `/dev` is a fresh mount.
const DEFAULT_DEVICES: [(&str, u32, u32); 6] = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

/// The v1 hierarchies of this process (`/proc/self/cgroup`): controller lists such as `cpu,cpuacct`.
fn v1_hierarchies() -> Vec<String> {
    let s = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    s.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _ = it.next()?;
            let ctrls = it.next()?;
            if ctrls.is_empty() {
                None
            } else {
                Some(ctrls.to_string())
            }
        })
        .collect()
}

fn mkdirs_for(rootfs: &Path, target: &Path, include_self: bool) -> Result<Vec<CString>> {
    let rel = target.strip_prefix(rootfs).unwrap_or(target);
    let mut out = Vec::new();
    let mut cur = rootfs.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    let n = if include_self { comps.len() } else { comps.len().saturating_sub(1) };
    for c in &comps[..n] {
        cur.push(c);
        out.push(cpath(&cur)?);
    }
    Ok(out)
}

/// Plans the rootfs: resolves paths, parses mount options, lists devices.
pub(crate) fn plan_rootfs(spec: &Spec, bundle: &Path, no_pivot: bool, new_userns: bool) -> Result<RootfsPlan> {
    let root = spec.root.as_ref().ok_or_else(|| Error::new("ERR_NS_INVALID_SPEC", "spec has no root"))?;
    let rootfs_path = if Path::new(&root.path).is_absolute() { PathBuf::from(&root.path) } else { bundle.join(&root.path) };
    let rootfs = std::fs::canonicalize(&rootfs_path).map_err(|e| {
        let mut err = Error::io(&e, "realpath", Some(&rootfs_path.to_string_lossy()));
        err.code = "ERR_NS_ROOTFS_NOT_FOUND";
        err
    })?;
    let linux = spec.linux.clone().unwrap_or_default();
    let root_propagation = match &linux.rootfs_propagation {
        Some(p) if !p.is_empty() => propagation_flag(p).ok_or_else(|| Error::new("ERR_NS_INVALID_SPEC", format!("bad rootfsPropagation {p:?}")))?,
        _ => libc::MS_SLAVE | libc::MS_REC,
    };
    let mut mounts = Vec::new();
    let mut dev_is_fresh = false;
    let mut has_devpts = false;
    for m in &spec.mounts {
        let o = parse_options(&m.options);
        let typ = m.typ.as_deref().unwrap_or("");
        let target = secure_join(&rootfs, &m.destination);
        let bind = o.is_bind() || typ == "bind";
        if m.destination == "/dev" && !bind {
            dev_is_fresh = true;
        }
        if m.destination == "/dev/pts" && typ == "devpts" {
            has_devpts = true;
        }
        let source = m.source.as_deref().map(|s| if bind && !s.starts_with('/') { bundle.join(s) } else { PathBuf::from(s) });
        let file = bind && source.as_ref().map(|s| std::fs::metadata(s).map(|md| !md.is_dir()).unwrap_or(false)).unwrap_or(false);
        let kind = if bind {
            MountKind::Bind
        } else if typ == "cgroup" {
            let mut dirs = Vec::new();
            let mut links = Vec::new();
            for h in v1_hierarchies() {
                let name = h.strip_prefix("name=").unwrap_or(&h).to_string();
                let dir = target.join(&name);
                dirs.push((cpath(&dir)?, cstr(&h)?));
                if h.contains(',') && !h.starts_with("name=") {
                    for part in h.split(',') {
                        links.push((cstr(&name)?, cpath(&target.join(part))?));
                    }
                }
            }
            MountKind::Cgroup(dirs, links)
        } else {
            MountKind::Normal
        };
        let fallback_bind = match typ {
            "sysfs" if new_userns => Some(cstr("/sys")?),
            "mqueue" if new_userns => Some(cstr("/dev/mqueue")?),
            _ => None,
        };
        mounts.push(MountOp {
            kind,
            source: source.as_deref().map(cpath).transpose()?,
            dirs: mkdirs_for(&rootfs, &target, !file)?,
            target: cpath(&target)?,
            fstype: if bind { None } else { Some(cstr(if typ.is_empty() { "none" } else { typ })?) },
            flags: if bind { libc::MS_BIND | (o.flags & libc::MS_REC) } else { o.flags },
            data: if o.data.is_empty() { None } else { Some(cstr(&o.data)?) },
            remount: if bind { o.remount_flags() } else { 0 },
            propagation: o.propagation.clone(),
            file,
            fallback_bind,
        });
    }
    let mut devices = Vec::new();
    let mut links = Vec::new();
    if dev_is_fresh {
        for (name, major, minor) in DEFAULT_DEVICES {
            devices.push(DevOp {
                target: cpath(&rootfs.join("dev").join(name))?,
                host: cstr(format!("/dev/{name}"))?,
                mode: libc::S_IFCHR | 0o666,
                dev: libc::makedev(major, minor),
                uid: 0,
                gid: 0,
            });
        }
        for (t, l) in [("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr")] {
            links.push((cstr(t)?, cpath(&rootfs.join("dev").join(l))?));
        }
        if has_devpts {
            links.push((cstr("pts/ptmx")?, cpath(&rootfs.join("dev/ptmx"))?));
        }
    }
    for d in &linux.devices {
        let kind = match d.typ.as_str() {
            "c" | "u" => libc::S_IFCHR,
            "b" => libc::S_IFBLK,
            "p" => libc::S_IFIFO,
            t => return Err(Error::new("ERR_NS_INVALID_SPEC", format!("bad device type {t:?}"))),
        };
        let target = secure_join(&rootfs, &d.path);
        devices.retain(|x| x.target.as_bytes() != target.as_os_str().as_bytes());
        devices.push(DevOp {
            target: cpath(&target)?,
            host: cstr(&d.path)?,
            mode: kind | d.file_mode.unwrap_or(0o666) & 0o7777,
            dev: libc::makedev(d.major as u32, d.minor as u32),
            uid: d.uid.unwrap_or(0),
            gid: d.gid.unwrap_or(0),
        });
    }
    let sysctl = linux
        .sysctl
        .iter()
        .map(|(k, v)| Ok((cstr(format!("/proc/sys/{}", k.replace('.', "/")))?, v.as_bytes().to_vec())))
        .collect::<Result<Vec<_>>>()?;
    let final_propagation = match &linux.rootfs_propagation {
        Some(p) if p == "shared" || p == "rshared" || p == "unbindable" || p == "runbindable" => propagation_flag(p).unwrap_or(0),
        _ => 0,
    };
    Ok(RootfsPlan {
        rootfs: cpath(&rootfs)?,
        root_propagation: if final_propagation != 0 { libc::MS_SLAVE | libc::MS_REC } else { root_propagation },
        mounts,
        devices,
        links,
        no_pivot,
        readonly: root.readonly,
        final_propagation,
        sysctl,
        masked: linux.masked_paths.iter().map(cstr).collect::<Result<_>>()?,
        readonly_paths: linux.readonly_paths.iter().map(cstr).collect::<Result<_>>()?,
        hostname: spec.hostname.as_deref().filter(|h| !h.is_empty()).map(cstr).transpose()?,
        domainname: spec.domainname.as_deref().filter(|h| !h.is_empty()).map(cstr).transpose()?,
    })
}
