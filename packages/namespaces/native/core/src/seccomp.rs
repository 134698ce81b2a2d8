//! Seccomp: compiles an OCI `linux.seccomp` profile to a classic BPF program
//! through libseccomp (linked by `build.rs`), in the parent. The child only
//! loads the ready program with `seccomp(2)`, so it allocates nothing.
use crate::error::{Error, Result};
use crate::spec::Seccomp;
use std::ffi::{c_char, c_int, c_void, CString};

#[repr(C)]
#[derive(Clone, Copy)]
struct ScmpArgCmp {
    arg: u32,
    op: c_int,
    datum_a: u64,
    datum_b: u64,
}

extern "C" {
    fn seccomp_init(def_action: u32) -> *mut c_void;
    fn seccomp_release(ctx: *mut c_void);
    fn seccomp_arch_resolve_name(name: *const c_char) -> u32;
    fn seccomp_arch_add(ctx: *mut c_void, arch_token: u32) -> c_int;
    fn seccomp_syscall_resolve_name(name: *const c_char) -> c_int;
    fn seccomp_rule_add_array(ctx: *mut c_void, action: u32, syscall: c_int, arg_cnt: u32, arg_array: *const ScmpArgCmp) -> c_int;
    fn seccomp_export_bpf(ctx: *const c_void, fd: c_int) -> c_int;
    fn seccomp_attr_set(ctx: *mut c_void, attr: c_int, value: u32) -> c_int;
}

const SCMP_FLTATR_CTL_NNP: c_int = 3;
const SCMP_FLTATR_CTL_TSYNC: c_int = 4;

/// The `seccomp(2)` flags of a profile's `flags`.
pub const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1;
pub const SECCOMP_FILTER_FLAG_LOG: u32 = 2;
pub const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u32 = 4;

/// A compiled filter: `struct sock_filter` instructions (8 bytes each) and the
/// `seccomp(2)` flags to load it with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Program {
    pub filter: Vec<u64>,
    pub flags: u32,
}

/// The libseccomp action of an OCI action name, with its errno.
pub fn action(name: &str, errno_ret: Option<u32>, default_errno: Option<u32>) -> Result<u32> {
    let errno = errno_ret.or(default_errno).unwrap_or(libc::EPERM as u32) & 0xffff;
    Ok(match name {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => 0x0000_0000,
        "SCMP_ACT_KILL_PROCESS" => 0x8000_0000,
        "SCMP_ACT_TRAP" => 0x0003_0000,
        "SCMP_ACT_ERRNO" => 0x0005_0000 | errno,
        "SCMP_ACT_TRACE" => 0x7ff0_0000 | errno,
        "SCMP_ACT_LOG" => 0x7ffc_0000,
        "SCMP_ACT_ALLOW" => 0x7fff_0000,
        "SCMP_ACT_NOTIFY" => return Err(Error::new("ERR_NS_NOT_IMPLEMENTED", "seccomp SCMP_ACT_NOTIFY is not supported")),
        _ => return Err(Error::new("ERR_NS_INVALID_SPEC", format!("unknown seccomp action {name:?}"))),
    })
}

/// The libseccomp comparison of an OCI operator name.
pub fn operator(op: &str) -> Result<c_int> {
    Ok(match op {
        "SCMP_CMP_NE" => 1,
        "SCMP_CMP_LT" => 2,
        "SCMP_CMP_LE" => 3,
        "SCMP_CMP_EQ" => 4,
        "SCMP_CMP_GE" => 5,
        "SCMP_CMP_GT" => 6,
        "SCMP_CMP_MASKED_EQ" => 7,
        _ => return Err(Error::new("ERR_NS_INVALID_SPEC", format!("unknown seccomp operator {op:?}"))),
    })
}

/// The libseccomp architecture name of an OCI one (`SCMP_ARCH_X86_64` → `x86_64`).
pub fn arch_name(oci: &str) -> String {
    oci.strip_prefix("SCMP_ARCH_").unwrap_or(oci).to_ascii_lowercase()
}

struct Ctx(*mut c_void);
impl Drop for Ctx {
    fn drop(&mut self) {
        unsafe { seccomp_release(self.0) }
    }
}

/// Compiles a profile. Syscall names this libseccomp does not know are
/// skipped (profiles list syscalls of newer kernels), as are rules whose
/// action equals the default.
pub fn compile(profile: &Seccomp) -> Result<Program> {
    let default = action(&profile.default_action, None, profile.default_errno_ret)?;
    let ctx = Ctx(unsafe { seccomp_init(default) });
    if ctx.0.is_null() {
        return Err(Error::new("ERR_NS_SECCOMP", "seccomp_init failed"));
    }
    let rc = unsafe { seccomp_attr_set(ctx.0, SCMP_FLTATR_CTL_NNP, 0) };
    if rc < 0 {
        return Err(Error::sys(-rc, "seccomp_attr_set", None));
    }
    let mut flags = 0;
    for f in &profile.flags {
        flags |= match f.as_str() {
            "SECCOMP_FILTER_FLAG_TSYNC" => SECCOMP_FILTER_FLAG_TSYNC,
            "SECCOMP_FILTER_FLAG_LOG" => SECCOMP_FILTER_FLAG_LOG,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            _ => return Err(Error::new("ERR_NS_INVALID_SPEC", format!("unknown seccomp flag {f:?}"))),
        };
    }
    let _ = SCMP_FLTATR_CTL_TSYNC;
    for a in &profile.architectures {
        let n = CString::new(arch_name(a)).map_err(|_| Error::invalid("bad architecture name"))?;
        let token = unsafe { seccomp_arch_resolve_name(n.as_ptr()) };
        if token == 0 {
            return Err(Error::new("ERR_NS_INVALID_SPEC", format!("unknown seccomp architecture {a:?}")));
        }
        let rc = unsafe { seccomp_arch_add(ctx.0, token) };
        if rc < 0 && rc != -libc::EEXIST {
            return Err(Error::sys(-rc, "seccomp_arch_add", Some(a)));
        }
    }
    for rule in &profile.syscalls {
        let act = action(&rule.action, rule.errno_ret, profile.default_errno_ret)?;
        if act == default {
            continue;
        }
        let mut conds = Vec::with_capacity(rule.args.len());
        for a in &rule.args {
            if a.index > 5 {
                return Err(Error::new("ERR_NS_INVALID_SPEC", format!("seccomp argument index {} is above 5", a.index)));
            }
            conds.push(ScmpArgCmp { arg: a.index, op: operator(&a.op)?, datum_a: a.value, datum_b: a.value_two });
        }
        // libseccomp refuses two conditions on the same argument in one
        // rule; runc then adds one rule per condition (an OR of them).
        let mut indexes: Vec<u32> = conds.iter().map(|c| c.arg).collect();
        indexes.sort_unstable();
        indexes.dedup();
        let groups: Vec<Vec<ScmpArgCmp>> = if indexes.len() == conds.len() { vec![conds] } else { conds.into_iter().map(|c| vec![c]).collect() };
        for name in &rule.names {
            let n = CString::new(name.as_str()).map_err(|_| Error::invalid("bad syscall name"))?;
            let nr = unsafe { seccomp_syscall_resolve_name(n.as_ptr()) };
            if nr < 0 {
                continue;
            }
            for g in &groups {
                let rc = unsafe { seccomp_rule_add_array(ctx.0, act, nr, g.len() as u32, g.as_ptr()) };
                if rc < 0 {
                    return Err(Error::sys(-rc, "seccomp_rule_add", Some(name)));
                }
            }
        }
    }
    // Export through a memfd and read the instructions back.
    let fd = unsafe { libc::syscall(libc::SYS_memfd_create, b"seccomp\0".as_ptr(), libc::MFD_CLOEXEC) } as c_int;
    if fd < 0 {
        return Err(Error::last("memfd_create", None));
    }
    let rc = unsafe { seccomp_export_bpf(ctx.0, fd) };
    if rc < 0 {
        unsafe { libc::close(fd) };
        return Err(Error::sys(-rc, "seccomp_export_bpf", None));
    }
    let size = unsafe { libc::lseek(fd, 0, libc::SEEK_END) };
    let mut filter = vec![0u64; size as usize / 8];
    let n = unsafe { libc::pread(fd, filter.as_mut_ptr() as *mut c_void, size as usize, 0) };
    unsafe { libc::close(fd) };
    if n != size as isize {
        return Err(Error::new("ERR_NS_SECCOMP", "short read of the exported seccomp program"));
    }
    Ok(Program { filter, flags })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{SeccompArg, SeccompSyscall};

    fn profile() -> Seccomp {
        Seccomp {
            default_action: "SCMP_ACT_ALLOW".into(),
            architectures: vec!["SCMP_ARCH_X86_64".into(), "SCMP_ARCH_X86".into()],
            syscalls: vec![
                SeccompSyscall { names: vec!["mount".into(), "no_such_syscall".into()], action: "SCMP_ACT_ERRNO".into(), errno_ret: Some(1), args: vec![] },
                SeccompSyscall {
                    names: vec!["personality".into()],
                    action: "SCMP_ACT_ERRNO".into(),
                    errno_ret: None,
                    args: vec![
                        SeccompArg { index: 0, value: 0, value_two: 0, op: "SCMP_CMP_NE".into() },
                        SeccompArg { index: 0, value: 8, value_two: 0, op: "SCMP_CMP_NE".into() },
                    ],
                },
                SeccompSyscall { names: vec!["getpid".into()], action: "SCMP_ACT_ALLOW".into(), ..Default::default() },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn compiles_a_profile() {
        let p = compile(&profile()).unwrap();
        assert!(p.filter.len() > 8);
        assert_eq!(p.flags, 0);
    }

    #[test]
    fn maps_actions_and_operators() {
        assert_eq!(action("SCMP_ACT_ERRNO", Some(38), None).unwrap(), 0x0005_0026);
        assert_eq!(action("SCMP_ACT_ERRNO", None, Some(1)).unwrap(), 0x0005_0001);
        assert_eq!(action("SCMP_ACT_ALLOW", None, None).unwrap(), 0x7fff_0000);
        assert_eq!(action("SCMP_ACT_NOPE", None, None).unwrap_err().code, "ERR_NS_INVALID_SPEC");
        assert_eq!(operator("SCMP_CMP_MASKED_EQ").unwrap(), 7);
        assert!(operator("EQ").is_err());
        assert_eq!(arch_name("SCMP_ARCH_X86_64"), "x86_64");
    }

    #[test]
    fn rejects_bad_profiles() {
        let mut p = profile();
        p.architectures = vec!["SCMP_ARCH_NOPE".into()];
        assert_eq!(compile(&p).unwrap_err().code, "ERR_NS_INVALID_SPEC");
        let mut p = profile();
        p.flags = vec!["BOGUS".into()];
        assert_eq!(compile(&p).unwrap_err().code, "ERR_NS_INVALID_SPEC");
    }
}
