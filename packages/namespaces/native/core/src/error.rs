//! The error type of berth-core. It keeps errno, syscall and path, as youki
//! does, so the TypeScript layer can raise a typed error that still says
//! which call failed on which file.
use std::fmt;

/// A failure with a stable code (`ERR_NS_…`) and, for syscalls, its errno,
/// syscall name and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Stable code, such as `ERR_NS_SYSCALL` or `ERR_NS_INVALID_SPEC`.
    pub code: &'static str,
    pub message: String,
    pub errno: Option<i32>,
    pub syscall: Option<String>,
    pub path: Option<String>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Error { code, message: message.into(), errno: None, syscall: None, path: None }
    }
    /// A failed syscall: errno from `errno`, with the call's name and path.
    pub fn sys(errno: i32, syscall: &str, path: Option<&str>) -> Self {
        let desc = std::io::Error::from_raw_os_error(errno);
        let message = match path {
            Some(p) => format!("{syscall} {p:?}: {desc}"),
            None => format!("{syscall}: {desc}"),
        };
        Error { code: "ERR_NS_SYSCALL", message, errno: Some(errno), syscall: Some(syscall.to_string()), path: path.map(str::to_string) }
    }
    /// The last OS error (`errno`) of `syscall` on `path`.
    pub fn last(syscall: &str, path: Option<&str>) -> Self {
        Error::sys(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO), syscall, path)
    }
    /// Wraps an `std::io::Error`.
    pub fn io(e: &std::io::Error, syscall: &str, path: Option<&str>) -> Self {
        match e.raw_os_error() {
            Some(n) => Error::sys(n, syscall, path),
            None => Error::new("ERR_NS_IO", format!("{syscall}: {e}")),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new("ERR_NS_INVALID_ARGUMENT", message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
