//! `markTopDirectory(path)`: sets FS_TOPDIR_FL (`chattr +T`) on a directory,
//! so that ext4's Orlov allocator treats its subdirectories as the tops of
//! separate trees and spreads them over block groups instead of packing
//! them next to their parent. Returns false, without failing, where the
//! filesystem has no such flag (tmpfs, overlay, btrfs…).
use crate::napi::{export, napi_value, Env, Field, JsError, JsResult};
use std::ffi::CString;

const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;

fn sys_err(syscall: &str, path: &str) -> JsError {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    JsError::new("ERR_NS_SYSCALL", format!("{syscall} {path:?}: errno {errno}"))
        .with("errno", Field::Int(errno as i64))
        .with("syscall", Field::Str(syscall.to_string()))
        .with("path", Field::Str(path.to_string()))
}

fn mark_top_directory(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let path = env.get_string(a[0]).map_err(|_| JsError::invalid("path must be a string"))?;
    let c = CString::new(path.as_bytes()).map_err(|_| JsError::invalid("path has a NUL byte"))?;
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW) };
    if fd < 0 {
        return Err(sys_err("open", &path));
    }
    let result = (|| {
        let mut flags: libc::c_int = 0;
        if unsafe { libc::ioctl(fd, FS_IOC_GETFLAGS, &mut flags) } < 0 {
            return unsupported(&path, "ioctl(FS_IOC_GETFLAGS)");
        }
        if flags & FS_TOPDIR_FL != 0 {
            return Ok(true);
        }
        flags |= FS_TOPDIR_FL;
        if unsafe { libc::ioctl(fd, FS_IOC_SETFLAGS, &flags) } < 0 {
            return unsupported(&path, "ioctl(FS_IOC_SETFLAGS)");
        }
        Ok(true)
    })();
    unsafe { libc::close(fd) };
    env.boolean(result?)
}

/// false for the errnos that mean "no such flag here"; an error otherwise.
fn unsupported(path: &str, syscall: &str) -> JsResult<bool> {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    if errno == libc::ENOTTY || errno == libc::EOPNOTSUPP || errno == libc::EINVAL || errno == libc::ENOSYS {
        Ok(false)
    } else {
        Err(sys_err(syscall, path))
    }
}

/// Adds the export.
pub fn register(env: Env, exports: napi_value) -> JsResult<()> {
    export(env, exports, "markTopDirectory", mark_top_directory)
}
