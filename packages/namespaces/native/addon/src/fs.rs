//! N-API exports for berth_core::fsys. Each function takes plain numbers and
//! strings; `src/fs.ts` turns typed option objects into them.
use crate::convert::core_err;
use crate::napi::{self, export, napi_value, Env, JsError, JsResult};
use std::ffi::c_void;
use std::ptr;
use berth_core::fsys;
use std::os::fd::IntoRawFd;

fn str_arg(env: Env, v: napi_value, what: &str) -> JsResult<String> {
    env.get_string(v).map_err(|_| JsError::invalid(format!("{what} must be a string")))
}

fn opt_str(env: Env, v: napi_value, what: &str) -> JsResult<Option<String>> {
    if env.is_nullish(v)? {
        Ok(None)
    } else {
        str_arg(env, v, what).map(Some)
    }
}

fn int_arg(env: Env, v: napi_value, what: &str) -> JsResult<i64> {
    if env.is_nullish(v)? {
        return Ok(0);
    }
    let f = env.get_f64(v).map_err(|_| JsError::invalid(format!("{what} must be a number")))?;
    if !f.is_finite() || f.fract() != 0.0 {
        return Err(JsError::invalid(format!("{what} must be an integer")));
    }
    Ok(f as i64)
}

fn u32_arg(env: Env, v: napi_value, what: &str) -> JsResult<u32> {
    let n = int_arg(env, v, what)?;
    u32::try_from(n).map_err(|_| JsError::invalid(format!("{what} {n} is out of range")))
}

fn bool_arg(env: Env, v: napi_value) -> JsResult<bool> {
    if env.is_nullish(v)? {
        Ok(false)
    } else {
        env.get_bool(v)
    }
}

fn resolver_arg(env: Env, v: napi_value) -> JsResult<fsys::Resolver> {
    Ok(match opt_str(env, v, "resolver")?.as_deref() {
        None | Some("auto") => fsys::Resolver::Auto,
        Some("openat2") => fsys::Resolver::Openat2,
        Some("walk") => fsys::Resolver::Walk,
        Some(other) => return Err(JsError::invalid(format!("resolver {other:?} is not auto, openat2 or walk"))),
    })
}

fn time_arg(env: Env, sec: napi_value, nsec: napi_value) -> JsResult<fsys::Time> {
    let n = int_arg(env, nsec, "nsec")?;
    Ok(match n {
        -1 => fsys::Time::Now,
        -2 => fsys::Time::Omit,
        n => fsys::Time::At { sec: int_arg(env, sec, "sec")?, nsec: n },
    })
}

fn mount(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let source = opt_str(env, a[0], "source")?;
    let target = str_arg(env, a[1], "target")?;
    let fstype = opt_str(env, a[2], "fstype")?;
    let flags = int_arg(env, a[3], "flags")? as u64;
    let data = opt_str(env, a[4], "data")?;
    fsys::mount(source.as_deref(), &target, fstype.as_deref(), flags, data.as_deref()).map_err(core_err)?;
    env.undefined()
}

fn umount2(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let target = str_arg(env, a[0], "target")?;
    let flags = int_arg(env, a[1], "flags")? as i32;
    fsys::umount2(&target, flags).map_err(core_err)?;
    env.undefined()
}

fn parse_mount_options(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let mut opts = Vec::new();
    for v in env.get_array(a[0])? {
        opts.push(str_arg(env, v, "mount option")?);
    }
    let p = fsys::parse_mount_options(&opts);
    let o = env.object()?;
    env.set(o, "flags", env.double(p.flags as f64)?)?;
    env.set(o, "cleared", env.double(p.cleared as f64)?)?;
    let prop = env.array(p.propagation.len())?;
    for (i, f) in p.propagation.iter().enumerate() {
        env.set_element(prop, i as u32, env.double(*f as f64)?)?;
    }
    env.set(o, "propagation", prop)?;
    env.set(o, "data", env.string(&p.data_string())?)?;
    Ok(o)
}

fn str_list(env: Env, v: napi_value, what: &str) -> JsResult<Vec<String>> {
    if env.is_nullish(v)? {
        return Ok(Vec::new());
    }
    env.get_array(v)?.into_iter().map(|e| str_arg(env, e, what)).collect()
}

fn mount_overlay(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let target = str_arg(env, a[0], "target")?;
    let o = fsys::Overlay {
        lower: str_list(env, a[1], "lower layer")?,
        upper: opt_str(env, a[2], "upper")?,
        work: opt_str(env, a[3], "work")?,
        options: str_list(env, a[4], "overlay option")?,
    };
    let flags = int_arg(env, a[5], "flags")? as u64;
    fsys::mount_overlay(&target, &o, flags).map_err(core_err)?;
    env.undefined()
}

fn mknod(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let path = str_arg(env, a[0], "path")?;
    let mode = u32_arg(env, a[1], "mode")?;
    let dev = fsys::makedev(u32_arg(env, a[2], "major")?, u32_arg(env, a[3], "minor")?);
    fsys::mknod(&path, mode, dev).map_err(core_err)?;
    env.undefined()
}

fn lsetxattr(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let path = str_arg(env, a[0], "path")?;
    let name = str_arg(env, a[1], "name")?;
    let value = env.get_bytes(a[2])?;
    let flags = int_arg(env, a[3], "flags")? as i32;
    fsys::lsetxattr(&path, &name, &value, flags).map_err(core_err)?;
    env.undefined()
}

fn lgetxattr(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let path = str_arg(env, a[0], "path")?;
    let name = str_arg(env, a[1], "name")?;
    match fsys::lgetxattr(&path, &name).map_err(core_err)? {
        Some(v) => env.buffer(&v),
        None => env.undefined(),
    }
}

fn llistxattr(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let path = str_arg(env, a[0], "path")?;
    let names = fsys::llistxattr(&path).map_err(core_err)?;
    let arr = env.array(names.len())?;
    for (i, n) in names.iter().enumerate() {
        env.set_element(arr, i as u32, env.string(n)?)?;
    }
    Ok(arr)
}

fn lremovexattr(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let path = str_arg(env, a[0], "path")?;
    let name = str_arg(env, a[1], "name")?;
    fsys::lremovexattr(&path, &name).map_err(core_err)?;
    env.undefined()
}

fn lchown(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let path = str_arg(env, a[0], "path")?;
    let id = |v, what| -> JsResult<u32> {
        let n = int_arg(env, v, what)?;
        if n == -1 { Ok(u32::MAX) } else { u32::try_from(n).map_err(|_| JsError::invalid(format!("{what} {n} is out of range"))) }
    };
    fsys::lchown(&path, id(a[1], "uid")?, id(a[2], "gid")?).map_err(core_err)?;
    env.undefined()
}

fn utimensat(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let path = str_arg(env, a[0], "path")?;
    let atime = time_arg(env, a[1], a[2])?;
    let mtime = time_arg(env, a[3], a[4])?;
    let nofollow = bool_arg(env, a[5])?;
    fsys::utimensat(&path, atime, mtime, nofollow).map_err(core_err)?;
    env.undefined()
}

fn renameat2(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let old = str_arg(env, a[0], "oldPath")?;
    let new = str_arg(env, a[1], "newPath")?;
    let flags = u32_arg(env, a[2], "flags")?;
    fsys::renameat2(&old, &new, flags).map_err(core_err)?;
    env.undefined()
}

fn syncfs(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    fsys::syncfs(&str_arg(env, a[0], "path")?).map_err(core_err)?;
    env.undefined()
}

fn fsync_path(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    fsys::fsync_path(&str_arg(env, a[0], "path")?).map_err(core_err)?;
    env.undefined()
}

fn fsync_dir(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    fsys::fsync_dir(&str_arg(env, a[0], "path")?).map_err(core_err)?;
    env.undefined()
}

fn open_in_root(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let root = str_arg(env, a[0], "root")?;
    let rel = str_arg(env, a[1], "relPath")?;
    let o = fsys::InRoot {
        flags: int_arg(env, a[2], "flags")? as i32,
        mode: u32_arg(env, a[3], "mode")?,
        no_symlinks: bool_arg(env, a[4])?,
        beneath: bool_arg(env, a[5])?,
        resolver: resolver_arg(env, a[6])?,
    };
    let fd = fsys::open_in_root(&root, &rel, &o).map_err(core_err)?;
    env.int(fd.into_raw_fd() as i64)
}

fn resolve_in_root(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let root = str_arg(env, a[0], "root")?;
    let rel = str_arg(env, a[1], "relPath")?;
    let p = fsys::resolve_in_root(&root, &rel, resolver_arg(env, a[2])?).map_err(core_err)?;
    env.string(&p)
}

fn mkdir_in_root(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let root = str_arg(env, a[0], "root")?;
    let rel = str_arg(env, a[1], "relPath")?;
    let mode = u32_arg(env, a[2], "mode")?;
    fsys::mkdir_in_root(&root, &rel, mode, resolver_arg(env, a[3])?).map_err(core_err)?;
    env.undefined()
}

fn fd_path(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let fd = int_arg(env, a[0], "fd")?;
    env.string(&fsys::fd_path(fd as i32).map_err(core_err)?)
}

fn flock(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let fd = int_arg(env, a[0], "fd")?;
    let got = fsys::flock(fd as i32, bool_arg(env, a[1])?, bool_arg(env, a[2])?, bool_arg(env, a[3])?).map_err(core_err)?;
    env.boolean(got)
}

/// A tree deletion on the libuv pool (see remove_tree).
struct RemoveJob {
    path: String,
    result: Option<berth_core::error::Result<()>>,
    deferred: napi::napi_deferred,
    work: napi::napi_async_work,
}

unsafe extern "C" fn remove_execute(_env: napi::napi_env, data: *mut c_void) {
    let job = &mut *(data as *mut RemoveJob);
    let path = job.path.clone();
    job.result = Some(match std::panic::catch_unwind(|| fsys::remove_tree(&path)) {
        Ok(r) => r,
        Err(_) => Err(berth_core::error::Error::new("ERR_NS_INTERNAL", "native panic in removeTree")),
    });
}

unsafe extern "C" fn remove_complete(env: napi::napi_env, _status: napi::napi_status, data: *mut c_void) {
    let mut job = Box::from_raw(data as *mut RemoveJob);
    napi::napi_delete_async_work(env, job.work);
    let e = Env(env);
    match job.result.take().unwrap_or_else(|| Err(berth_core::error::Error::new("ERR_NS_INTERNAL", "removeTree work was cancelled"))) {
        Ok(()) => {
            if let Ok(v) = e.undefined() {
                napi::napi_resolve_deferred(env, job.deferred, v);
            }
        }
        Err(err) => {
            if let Ok(v) = e.error(&core_err(err)) {
                napi::napi_reject_deferred(env, job.deferred, v);
            }
        }
    }
}

/// Deletes a tree on the libuv pool, in one job: a promise.
fn remove_tree(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let path = str_arg(env, a[0], "path")?;
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    napi::check(unsafe { napi::napi_create_promise(env.0, &mut deferred, &mut promise) }, "napi_create_promise")?;
    let job = Box::into_raw(Box::new(RemoveJob { path, result: None, deferred, work: ptr::null_mut() }));
    unsafe { napi::queue_work(env, "berth:removeTree", job, |j, w| j.work = w, Some(remove_execute), Some(remove_complete))? };
    Ok(promise)
}

/// removeTreeSync(path): the same deletion on the calling thread.
fn remove_tree_sync(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let path = str_arg(env, a[0], "path")?;
    fsys::remove_tree(&path).map_err(core_err)?;
    env.undefined()
}

/// Drops the boxed mapping a string or Buffer was made over, once V8 collects it.
unsafe extern "C" fn unmap(_env: napi::napi_env, _data: *mut c_void, hint: *mut c_void) {
    drop(Box::from_raw(hint as *mut fsys::Mapping));
}

/// mapFile(path, latin1): the file's bytes, mapped (no copy), as a one-byte
/// string (`latin1`: each byte one UTF-16 unit) or a Buffer; unmapped when
/// the value is collected.
fn map_file(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let path = str_arg(env, a[0], "path")?;
    let latin1 = bool_arg(env, a[1])?;
    let m = Box::new(fsys::map_file(&path).map_err(core_err)?);
    if m.is_empty() {
        return if latin1 { env.string("") } else { env.buffer(&[]) };
    }
    let (data, len) = (m.as_ptr(), m.len());
    let hint = Box::into_raw(m) as *mut c_void;
    let mut v = ptr::null_mut();
    let status = unsafe {
        if latin1 {
            // `copied`: Node made a heap string instead; it has called the finalizer then.
            let mut copied = false;
            napi::node_api_create_external_string_latin1(env.0, data as *mut std::ffi::c_char, len, Some(unmap), hint, &mut v, &mut copied)
        } else {
            napi::napi_create_external_buffer(env.0, len, data as *mut c_void, Some(unmap), hint, &mut v)
        }
    };
    if status != napi::NAPI_OK {
        drop(unsafe { Box::from_raw(hint as *mut fsys::Mapping) });
        return Err(JsError::new("ERR_NS_NAPI", format!("mapFile {path:?}: N-API failed with napi_status {status}")));
    }
    Ok(v)
}

pub fn register(env: Env, exports: napi_value) -> JsResult<()> {
    export(env, exports, "fsMount", mount)?;
    export(env, exports, "fsUmount2", umount2)?;
    export(env, exports, "fsMountOverlay", mount_overlay)?;
    export(env, exports, "fsParseMountOptions", parse_mount_options)?;
    export(env, exports, "fsMknod", mknod)?;
    export(env, exports, "fsLsetxattr", lsetxattr)?;
    export(env, exports, "fsLgetxattr", lgetxattr)?;
    export(env, exports, "fsLlistxattr", llistxattr)?;
    export(env, exports, "fsLremovexattr", lremovexattr)?;
    export(env, exports, "fsLchown", lchown)?;
    export(env, exports, "fsUtimensat", utimensat)?;
    export(env, exports, "fsRenameat2", renameat2)?;
    export(env, exports, "fsSyncfs", syncfs)?;
    export(env, exports, "fsFsyncPath", fsync_path)?;
    export(env, exports, "fsFsyncDir", fsync_dir)?;
    export(env, exports, "fsOpenInRoot", open_in_root)?;
    export(env, exports, "fsResolveInRoot", resolve_in_root)?;
    export(env, exports, "fsMkdirInRoot", mkdir_in_root)?;
    export(env, exports, "fsFdPath", fd_path)?;
    export(env, exports, "fsFlock", flock)?;
    export(env, exports, "fsRemoveTree", remove_tree)?;
    export(env, exports, "fsRemoveTreeSync", remove_tree_sync)?;
    export(env, exports, "fsMapFile", map_file)?;
    Ok(())
}
