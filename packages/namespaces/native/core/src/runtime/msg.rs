//! The messages of the sync socket (a close-on-exec SOCK_SEQPACKET pair,
//! like youki's process/channel.rs). Parent → child: one byte `G` ("go on",
//! after the uid/gid maps, cgroup and oom_score_adj). Child → parent:
//! `P` + pid (the intermediate child reports the real one), `T` with a pty
//! master as SCM_RIGHTS, `R` (ready,
//! blocked on the exec fifo) or `E` + a typed error. EOF without a message
//! means execve succeeded.
use crate::error::Error;

pub(crate) const GO: u8 = b'G';
pub(crate) const READY: u8 = b'R';
pub(crate) const PID: u8 = b'P';
pub(crate) const ERROR: u8 = b'E';
/// A pty master follows as SCM_RIGHTS.
pub(crate) const PTY: u8 = b'T';

/// What failed in the child; becomes the error's `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Code {
    Syscall = 0,
    ExecNotFound = 1,
    BadCwd = 2,
    Mount = 3,
    ExecFailed = 4,
    Namespace = 5,
    User = 6,
    Capabilities = 7,
    Seccomp = 8,
    Device = 9,
}

impl Code {
    fn from_u8(b: u8) -> Code {
        match b {
            1 => Code::ExecNotFound,
            2 => Code::BadCwd,
            3 => Code::Mount,
            4 => Code::ExecFailed,
            5 => Code::Namespace,
            6 => Code::User,
            7 => Code::Capabilities,
            8 => Code::Seccomp,
            9 => Code::Device,
            _ => Code::Syscall,
        }
    }
    /// The `ERR_NS_…` code of the error.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Code::Syscall => "ERR_NS_SYSCALL",
            Code::ExecNotFound => "ERR_NS_EXEC_NOT_FOUND",
            Code::BadCwd => "ERR_NS_BAD_CWD",
            Code::Mount => "ERR_NS_MOUNT_FAILED",
            Code::ExecFailed => "ERR_NS_EXEC_FAILED",
            Code::Namespace => "ERR_NS_NAMESPACE_FAILED",
            Code::User => "ERR_NS_USER_FAILED",
            Code::Capabilities => "ERR_NS_CAPABILITIES_FAILED",
            Code::Seccomp => "ERR_NS_SECCOMP_FAILED",
            Code::Device => "ERR_NS_DEVICE_FAILED",
        }
    }
}

fn put(buf: &mut [u8], at: &mut usize, bytes: &[u8]) {
    let n = bytes.len().min(buf.len().saturating_sub(*at + 1));
    buf[*at..*at + n].copy_from_slice(&bytes[..n]);
    *at += n;
}

/// Encodes an error without allocating: `E`, code, errno (LE i32), syscall NUL path NUL.
pub(crate) fn encode_error(buf: &mut [u8], code: Code, errno: i32, syscall: &[u8], path: &[u8]) -> usize {
    let mut at = 0;
    put(buf, &mut at, &[ERROR, code as u8]);
    put(buf, &mut at, &errno.to_le_bytes());
    put(buf, &mut at, syscall);
    put(buf, &mut at, &[0]);
    put(buf, &mut at, path);
    buf[at] = 0;
    at + 1
}

pub(crate) fn encode_pid(buf: &mut [u8; 5], pid: i32) -> usize {
    buf[0] = PID;
    buf[1..5].copy_from_slice(&pid.to_le_bytes());
    5
}

/// Decodes an `E` message into a berth error.
pub(crate) fn decode_error(m: &[u8]) -> Error {
    if m.len() < 6 || m[0] != ERROR {
        return Error::new("ERR_NS_INTERNAL", "malformed message from the container child");
    }
    let code = Code::from_u8(m[1]);
    let errno = i32::from_le_bytes([m[2], m[3], m[4], m[5]]);
    let rest = &m[6..];
    let mut parts = rest.split(|b| *b == 0);
    let syscall = String::from_utf8_lossy(parts.next().unwrap_or(b"")).to_string();
    let path = String::from_utf8_lossy(parts.next().unwrap_or(b"")).to_string();
    let mut e = Error::sys(errno, &syscall, if path.is_empty() { None } else { Some(&path) });
    e.code = code.name();
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_errors() {
        let mut buf = [0u8; 64];
        let n = encode_error(&mut buf, Code::BadCwd, libc::ENOENT, b"chdir", b"/nope");
        let e = decode_error(&buf[..n]);
        assert_eq!(e.code, "ERR_NS_BAD_CWD");
        assert_eq!(e.errno, Some(libc::ENOENT));
        assert_eq!(e.syscall.as_deref(), Some("chdir"));
        assert_eq!(e.path.as_deref(), Some("/nope"));
        let n = encode_error(&mut buf, Code::ExecNotFound, libc::ENOENT, b"execve", &[b'x'; 200]);
        assert_eq!(n, 64, "long paths are cut to the buffer");
        assert_eq!(decode_error(&buf[..n]).code, "ERR_NS_EXEC_NOT_FOUND");
        assert_eq!(decode_error(b"xx").code, "ERR_NS_INTERNAL");
    }
}
