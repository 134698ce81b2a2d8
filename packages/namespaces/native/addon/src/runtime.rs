//! N-API exports for berth_core::runtime.
use crate::napi::{napi_value, Env, JsResult};

pub fn register(_env: Env, _exports: napi_value) -> JsResult<()> {
    Ok(())
}
