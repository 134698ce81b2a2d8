//! The N-API adapter of @berth/namespaces. It only converts between
//! JavaScript values and `berth_core`; the logic lives in `../core`.
//!
//! Each group of exports lives in its own module with a `register` function;
//! `napi_register_module_v1` calls them in turn.
mod napi;
mod convert;
mod fs;
mod cgroups;
mod runtime;
mod gunzip;
mod dir_hint;

use napi::{napi_env, napi_value, Env, JsResult};

fn version(env: Env, _args: &[napi_value]) -> JsResult<napi_value> {
    env.string(env!("CARGO_PKG_VERSION"))
}

/// Node calls this when it loads the addon.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    let e = Env(env);
    let result = (|| -> JsResult<()> {
        napi::export(e, exports, "version", version)?;
        fs::register(e, exports)?;
        cgroups::register(e, exports)?;
        runtime::register(e, exports)?;
        gunzip::register(e, exports)?;
        dir_hint::register(e, exports)?;
        Ok(())
    })();
    if let Err(err) = result {
        e.throw(&err);
    }
    exports
}
