//! The cgroup v2 device controller: a `BPF_PROG_TYPE_CGROUP_DEVICE` program
//! built from OCI device rules and attached to the cgroup directory
//! (cgroup v2 has no devices.allow/deny files; see the kernel's
//! `Documentation/admin-guide/cgroup-v2.rst`, "Device controller").
//!
//! The program reads `struct bpf_cgroup_dev_ctx { u32 access_type; u32
//! major; u32 minor; }` (access_type = access << 16 | type) and checks the
//! rules **last first**: the first rule that matches decides (1 = allow,
//! 0 = deny), so a later rule overrides an earlier one, as successive writes
//! to v1 `devices.allow`/`devices.deny` do. No match allows, as a v1 cgroup
//! without rules does; OCI specs start with `deny a *:* rwm`, which matches
//! everything. An allow rule matches only if it grants every requested
//! access; a deny rule matches if it covers any of them.
use super::util::show;
use super::LinuxDeviceCgroup;
use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: (src << 4) | dst, off, imm }
}

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_MOV_X: u8 = 0xbf;
const JMP_JNE_K: u8 = 0x55;
const JMP_JEQ_K: u8 = 0x15;
const JMP_EXIT: u8 = 0x95;

const DEV_BLOCK: i32 = 1; // BPF_DEVCG_DEV_BLOCK
const DEV_CHAR: i32 = 2; // BPF_DEVCG_DEV_CHAR
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

fn access_bits(access: &str) -> Result<i32> {
    let mut bits = 0;
    for c in access.chars() {
        bits |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return Err(Error::invalid(format!("device rule access {access:?} is not some of rwm"))),
        };
    }
    Ok(bits)
}

/// Compiles OCI device rules into the program's instructions.
pub fn compile(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>> {
    // r2 = type, r3 = access, r4 = major, r5 = minor.
    let mut prog = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU64_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU64_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let typ = match r.typ.as_deref().unwrap_or("a") {
            "a" => None,
            "c" => Some(DEV_CHAR),
            "b" => Some(DEV_BLOCK),
            t => return Err(Error::invalid(format!("device rule type {t:?} is not a, b or c"))),
        };
        let access = access_bits(r.access.as_deref().unwrap_or("rwm"))?;
        // Each check jumps to the end of this rule's block when it fails;
        // offsets are patched once the block's length is known.
        let mut block: Vec<(Insn, bool)> = Vec::new();
        if let Some(t) = typ {
            block.push((insn(JMP_JNE_K, 2, 0, 0, t), true));
        }
        if r.allow {
            if access != ACC_READ | ACC_WRITE | ACC_MKNOD {
                block.push((insn(ALU64_MOV_X, 1, 3, 0, 0), false));
                block.push((insn(ALU64_AND_K, 1, 0, 0, !access & 7), false));
                block.push((insn(JMP_JNE_K, 1, 0, 0, 0), true));
            }
        } else {
            block.push((insn(ALU64_MOV_X, 1, 3, 0, 0), false));
            block.push((insn(ALU64_AND_K, 1, 0, 0, access), false));
            block.push((insn(JMP_JEQ_K, 1, 0, 0, 0), true));
        }
        if let Some(m) = r.major.filter(|m| *m >= 0) {
            block.push((insn(JMP_JNE_K, 4, 0, 0, m as i32), true));
        }
        if let Some(m) = r.minor.filter(|m| *m >= 0) {
            block.push((insn(JMP_JNE_K, 5, 0, 0, m as i32), true));
        }
        block.push((insn(ALU64_MOV_K, 0, 0, 0, r.allow as i32), false));
        block.push((insn(JMP_EXIT, 0, 0, 0, 0), false));
        let len = block.len();
        for (i, (mut ins, is_skip)) in block.into_iter().enumerate() {
            if is_skip {
                ins.off = (len - 1 - i) as i16;
            }
            prog.push(ins);
        }
    }
    prog.push(insn(ALU64_MOV_K, 0, 0, 0, 1));
    prog.push(insn(JMP_EXIT, 0, 0, 0, 0));
    Ok(prog)
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// `union bpf_attr`, as bytes: 128 is larger than any command used here;
/// the kernel requires the tail it does not know to be zero.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Self {
        Attr([0; 128])
    }
    fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().unwrap())
    }
}

fn bpf(cmd: libc::c_long, attr: &mut Attr) -> std::result::Result<libc::c_long, i32> {
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut Attr, std::mem::size_of::<Attr>()) };
    if rc < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
    } else {
        Ok(rc)
    }
}

fn load(prog: &[Insn]) -> Result<OwnedFd> {
    let license = b"Apache-2.0\0";
    let mut log = vec![0u8; 64 * 1024];
    let mut a = Attr::new();
    a.u32(0, BPF_PROG_TYPE_CGROUP_DEVICE)
        .u32(4, prog.len() as u32)
        .u64(8, prog.as_ptr() as u64)
        .u64(16, license.as_ptr() as u64)
        .u32(24, 1) // log_level
        .u32(28, log.len() as u32)
        .u64(32, log.as_mut_ptr() as u64);
    match bpf(BPF_PROG_LOAD, &mut a) {
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(errno) => {
            let mut e = Error::sys(errno, "bpf", None);
            let end = log.iter().position(|b| *b == 0).unwrap_or(0);
            let text = String::from_utf8_lossy(&log[..end]);
            e.message = format!("bpf(BPF_PROG_LOAD) of the device filter: {}: {}", std::io::Error::from_raw_os_error(errno), text.trim());
            Err(e)
        }
    }
}

/// The ids of the device programs attached to the cgroup `fd`.
fn attached(fd: i32) -> std::result::Result<Vec<u32>, i32> {
    let mut ids = vec![0u32; 64];
    let mut a = Attr::new();
    a.u32(0, fd as u32).u32(4, BPF_CGROUP_DEVICE).u64(16, ids.as_mut_ptr() as u64).u32(24, ids.len() as u32);
    bpf(BPF_PROG_QUERY, &mut a)?;
    ids.truncate(a.get_u32(24) as usize);
    Ok(ids)
}

/// Replaces the device programs on the cgroup directory `dir` with one
/// compiled from `rules`: the new one is attached first (with
/// `BPF_F_ALLOW_MULTI`, so access is never open in between) and the old ones
/// detached after. The cgroup keeps the program alive after we close it.
pub fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let prog = compile(rules)?;
    let shown = show(dir);
    let cg = std::fs::File::open(dir).map_err(|e| Error::io(&e, "open", Some(&shown)))?;
    let cgfd = cg.as_raw_fd();
    let old = attached(cgfd).map_err(|e| Error::sys(e, "bpf", Some(&shown)))?;
    let pfd = load(&prog).map_err(|mut e| {
        e.path = Some(shown.clone());
        e
    })?;
    let mut a = Attr::new();
    a.u32(0, cgfd as u32).u32(4, pfd.as_raw_fd() as u32).u32(8, BPF_CGROUP_DEVICE).u32(12, BPF_F_ALLOW_MULTI);
    bpf(BPF_PROG_ATTACH, &mut a).map_err(|e| Error::sys(e, "bpf", Some(&shown)))?;
    for id in old {
        let mut g = Attr::new();
        g.u32(0, id);
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut g) else { continue };
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut d = Attr::new();
        d.u32(0, cgfd as u32).u32(4, fd.as_raw_fd() as u32).u32(8, BPF_CGROUP_DEVICE);
        // ENOENT: someone else detached it meanwhile.
        if let Err(e) = bpf(BPF_PROG_DETACH, &mut d) {
            if e != libc::ENOENT {
                return Err(Error::sys(e, "bpf", Some(&shown)));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program the way the kernel would, on (type, access, major, minor).
    fn run(prog: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1);
                    r[dst] = ctx[i.off as usize / 4] as u64;
                }
                ALU64_AND_K => r[dst] &= i.imm as i64 as u64,
                ALU64_RSH_K => r[dst] >>= i.imm,
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                ALU64_MOV_X => r[dst] = r[src],
                JMP_JNE_K => {
                    if r[dst] != i.imm as i64 as u64 {
                        pc += i.off as usize;
                    }
                }
                JMP_JEQ_K => {
                    if r[dst] == i.imm as i64 as u64 {
                        pc += i.off as usize;
                    }
                }
                JMP_EXIT => return r[0],
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    fn rule(allow: bool, typ: &str, major: Option<i64>, minor: Option<i64>, access: &str) -> LinuxDeviceCgroup {
        LinuxDeviceCgroup { allow, typ: Some(typ.into()), major, minor, access: Some(access.into()) }
    }

    #[test]
    fn last_matching_rule_decides() {
        let rules = vec![
            rule(false, "a", None, None, "rwm"),
            rule(true, "c", Some(1), Some(3), "rwm"),
            rule(true, "c", Some(136), None, "rw"),
            rule(true, "c", Some(1), Some(5), "r"),
            rule(false, "c", Some(1), Some(3), "w"),
        ];
        let p = compile(&rules).unwrap();
        let (r, w, m) = (ACC_READ as u32, ACC_WRITE as u32, ACC_MKNOD as u32);
        let c = DEV_CHAR as u32;
        assert_eq!(run(&p, c, r, 1, 3), 1, "read /dev/null");
        assert_eq!(run(&p, c, w, 1, 3), 0, "write /dev/null is denied by the last rule");
        assert_eq!(run(&p, c, m, 1, 3), 1, "mknod /dev/null");
        assert_eq!(run(&p, c, r | w, 136, 7), 1, "pts");
        assert_eq!(run(&p, c, m, 136, 7), 0, "mknod pts is not granted");
        assert_eq!(run(&p, c, r, 1, 5), 1, "read /dev/zero");
        assert_eq!(run(&p, c, r | w, 1, 5), 0, "rw /dev/zero needs w too");
        assert_eq!(run(&p, DEV_BLOCK as u32, r, 8, 0), 0, "sda denied by deny-all");
        assert_eq!(run(&compile(&[]).unwrap(), c, r, 1, 3), 1, "no rules allow");
    }

    /// As root on a host with a cgroup2 mount: applying twice leaves one program.
    #[test]
    fn reapplying_replaces_the_program() {
        let base = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"].iter().map(Path::new).find(|p| p.join("cgroup.procs").exists() && p.join("cgroup.controllers").exists());
        let (Some(base), true) = (base, unsafe { libc::geteuid() } == 0) else { return };
        let dir = base.join(format!("berth-bpf-test-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let rules = vec![rule(false, "a", None, None, "rwm"), rule(true, "c", Some(1), Some(3), "rwm")];
        apply(&dir, &rules).unwrap();
        apply(&dir, &rules).unwrap();
        let f = std::fs::File::open(&dir).unwrap();
        let n = attached(f.as_raw_fd()).unwrap().len();
        drop(f);
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!(n, 1);
    }
}
