//! N-API exports for berth_core::cgroups. No handle crosses into JS: each
//! call reopens the manager from (path, root, version), which only parses
//! `/proc/self/mountinfo`. Calls that wait (freeze, thaw, kill-all, remove)
//! run on a thread of their own and settle a promise through a threadsafe
//! function, so they never hold the JS thread or the libuv pool.
use crate::convert::core_err;
use crate::napi::*;
use berth_core::cgroups::{self, Manager, Options, Version};
use std::ffi::c_void;
use std::path::PathBuf;
use std::ptr;

fn opts(env: Env, a: &[napi_value]) -> JsResult<(String, Options)> {
    let path = env.get_string(a[0]).map_err(|_| JsError::invalid("cgroup path must be a string"))?;
    let mut o = Options::default();
    if !env.is_nullish(a[1])? {
        o.root = PathBuf::from(env.get_string(a[1]).map_err(|_| JsError::invalid("root must be a string"))?);
    }
    if !env.is_nullish(a[2])? {
        o.version = Some(match env.get_string(a[2])?.as_str() {
            "v1" => Version::V1,
            "v2" => Version::V2,
            other => return Err(JsError::invalid(format!("cgroup version {other:?} is not v1 or v2"))),
        });
    }
    Ok((path, o))
}

fn manager(env: Env, a: &[napi_value]) -> JsResult<Box<dyn Manager>> {
    let (path, o) = opts(env, a)?;
    cgroups::open(&path, &o).map_err(core_err)
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::V1 => "v1",
        Version::V2 => "v2",
    }
}

struct SendPtr(*mut c_void);
unsafe impl Send for SendPtr {}

struct Done {
    deferred: napi_deferred,
    result: berth_core::error::Result<()>,
}

unsafe extern "C" fn settle(env: napi_env, _cb: napi_value, _ctx: *mut c_void, data: *mut c_void) {
    let done = Box::from_raw(data as *mut Done);
    if env.is_null() {
        return; // the environment is shutting down
    }
    let e = Env(env);
    match done.result {
        Ok(()) => {
            let v = e.undefined().unwrap_or(ptr::null_mut());
            napi_resolve_deferred(env, done.deferred, v);
        }
        Err(err) => {
            let v = e.error(&core_err(err)).unwrap_or(ptr::null_mut());
            napi_reject_deferred(env, done.deferred, v);
        }
    }
}

/// Runs `work` on a new thread and returns a promise settled with its result.
fn spawn_promise(env: Env, work: impl FnOnce() -> berth_core::error::Result<()> + Send + 'static) -> JsResult<napi_value> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    if unsafe { napi_create_promise(env.0, &mut deferred, &mut promise) } != NAPI_OK {
        return Err(JsError::new("ERR_NS_NAPI", "napi_create_promise failed"));
    }
    let name = env.string("berth-cgroups")?;
    let mut tsfn = ptr::null_mut();
    let status = unsafe {
        napi_create_threadsafe_function(env.0, ptr::null_mut(), ptr::null_mut(), name, 0, 1, ptr::null_mut(), None, ptr::null_mut(), Some(settle), &mut tsfn)
    };
    if status != NAPI_OK {
        return Err(JsError::new("ERR_NS_NAPI", format!("napi_create_threadsafe_function failed with {status}")));
    }
    let (t, d) = (SendPtr(tsfn), SendPtr(deferred));
    let spawned = std::thread::Builder::new().name("berth-cgroups".into()).spawn(move || {
        let (t, d) = (t, d);
        let result = work();
        let done = Box::into_raw(Box::new(Done { deferred: d.0, result }));
        unsafe {
            if napi_call_threadsafe_function(t.0, done as *mut c_void, TSFN_BLOCKING) != NAPI_OK {
                drop(Box::from_raw(done));
            }
            napi_release_threadsafe_function(t.0, TSFN_RELEASE);
        }
    });
    if let Err(e) = spawned {
        unsafe { napi_release_threadsafe_function(tsfn, TSFN_RELEASE) };
        return Err(JsError::new("ERR_NS_INTERNAL", format!("cannot start a thread: {e}")));
    }
    Ok(promise)
}

fn detect(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let root = if env.is_nullish(a[0])? { PathBuf::from(cgroups::DEFAULT_ROOT) } else { PathBuf::from(env.get_string(a[0])?) };
    env.string(version_str(cgroups::detect(&root)))
}

fn info(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let m = manager(env, a)?;
    let o = env.object()?;
    env.set(o, "version", env.string(version_str(m.version()))?)?;
    env.set(o, "path", env.string(m.path())?)?;
    Ok(o)
}

fn create(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    manager(env, a)?.create().map_err(core_err)?;
    env.undefined()
}

fn add_task(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let pid = env.get_i64(a[3]).map_err(|_| JsError::invalid("pid must be a number"))?;
    if pid <= 0 || pid > i32::MAX as i64 {
        return Err(JsError::invalid(format!("pid {pid} is out of range")));
    }
    manager(env, a)?.add_task(pid as i32).map_err(core_err)?;
    env.undefined()
}

fn apply(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let json = env.get_string(a[3]).map_err(|_| JsError::invalid("resources must be a JSON string"))?;
    let r: cgroups::LinuxResources = serde_json::from_str(&json).map_err(|e| JsError::invalid(format!("linux.resources: {e}")))?;
    manager(env, a)?.apply(&r).map_err(core_err)?;
    env.undefined()
}

fn freezer_state(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let s = manager(env, a)?.freezer_state().map_err(core_err)?;
    env.string(match s {
        cgroups::FreezerState::Thawed => "thawed",
        cgroups::FreezerState::Freezing => "freezing",
        cgroups::FreezerState::Frozen => "frozen",
    })
}

fn stats(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let s = manager(env, a)?.stats().map_err(core_err)?;
    env.string(&serde_json::to_string(&s).map_err(|e| JsError::new("ERR_NS_INTERNAL", e.to_string()))?)
}

fn pids(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let p = manager(env, a)?.pids().map_err(core_err)?;
    let arr = env.array(p.len())?;
    for (i, pid) in p.iter().enumerate() {
        env.set_element(arr, i as u32, env.int(*pid as i64)?)?;
    }
    Ok(arr)
}

fn oom_killed(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let k = manager(env, a)?.oom_killed().map_err(core_err)?;
    env.boolean(k)
}

fn freeze(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let m = manager(env, a)?;
    spawn_promise(env, move || m.freeze())
}

fn thaw(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let m = manager(env, a)?;
    spawn_promise(env, move || m.thaw())
}

fn kill_all(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let sig = env.get_i64(a[3]).map_err(|_| JsError::invalid("signal must be a number"))?;
    if !(1..=64).contains(&sig) {
        return Err(JsError::invalid(format!("signal {sig} is out of range")));
    }
    let m = manager(env, a)?;
    spawn_promise(env, move || m.kill_all(sig as i32))
}

fn remove(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let m = manager(env, a)?;
    spawn_promise(env, move || m.remove())
}

pub fn register(env: Env, exports: napi_value) -> JsResult<()> {
    export(env, exports, "cgDetect", detect)?;
    export(env, exports, "cgInfo", info)?;
    export(env, exports, "cgCreate", create)?;
    export(env, exports, "cgAddTask", add_task)?;
    export(env, exports, "cgApply", apply)?;
    export(env, exports, "cgFreezerState", freezer_state)?;
    export(env, exports, "cgStats", stats)?;
    export(env, exports, "cgPids", pids)?;
    export(env, exports, "cgOomKilled", oom_killed)?;
    export(env, exports, "cgFreeze", freeze)?;
    export(env, exports, "cgThaw", thaw)?;
    export(env, exports, "cgKillAll", kill_all)?;
    export(env, exports, "cgRemove", remove)?;
    Ok(())
}
