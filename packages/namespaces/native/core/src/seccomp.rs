//! Seccomp: compiles an OCI `linux.seccomp` profile to a classic BPF program
//! through libseccomp (linked by `build.rs`), in the parent. The child only
//! loads the ready program with `seccomp(2)`, so it allocates nothing.
//!
//! Compiling Docker's default profile takes libseccomp ~14 ms, at every
//! container start. [`compile_cached`] keeps each compiled program in a
//! cache directory (the runtime puts it under its root): a file named by a
//! hash of the key (the profile as JSON, the architecture, the libseccomp
//! version, the format), holding the whole key, the program and a checksum.
//! A file whose key, length or checksum does not match is ignored and
//! written again; files are written to a temporary name and renamed.
use crate::error::{Error, Result};
use crate::spec::Seccomp;
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::Path;

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
    fn seccomp_version() -> *const ScmpVersion;
    fn seccomp_api_get() -> u32;
}

#[repr(C)]
struct ScmpVersion {
    major: u32,
    minor: u32,
    micro: u32,
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

/// The cache file format's first bytes (the version is part of the key too).
const CACHE_MAGIC: &[u8; 8] = b"BSCBPF1\n";

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// What a cached program depends on: the profile, the architecture the
/// runtime was built for, the libseccomp that compiled it and what it saw of
/// the kernel (its API level, and the kernel release).
fn cache_key(profile: &Seccomp) -> Result<Vec<u8>> {
    let v = unsafe { seccomp_version().as_ref() };
    let (ma, mi, mc) = v.map(|v| (v.major, v.minor, v.micro)).unwrap_or((0, 0, 0));
    let api = unsafe { seccomp_api_get() };
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    let release = if unsafe { libc::uname(&mut uts) } == 0 {
        unsafe { std::ffi::CStr::from_ptr(uts.release.as_ptr()) }.to_string_lossy().into_owned()
    } else {
        String::new()
    };
    let mut key = format!("{}\0libseccomp {ma}.{mi}.{mc} api {api}\0kernel {release}\0", std::env::consts::ARCH).into_bytes();
    serde_json::to_writer(&mut key, profile).map_err(|e| Error::new("ERR_NS_SECCOMP", format!("seccomp profile: {e}")))?;
    Ok(key)
}

/// The cache file's name for a key.
fn cache_name(key: &[u8]) -> String {
    format!("{:016x}.bpf", fnv1a64(key))
}

/// Serializes a program with its key: magic, key length, key, flags,
/// instruction count, instructions (little-endian), FNV-1a of all before.
fn encode_cached(key: &[u8], p: &Program) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 4 + key.len() + 8 + p.filter.len() * 8 + 8);
    out.extend_from_slice(CACHE_MAGIC);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&p.flags.to_le_bytes());
    out.extend_from_slice(&(p.filter.len() as u32).to_le_bytes());
    for i in &p.filter {
        out.extend_from_slice(&i.to_le_bytes());
    }
    let sum = fnv1a64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// Parses a cache file's bytes; `None` unless they hold exactly `key`'s
/// program, intact.
fn decode_cached(key: &[u8], b: &[u8]) -> Option<Program> {
    if b.len() < 8 + 4 + 8 + 8 {
        return None;
    }
    let (body, sum) = b.split_at(b.len() - 8);
    if fnv1a64(body) != u64::from_le_bytes(sum.try_into().ok()?) || &body[..8] != CACHE_MAGIC {
        return None;
    }
    let u32_at = |o: usize| -> Option<u32> { Some(u32::from_le_bytes(body.get(o..o + 4)?.try_into().ok()?)) };
    let klen = u32_at(8)? as usize;
    if body.get(12..12 + klen)? != key {
        return None;
    }
    let o = 12 + klen;
    let flags = u32_at(o)?;
    let n = u32_at(o + 4)? as usize;
    let insns = body.get(o + 8..)?;
    if n == 0 || insns.len() != n.checked_mul(8)? {
        return None;
    }
    let filter = insns.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
    Some(Program { filter, flags })
}

/// Compiles a profile as [`compile`] does, through a cache directory
/// (`None`: no cache). A cache that cannot be read or written only costs
/// the compile; a bad profile fails as it does uncached.
pub fn compile_cached(profile: &Seccomp, cache_dir: Option<&Path>) -> Result<Program> {
    let Some(dir) = cache_dir else { return compile(profile) };
    let key = cache_key(profile)?;
    let path = dir.join(cache_name(&key));
    if let Ok(b) = std::fs::read(&path) {
        if let Some(p) = decode_cached(&key, &b) {
            return Ok(p);
        }
    }
    let p = compile(profile)?;
    let _ = store_cached(dir, &path, &encode_cached(&key, &p));
    Ok(p)
}

/// Writes a cache file atomically: a unique temporary name in the same
/// directory, then rename over the final name.
fn store_cached(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let tmp = dir.join(format!(".tmp-{}-{nanos:08x}", std::process::id()));
    let r = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(bytes)?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
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
    fn the_cache_gives_the_compiled_program_and_rebuilds_a_bad_file() {
        let dir = std::env::temp_dir().join(format!("berth-seccomp-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let fresh = compile(&profile()).unwrap();
        let first = compile_cached(&profile(), Some(&dir)).unwrap();
        assert_eq!(first, fresh);
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1, "one file, no temporary left");
        let good = std::fs::read(&files[0]).unwrap();
        assert_eq!(decode_cached(&cache_key(&profile()).unwrap(), &good), Some(fresh.clone()));
        assert_eq!(compile_cached(&profile(), Some(&dir)).unwrap(), fresh, "from the cache");
        // Short, flipped, empty: ignored, compiled again and rewritten.
        for bad in [good[..good.len() - 3].to_vec(), { let mut b = good.clone(); b[good.len() - 20] ^= 1; b }, vec![]] {
            std::fs::write(&files[0], &bad).unwrap();
            assert_eq!(compile_cached(&profile(), Some(&dir)).unwrap(), fresh);
            assert_eq!(std::fs::read(&files[0]).unwrap(), good);
        }
        // Another profile: another file, not the first one's program.
        let mut other = profile();
        other.syscalls.truncate(1);
        let o = compile_cached(&other, Some(&dir)).unwrap();
        assert_eq!(o, compile(&other).unwrap());
        assert_ne!(o, fresh);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
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
