//! The N-API C functions this addon uses, declared by hand (there is no
//! `napi` crate on this machine), and a small safe layer over them.
//!
//! Node resolves these symbols from its own executable when it loads the
//! addon; a cdylib on Linux may leave them undefined at link time.
#![allow(non_camel_case_types, dead_code)]

use std::ffi::{c_char, c_void, CString};
use std::ptr;

pub type napi_env = *mut c_void;
pub type napi_value = *mut c_void;
pub type napi_callback_info = *mut c_void;
pub type napi_deferred = *mut c_void;
pub type napi_threadsafe_function = *mut c_void;
pub type napi_async_work = *mut c_void;
pub type napi_async_execute_callback = Option<unsafe extern "C" fn(napi_env, *mut c_void)>;
pub type napi_async_complete_callback = Option<unsafe extern "C" fn(napi_env, napi_status, *mut c_void)>;
pub type napi_status = i32;
pub type napi_callback = Option<unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value>;
pub type napi_finalize = Option<unsafe extern "C" fn(napi_env, *mut c_void, *mut c_void)>;
pub type napi_threadsafe_function_call_js =
    Option<unsafe extern "C" fn(napi_env, napi_value, *mut c_void, *mut c_void)>;

pub const NAPI_OK: napi_status = 0;
pub const NAPI_PENDING_EXCEPTION: napi_status = 10;

/// `napi_valuetype`.
pub mod valuetype {
    pub const UNDEFINED: i32 = 0;
    pub const NULL: i32 = 1;
    pub const BOOLEAN: i32 = 2;
    pub const NUMBER: i32 = 3;
    pub const STRING: i32 = 4;
    pub const SYMBOL: i32 = 5;
    pub const OBJECT: i32 = 6;
    pub const FUNCTION: i32 = 7;
    pub const EXTERNAL: i32 = 8;
    pub const BIGINT: i32 = 9;
}

pub const TSFN_NONBLOCKING: i32 = 0;
pub const TSFN_BLOCKING: i32 = 1;
pub const TSFN_RELEASE: i32 = 0;
pub const TSFN_ABORT: i32 = 1;

extern "C" {
    pub fn napi_create_function(env: napi_env, name: *const c_char, len: usize, cb: napi_callback, data: *mut c_void, result: *mut napi_value) -> napi_status;
    pub fn napi_get_cb_info(env: napi_env, info: napi_callback_info, argc: *mut usize, argv: *mut napi_value, this: *mut napi_value, data: *mut *mut c_void) -> napi_status;
    pub fn napi_set_named_property(env: napi_env, obj: napi_value, name: *const c_char, value: napi_value) -> napi_status;
    pub fn napi_get_named_property(env: napi_env, obj: napi_value, name: *const c_char, result: *mut napi_value) -> napi_status;
    pub fn napi_has_named_property(env: napi_env, obj: napi_value, name: *const c_char, result: *mut bool) -> napi_status;
    pub fn napi_get_property_names(env: napi_env, obj: napi_value, result: *mut napi_value) -> napi_status;
    pub fn napi_typeof(env: napi_env, value: napi_value, result: *mut i32) -> napi_status;
    pub fn napi_is_array(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    pub fn napi_is_buffer(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    pub fn napi_get_value_string_utf8(env: napi_env, value: napi_value, buf: *mut c_char, bufsize: usize, result: *mut usize) -> napi_status;
    pub fn napi_get_value_int32(env: napi_env, value: napi_value, result: *mut i32) -> napi_status;
    pub fn napi_get_value_uint32(env: napi_env, value: napi_value, result: *mut u32) -> napi_status;
    pub fn napi_get_value_int64(env: napi_env, value: napi_value, result: *mut i64) -> napi_status;
    pub fn napi_get_value_double(env: napi_env, value: napi_value, result: *mut f64) -> napi_status;
    pub fn napi_get_value_bool(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    pub fn napi_get_buffer_info(env: napi_env, value: napi_value, data: *mut *mut c_void, len: *mut usize) -> napi_status;
    pub fn napi_get_array_length(env: napi_env, value: napi_value, result: *mut u32) -> napi_status;
    pub fn napi_get_element(env: napi_env, obj: napi_value, index: u32, result: *mut napi_value) -> napi_status;
    pub fn napi_set_element(env: napi_env, obj: napi_value, index: u32, value: napi_value) -> napi_status;
    pub fn napi_create_string_utf8(env: napi_env, s: *const c_char, len: usize, result: *mut napi_value) -> napi_status;
    pub fn napi_create_int32(env: napi_env, v: i32, result: *mut napi_value) -> napi_status;
    pub fn napi_create_uint32(env: napi_env, v: u32, result: *mut napi_value) -> napi_status;
    pub fn napi_create_int64(env: napi_env, v: i64, result: *mut napi_value) -> napi_status;
    pub fn napi_create_double(env: napi_env, v: f64, result: *mut napi_value) -> napi_status;
    pub fn napi_create_bigint_uint64(env: napi_env, v: u64, result: *mut napi_value) -> napi_status;
    pub fn napi_get_boolean(env: napi_env, v: bool, result: *mut napi_value) -> napi_status;
    pub fn napi_get_undefined(env: napi_env, result: *mut napi_value) -> napi_status;
    pub fn napi_get_null(env: napi_env, result: *mut napi_value) -> napi_status;
    pub fn napi_get_global(env: napi_env, result: *mut napi_value) -> napi_status;
    pub fn napi_create_object(env: napi_env, result: *mut napi_value) -> napi_status;
    pub fn napi_create_array_with_length(env: napi_env, len: usize, result: *mut napi_value) -> napi_status;
    pub fn node_api_create_external_string_latin1(env: napi_env, s: *mut c_char, len: usize, finalize_cb: napi_finalize, finalize_hint: *mut c_void, result: *mut napi_value, copied: *mut bool) -> napi_status;
    pub fn napi_create_external_buffer(env: napi_env, len: usize, data: *mut c_void, finalize_cb: napi_finalize, finalize_hint: *mut c_void, result: *mut napi_value) -> napi_status;
    pub fn napi_create_buffer_copy(env: napi_env, len: usize, data: *const c_void, result_data: *mut *mut c_void, result: *mut napi_value) -> napi_status;
    pub fn napi_create_error(env: napi_env, code: napi_value, msg: napi_value, result: *mut napi_value) -> napi_status;
    pub fn napi_throw(env: napi_env, error: napi_value) -> napi_status;
    pub fn napi_throw_error(env: napi_env, code: *const c_char, msg: *const c_char) -> napi_status;
    pub fn napi_is_exception_pending(env: napi_env, result: *mut bool) -> napi_status;
    pub fn napi_call_function(env: napi_env, recv: napi_value, func: napi_value, argc: usize, argv: *const napi_value, result: *mut napi_value) -> napi_status;
    pub fn napi_create_promise(env: napi_env, deferred: *mut napi_deferred, promise: *mut napi_value) -> napi_status;
    pub fn napi_resolve_deferred(env: napi_env, deferred: napi_deferred, value: napi_value) -> napi_status;
    pub fn napi_reject_deferred(env: napi_env, deferred: napi_deferred, value: napi_value) -> napi_status;
    pub fn napi_create_threadsafe_function(env: napi_env, func: napi_value, async_resource: napi_value, async_resource_name: napi_value, max_queue_size: usize, initial_thread_count: usize, thread_finalize_data: *mut c_void, thread_finalize_cb: napi_finalize, context: *mut c_void, call_js_cb: napi_threadsafe_function_call_js, result: *mut napi_threadsafe_function) -> napi_status;
    pub fn napi_call_threadsafe_function(func: napi_threadsafe_function, data: *mut c_void, is_blocking: i32) -> napi_status;
    pub fn napi_release_threadsafe_function(func: napi_threadsafe_function, mode: i32) -> napi_status;
    pub fn napi_unref_threadsafe_function(env: napi_env, func: napi_threadsafe_function) -> napi_status;
    pub fn napi_ref_threadsafe_function(env: napi_env, func: napi_threadsafe_function) -> napi_status;
    pub fn napi_create_external(env: napi_env, data: *mut c_void, finalize_cb: napi_finalize, finalize_hint: *mut c_void, result: *mut napi_value) -> napi_status;
    pub fn napi_get_value_external(env: napi_env, value: napi_value, result: *mut *mut c_void) -> napi_status;
    pub fn napi_create_async_work(env: napi_env, async_resource: napi_value, async_resource_name: napi_value, execute: napi_async_execute_callback, complete: napi_async_complete_callback, data: *mut c_void, result: *mut napi_async_work) -> napi_status;
    pub fn napi_queue_async_work(env: napi_env, work: napi_async_work) -> napi_status;
    pub fn napi_delete_async_work(env: napi_env, work: napi_async_work) -> napi_status;
}

/// An error to throw into JavaScript: `code` becomes `err.code`, and each of
/// `fields` becomes a property (errno, syscall, path…).
#[derive(Debug, Clone)]
pub struct JsError {
    pub code: String,
    pub message: String,
    pub fields: Vec<(String, Field)>,
}

/// A property value on a thrown error.
#[derive(Debug, Clone)]
pub enum Field {
    Str(String),
    Int(i64),
}

impl JsError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        JsError { code: code.to_string(), message: message.into(), fields: Vec::new() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        JsError::new("ERR_NS_INVALID_ARGUMENT", message)
    }
    pub fn with(mut self, key: &str, v: Field) -> Self {
        self.fields.push((key.to_string(), v));
        self
    }
}

pub type JsResult<T> = Result<T, JsError>;

/// A borrowed `napi_env` for the duration of one call from JavaScript.
#[derive(Clone, Copy)]
pub struct Env(pub napi_env);

/// Queues `job` (from `Box::into_raw`) on the libuv thread pool: `execute`
/// runs there, `complete` back on the main thread, where it takes the box
/// back and deletes the work, which `store` first saves into the job. When
/// queueing fails the job is dropped here.
pub(crate) unsafe fn queue_work<T>(
    env: Env, name: &str, job: *mut T, store: fn(&mut T, napi_async_work),
    execute: napi_async_execute_callback, complete: napi_async_complete_callback,
) -> JsResult<()> {
    let name = match env.string(name) {
        Ok(n) => n,
        Err(e) => {
            drop(Box::from_raw(job));
            return Err(e);
        }
    };
    let mut work = std::ptr::null_mut();
    let created = napi_create_async_work(env.0, std::ptr::null_mut(), name, execute, complete, job as *mut c_void, &mut work);
    if created != NAPI_OK {
        drop(Box::from_raw(job));
        return Err(JsError::new("ERR_NS_NAPI", format!("napi_create_async_work failed with napi_status {created}")));
    }
    store(&mut *job, work);
    let queued = napi_queue_async_work(env.0, work);
    if queued != NAPI_OK {
        napi_delete_async_work(env.0, work);
        drop(Box::from_raw(job));
        return Err(JsError::new("ERR_NS_NAPI", format!("napi_queue_async_work failed with napi_status {queued}")));
    }
    Ok(())
}

pub(crate) fn check(status: napi_status, what: &str) -> JsResult<()> {
    if status == NAPI_OK {
        Ok(())
    } else {
        Err(JsError::new("ERR_NS_NAPI", format!("{what} failed with napi_status {status}")))
    }
}

fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap()
}

impl Env {
    pub fn undefined(self) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_get_undefined(self.0, &mut v) }, "napi_get_undefined")?;
        Ok(v)
    }
    pub fn null(self) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_get_null(self.0, &mut v) }, "napi_get_null")?;
        Ok(v)
    }
    pub fn boolean(self, b: bool) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_get_boolean(self.0, b, &mut v) }, "napi_get_boolean")?;
        Ok(v)
    }
    pub fn string(self, s: &str) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_create_string_utf8(self.0, s.as_ptr() as *const c_char, s.len(), &mut v) }, "napi_create_string_utf8")?;
        Ok(v)
    }
    pub fn int(self, n: i64) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_create_int64(self.0, n, &mut v) }, "napi_create_int64")?;
        Ok(v)
    }
    pub fn double(self, n: f64) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_create_double(self.0, n, &mut v) }, "napi_create_double")?;
        Ok(v)
    }
    pub fn bigint_u64(self, n: u64) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_create_bigint_uint64(self.0, n, &mut v) }, "napi_create_bigint_uint64")?;
        Ok(v)
    }
    pub fn object(self) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_create_object(self.0, &mut v) }, "napi_create_object")?;
        Ok(v)
    }
    pub fn array(self, len: usize) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_create_array_with_length(self.0, len, &mut v) }, "napi_create_array_with_length")?;
        Ok(v)
    }
    pub fn buffer(self, data: &[u8]) -> JsResult<napi_value> {
        let mut v = ptr::null_mut();
        let mut out = ptr::null_mut();
        check(unsafe { napi_create_buffer_copy(self.0, data.len(), data.as_ptr() as *const c_void, &mut out, &mut v) }, "napi_create_buffer_copy")?;
        Ok(v)
    }
    pub fn set(self, obj: napi_value, key: &str, value: napi_value) -> JsResult<()> {
        let k = cstr(key);
        check(unsafe { napi_set_named_property(self.0, obj, k.as_ptr(), value) }, "napi_set_named_property")
    }
    pub fn set_element(self, arr: napi_value, i: u32, value: napi_value) -> JsResult<()> {
        check(unsafe { napi_set_element(self.0, arr, i, value) }, "napi_set_element")
    }
    pub fn type_of(self, v: napi_value) -> JsResult<i32> {
        let mut t = 0;
        check(unsafe { napi_typeof(self.0, v, &mut t) }, "napi_typeof")?;
        Ok(t)
    }
    pub fn is_nullish(self, v: napi_value) -> JsResult<bool> {
        let t = self.type_of(v)?;
        Ok(t == valuetype::UNDEFINED || t == valuetype::NULL)
    }
    /// Reads a named property; `None` when it is absent, undefined or null.
    pub fn get(self, obj: napi_value, key: &str) -> JsResult<Option<napi_value>> {
        let k = cstr(key);
        let mut has = false;
        check(unsafe { napi_has_named_property(self.0, obj, k.as_ptr(), &mut has) }, "napi_has_named_property")?;
        if !has {
            return Ok(None);
        }
        let mut v = ptr::null_mut();
        check(unsafe { napi_get_named_property(self.0, obj, k.as_ptr(), &mut v) }, "napi_get_named_property")?;
        if self.is_nullish(v)? {
            Ok(None)
        } else {
            Ok(Some(v))
        }
    }
    pub fn get_string(self, v: napi_value) -> JsResult<String> {
        if self.type_of(v)? != valuetype::STRING {
            return Err(JsError::invalid("expected a string"));
        }
        let mut len = 0usize;
        check(unsafe { napi_get_value_string_utf8(self.0, v, ptr::null_mut(), 0, &mut len) }, "napi_get_value_string_utf8")?;
        let mut buf = vec![0u8; len + 1];
        let mut written = 0usize;
        check(unsafe { napi_get_value_string_utf8(self.0, v, buf.as_mut_ptr() as *mut c_char, len + 1, &mut written) }, "napi_get_value_string_utf8")?;
        buf.truncate(written);
        String::from_utf8(buf).map_err(|_| JsError::invalid("string is not valid utf-8"))
    }
    pub fn get_i64(self, v: napi_value) -> JsResult<i64> {
        if self.type_of(v)? != valuetype::NUMBER {
            return Err(JsError::invalid("expected a number"));
        }
        let mut n = 0i64;
        check(unsafe { napi_get_value_int64(self.0, v, &mut n) }, "napi_get_value_int64")?;
        Ok(n)
    }
    pub fn get_f64(self, v: napi_value) -> JsResult<f64> {
        if self.type_of(v)? != valuetype::NUMBER {
            return Err(JsError::invalid("expected a number"));
        }
        let mut n = 0f64;
        check(unsafe { napi_get_value_double(self.0, v, &mut n) }, "napi_get_value_double")?;
        Ok(n)
    }
    pub fn get_bool(self, v: napi_value) -> JsResult<bool> {
        if self.type_of(v)? != valuetype::BOOLEAN {
            return Err(JsError::invalid("expected a boolean"));
        }
        let mut b = false;
        check(unsafe { napi_get_value_bool(self.0, v, &mut b) }, "napi_get_value_bool")?;
        Ok(b)
    }
    /// Copies the bytes of a Buffer or Uint8Array view out of JavaScript.
    pub fn get_bytes(self, v: napi_value) -> JsResult<Vec<u8>> {
        let mut is = false;
        check(unsafe { napi_is_buffer(self.0, v, &mut is) }, "napi_is_buffer")?;
        if !is {
            return Err(JsError::invalid("expected a Buffer"));
        }
        let mut data = ptr::null_mut();
        let mut len = 0usize;
        check(unsafe { napi_get_buffer_info(self.0, v, &mut data, &mut len) }, "napi_get_buffer_info")?;
        if len == 0 {
            return Ok(Vec::new());
        }
        Ok(unsafe { std::slice::from_raw_parts(data as *const u8, len) }.to_vec())
    }
    pub fn get_array(self, v: napi_value) -> JsResult<Vec<napi_value>> {
        let mut is = false;
        check(unsafe { napi_is_array(self.0, v, &mut is) }, "napi_is_array")?;
        if !is {
            return Err(JsError::invalid("expected an array"));
        }
        let mut len = 0u32;
        check(unsafe { napi_get_array_length(self.0, v, &mut len) }, "napi_get_array_length")?;
        let mut out = Vec::with_capacity(len as usize);
        for i in 0..len {
            let mut e = ptr::null_mut();
            check(unsafe { napi_get_element(self.0, v, i, &mut e) }, "napi_get_element")?;
            out.push(e);
        }
        Ok(out)
    }
    /// Builds a JavaScript `Error` with `code` and the extra fields set.
    pub fn error(self, e: &JsError) -> JsResult<napi_value> {
        let code = self.string(&e.code)?;
        let msg = self.string(&e.message)?;
        let mut err = ptr::null_mut();
        check(unsafe { napi_create_error(self.0, code, msg, &mut err) }, "napi_create_error")?;
        for (k, v) in &e.fields {
            let val = match v {
                Field::Str(s) => self.string(s)?,
                Field::Int(n) => self.int(*n)?,
            };
            self.set(err, k, val)?;
        }
        Ok(err)
    }
    pub fn throw(self, e: &JsError) {
        unsafe {
            let mut pending = false;
            napi_is_exception_pending(self.0, &mut pending);
            if pending {
                return;
            }
            match self.error(e) {
                Ok(err) => {
                    napi_throw(self.0, err);
                }
                Err(_) => {
                    let c = cstr(&e.code);
                    let m = cstr(&e.message);
                    napi_throw_error(self.0, c.as_ptr(), m.as_ptr());
                }
            }
        }
    }
}

/// The signature of an exported function: the env and its arguments.
pub type ExportFn = fn(Env, &[napi_value]) -> JsResult<napi_value>;

const MAX_ARGS: usize = 8;

unsafe extern "C" fn trampoline(env: napi_env, info: napi_callback_info) -> napi_value {
    let mut argc = MAX_ARGS;
    let mut argv = [ptr::null_mut(); MAX_ARGS];
    let mut data: *mut c_void = ptr::null_mut();
    let e = Env(env);
    if napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data) != NAPI_OK {
        e.throw(&JsError::new("ERR_NS_NAPI", "napi_get_cb_info failed"));
        return ptr::null_mut();
    }
    let f: ExportFn = std::mem::transmute::<*mut c_void, ExportFn>(data);
    let n = argc.min(MAX_ARGS);
    // Missing trailing arguments read as undefined.
    let undef = e.undefined().unwrap_or(ptr::null_mut());
    for a in argv.iter_mut().skip(n) {
        *a = undef;
    }
    match std::panic::catch_unwind(|| f(e, &argv[..MAX_ARGS])) {
        Ok(Ok(v)) => v,
        Ok(Err(err)) => {
            e.throw(&err);
            ptr::null_mut()
        }
        Err(_) => {
            e.throw(&JsError::new("ERR_NS_INTERNAL", "native panic"));
            ptr::null_mut()
        }
    }
}

/// Adds `name` as a function on `exports`.
pub fn export(env: Env, exports: napi_value, name: &str, f: ExportFn) -> JsResult<()> {
    let mut func = ptr::null_mut();
    check(
        unsafe { napi_create_function(env.0, name.as_ptr() as *const c_char, name.len(), Some(trampoline), f as *mut c_void, &mut func) },
        "napi_create_function",
    )?;
    env.set(exports, name, func)
}

/// A threadsafe function: lets a Rust thread call a JavaScript function on
/// the main thread (`napi_create_threadsafe_function`). Each `call` hands a
/// boxed value to `call_js`, which owns it from then on.
pub struct Tsfn(pub napi_threadsafe_function);

// The handle is meant to be used from other threads.
unsafe impl Send for Tsfn {}

impl Env {
    /// Wraps `func` in a threadsafe function whose calls run `call_js`. It
    /// keeps the event loop alive until released.
    pub fn threadsafe_function(self, func: napi_value, name: &str, call_js: napi_threadsafe_function_call_js) -> JsResult<Tsfn> {
        let n = self.string(name)?;
        let mut t = ptr::null_mut();
        check(
            unsafe { napi_create_threadsafe_function(self.0, func, ptr::null_mut(), n, 0, 1, ptr::null_mut(), None, ptr::null_mut(), call_js, &mut t) },
            "napi_create_threadsafe_function",
        )?;
        Ok(Tsfn(t))
    }
    /// Calls `func` with `args` and `undefined` as `this`.
    pub fn call(self, func: napi_value, args: &[napi_value]) -> JsResult<napi_value> {
        let this = self.undefined()?;
        let mut out = ptr::null_mut();
        check(unsafe { napi_call_function(self.0, this, func, args.len(), args.as_ptr(), &mut out) }, "napi_call_function")?;
        Ok(out)
    }
}

impl Tsfn {
    /// Queues a call with `data` (ownership passes to `call_js`).
    pub fn call(&self, data: *mut c_void) -> bool {
        unsafe { napi_call_threadsafe_function(self.0, data, TSFN_BLOCKING) == NAPI_OK }
    }
    /// Releases this thread's use of the function.
    pub fn release(self) {
        unsafe { napi_release_threadsafe_function(self.0, TSFN_RELEASE) };
    }
}

/// The result of work done off the main thread: a closure that builds the
/// JavaScript value once back on the main thread.
pub type Completion = Box<dyn FnOnce(Env) -> JsResult<napi_value> + Send>;

unsafe extern "C" fn completion_call_js(env: napi_env, func: napi_value, _ctx: *mut c_void, data: *mut c_void) {
    let done = Box::from_raw(data as *mut Completion);
    if env.is_null() || func.is_null() {
        return;
    }
    let e = Env(env);
    let args = match (*done)(e) {
        Ok(v) => e.null().map(|n| [n, v]),
        Err(err) => e.error(&err).and_then(|x| e.undefined().map(|u| [x, u])),
    };
    if let Ok(args) = args {
        let _ = e.call(func, &args);
    }
}

/// Runs `work` on a new thread (never the libuv pool) and calls the
/// JavaScript `callback(err, value)` with what its completion builds.
pub fn spawn_task(env: Env, callback: napi_value, name: &str, work: impl FnOnce() -> Completion + Send + 'static) -> JsResult<()> {
    let tsfn = env.threadsafe_function(callback, name, Some(completion_call_js))?;
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let done: Completion = work();
            tsfn.call(Box::into_raw(Box::new(done)) as *mut c_void);
            tsfn.release();
        })
        .map(|_| ())
        .map_err(|e| JsError::new("ERR_NS_INTERNAL", format!("spawning a thread: {e}")))
}
