//! Conversions shared by the export modules.
use crate::napi::{Field, JsError};

/// Turns a berth-core error into a JavaScript error with code, errno, syscall and path.
pub fn core_err(e: berth_core::error::Error) -> JsError {
    let mut j = JsError::new(e.code, e.message);
    if let Some(n) = e.errno {
        j = j.with("errno", Field::Int(n as i64));
    }
    if let Some(s) = e.syscall {
        j = j.with("syscall", Field::Str(s));
    }
    if let Some(p) = e.path {
        j = j.with("path", Field::Str(p));
    }
    j
}
