//! N-API exports for berth_core::runtime. Specs and processes arrive as JSON
//! strings (parsed once, in Rust); states leave as JSON strings. `wait`
//! runs `waitpid` on a dedicated thread and reports through a threadsafe
//! function, never on the libuv pool.
use crate::convert::core_err;
use crate::napi::{self, napi_env, napi_value, Env, JsError, JsResult};
use berth_core::runtime::{self as rt, CreateOptions, ExecOptions, StdioFds};
use berth_core::spec::{Process, Spec};
use std::ffi::c_void;
use std::path::PathBuf;

pub fn register(env: Env, exports: napi_value) -> JsResult<()> {
    napi::export(env, exports, "runtimeCreate", create)?;
    napi::export(env, exports, "runtimeStart", start)?;
    napi::export(env, exports, "runtimeStartAsync", start_async)?;
    napi::export(env, exports, "runtimeState", state)?;
    napi::export(env, exports, "runtimeList", list)?;
    napi::export(env, exports, "runtimeKill", kill)?;
    napi::export(env, exports, "runtimeDelete", delete)?;
    napi::export(env, exports, "runtimeDeleteAsync", delete_async)?;
    napi::export(env, exports, "runtimePause", pause)?;
    napi::export(env, exports, "runtimeResume", resume)?;
    napi::export(env, exports, "runtimePids", pids)?;
    napi::export(env, exports, "runtimeExec", exec)?;
    napi::export(env, exports, "runtimeWait", wait)?;
    napi::export(env, exports, "ptyResize", pty_resize)?;
    napi::export(env, exports, "processExitNow", exit_now)?;
    Ok(())
}

/// Ends the process at once with `_exit(2)`: no exit handlers, no thread
/// joins, no freeing (the kernel reclaims everything). File descriptors 0-2
/// are first put back in blocking mode (what Node's exit would restore for a
/// pipe it made non-blocking). With `unless_terminal`, when one of them is a
/// terminal it returns false instead (Node's exit also restores its modes).
fn exit_now(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let code = env.get_f64(a[0]).map_err(|_| JsError::invalid("code must be a number"))?;
    if !(code.fract() == 0.0 && (0.0..=255.0).contains(&code)) {
        return Err(JsError::invalid(format!("exit code {code} is not an integer from 0 to 255")));
    }
    let unless_terminal = !env.is_nullish(a[1])? && env.get_bool(a[1])?;
    if unless_terminal && (0..3).any(|fd| unsafe { libc::isatty(fd) } == 1) {
        return env.boolean(false);
    }
    for fd in 0..3 {
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags >= 0 && flags & libc::O_NONBLOCK != 0 {
            unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) };
        }
    }
    unsafe { libc::_exit(code as i32) }
}

fn str_field(env: Env, o: napi_value, k: &str) -> JsResult<Option<String>> {
    env.get(o, k)?.map(|v| env.get_string(v)).transpose()
}

fn req_str(env: Env, o: napi_value, k: &str) -> JsResult<String> {
    str_field(env, o, k)?.ok_or_else(|| JsError::invalid(format!("{k} is required")))
}

fn bool_field(env: Env, o: napi_value, k: &str) -> JsResult<bool> {
    Ok(env.get(o, k)?.map(|v| env.get_bool(v)).transpose()?.unwrap_or(false))
}

fn int_field(env: Env, o: napi_value, k: &str) -> JsResult<Option<i64>> {
    env.get(o, k)?.map(|v| env.get_i64(v)).transpose()
}

fn close(fd: i32) {
    if fd >= 0 {
        unsafe { libc::close(fd) };
    }
}

fn pipe() -> JsResult<(i32, i32)> {
    let mut p = [-1; 2];
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(core_err(berth_core::error::Error::last("pipe2", None)));
    }
    Ok((p[0], p[1]))
}

/// The stdio of a new process: what the child gets, what JS keeps, and
/// what the parent closes after the clone.
struct Stdio {
    child: StdioFds,
    parent: Option<[i32; 3]>,
    pty: Option<i32>,
    close_after: Vec<i32>,
}

impl Stdio {
    fn fail(self) {
        for fd in self.close_after {
            close(fd);
        }
        if let Some(p) = self.parent {
            p.iter().for_each(|&f| close(f));
        }
        if let Some(m) = self.pty {
            close(m);
        }
    }
}

fn make_stdio(env: Env, o: napi_value, terminal: bool) -> JsResult<Stdio> {
    let mode = str_field(env, o, "stdio")?.unwrap_or_else(|| "inherit".into());
    let mode = if terminal { "pty".to_string() } else { mode };
    match mode.as_str() {
        "inherit" => Ok(Stdio { child: StdioFds::Fds([-1; 3]), parent: None, pty: None, close_after: vec![] }),
        "ignore" => {
            let fd = unsafe { libc::open(b"/dev/null\0".as_ptr() as *const libc::c_char, libc::O_RDWR | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(core_err(berth_core::error::Error::last("open", Some("/dev/null"))));
            }
            Ok(Stdio { child: StdioFds::Fds([fd; 3]), parent: None, pty: None, close_after: vec![fd] })
        }
        "pipe" => {
            let (in_r, in_w) = pipe()?;
            let (out_r, out_w) = pipe()?;
            let (err_r, err_w) = pipe()?;
            Ok(Stdio { child: StdioFds::Fds([in_r, out_w, err_w]), parent: Some([in_w, out_r, err_r]), pty: None, close_after: vec![in_r, out_w, err_w] })
        }
        "pty" => {
            // The child opens the pty from the container's /dev/ptmx and sends the master back.
            let rows = int_field(env, o, "rows")?.unwrap_or(0) as u16;
            let cols = int_field(env, o, "cols")?.unwrap_or(0) as u16;
            Ok(Stdio { child: StdioFds::NewPty { rows, cols }, parent: None, pty: None, close_after: vec![] })
        }
        other => Err(JsError::invalid(format!("stdio {other:?} is not inherit, ignore, pipe or pty"))),
    }
}

fn stdio_result(env: Env, out: napi_value, s: &Stdio) -> JsResult<()> {
    if let Some(p) = s.parent {
        let arr = env.array(3)?;
        for (i, fd) in p.iter().enumerate() {
            env.set_element(arr, i as u32, env.int(*fd as i64)?)?;
        }
        env.set(out, "fds", arr)?;
    }
    if let Some(m) = s.pty {
        env.set(out, "pty", env.int(m as i64)?)?;
    }
    Ok(())
}

fn root_of(env: Env, v: napi_value) -> JsResult<PathBuf> {
    if env.is_nullish(v)? {
        Ok(PathBuf::from(rt::DEFAULT_ROOT))
    } else {
        Ok(PathBuf::from(env.get_string(v)?))
    }
}

fn json<T: serde::Serialize>(env: Env, v: &T) -> JsResult<napi_value> {
    env.string(&serde_json::to_string(v).map_err(|e| JsError::new("ERR_NS_INTERNAL", e.to_string()))?)
}

/// `runtimeCreate({ id, root, bundle, spec, stdio, rows, cols, noPivot, start, preserveFds }, callback)`:
/// the clone and set-up run on their own thread; `callback(err, { pid, state, fds?, pty? })`.
fn create(env: Env, args: &[napi_value]) -> JsResult<napi_value> {
    let o = args[0];
    let spec = Spec::from_json(req_str(env, o, "spec")?.as_bytes()).map_err(core_err)?;
    let terminal = spec.process.as_ref().map(|p| p.terminal).unwrap_or(false);
    let opts = CreateOptions {
        id: req_str(env, o, "id")?,
        root: root_of(env, env.get(o, "root")?.unwrap_or(env.undefined()?))?,
        bundle: PathBuf::from(req_str(env, o, "bundle")?),
        spec,
        stdio: StdioFds::Fds([-1; 3]),
        no_pivot: bool_field(env, o, "noPivot")?,
        preserve_fds: int_field(env, o, "preserveFds")?.unwrap_or(0) as i32,
        exec_fifo: !bool_field(env, o, "start")?,
    };
    let stdio = make_stdio(env, o, terminal)?;
    let opts = CreateOptions { stdio: stdio.child, ..opts };
    napi::spawn_task(env, args[1], "berth-create", move || {
        let r = rt::create(opts).map(|c| (c.pid, c.pty_master, Some(c.state)));
        complete(stdio, r)
    })?;
    env.undefined()
}

/// Closes the parent's copies of the child's stdio ends, then builds what the
/// JS callback gets: `{ pid, state?, fds? | pty? }`, or the error (closing the
/// parent's ends too).
fn complete(mut stdio: Stdio, r: Result<(i32, Option<i32>, Option<rt::State>), berth_core::error::Error>) -> napi::Completion {
    for &fd in &stdio.close_after {
        close(fd);
    }
    stdio.close_after.clear();
    match r {
        Err(e) => {
            stdio.fail();
            Box::new(move |_| Err(core_err(e)))
        }
        Ok((pid, pty, state)) => Box::new(move |env: Env| {
            if pty.is_some() {
                stdio.pty = pty;
            }
            let out = env.object()?;
            env.set(out, "pid", env.int(pid as i64)?)?;
            if let Some(state) = &state {
                env.set(out, "state", json(env, state)?)?;
            }
            stdio_result(env, out, &stdio)?;
            Ok(out)
        }),
    }
}

fn start(env: Env, args: &[napi_value]) -> JsResult<napi_value> {
    let s = rt::start(&root_of(env, args[0])?, &env.get_string(args[1])?).map_err(core_err)?;
    json(env, &s)
}

/// `runtimeStartAsync(root, id, callback)`: `start` on a thread of its own
/// (it waits for the init to be scheduled and write to the exec fifo, which
/// must not hold the event loop); `callback(err, stateJson)`.
fn start_async(env: Env, args: &[napi_value]) -> JsResult<napi_value> {
    let root = root_of(env, args[0])?;
    let id = env.get_string(args[1])?;
    napi::spawn_task(env, args[2], "berth-start", move || {
        let r = rt::start(&root, &id);
        Box::new(move |env: Env| match r {
            Ok(s) => json(env, &s),
            Err(e) => Err(core_err(e)),
        })
    })?;
    env.undefined()
}

fn state(env: Env, args: &[napi_value]) -> JsResult<napi_value> {
    let s = rt::state(&root_of(env, args[0])?, &env.get_string(args[1])?).map_err(core_err)?;
    json(env, &s)
}

fn list(env: Env, args: &[napi_value]) -> JsResult<napi_value> {
    json(env, &rt::list(&root_of(env, args[0])?).map_err(core_err)?)
}

fn kill(env: Env, args: &[napi_value]) -> JsResult<napi_value> {
    let sig = env.get_i64(args[2])? as i32;
    let all = !env.is_nullish(args[3])? && env.get_bool(args[3])?;
    rt::kill(&root_of(env, args[0])?, &env.get_string(args[1])?, sig, all).map_err(core_err)?;
    env.undefined()
}

fn delete(env: Env, args: &[napi_value]) -> JsResult<napi_value> {
    let force = !env.is_nullish(args[2])? && env.get_bool(args[2])?;
    rt::delete(&root_of(env, args[0])?, &env.get_string(args[1])?, force).map_err(core_err)?;
    env.undefined()
}

/// `runtimeDeleteAsync(root, id, force, callback)`: `delete` (cgroup removal,
/// state directory) on a thread of its own; `callback(err)`.
fn delete_async(env: Env, args: &[napi_value]) -> JsResult<napi_value> {
    let force = !env.is_nullish(args[2])? && env.get_bool(args[2])?;
    let root = root_of(env, args[0])?;
    let id = env.get_string(args[1])?;
    napi::spawn_task(env, args[3], "berth-delete", move || {
        let r = rt::delete(&root, &id, force);
        Box::new(move |env: Env| match r {
            Ok(()) => env.undefined(),
            Err(e) => Err(core_err(e)),
        })
    })?;
    env.undefined()
}

fn pause(env: Env, args: &[napi_value]) -> JsResult<napi_value> {
    rt::pause(&root_of(env, args[0])?, &env.get_string(args[1])?).map_err(core_err)?;
    env.undefined()
}

fn resume(env: Env, args: &[napi_value]) -> JsResult<napi_value> {
    rt::resume(&root_of(env, args[0])?, &env.get_string(args[1])?).map_err(core_err)?;
    env.undefined()
}

fn pids(env: Env, args: &[napi_value]) -> JsResult<napi_value> {
    json(env, &rt::pids(&root_of(env, args[0])?, &env.get_string(args[1])?).map_err(core_err)?)
}

/// `runtimeExec({ root, id, process, stdio, rows, cols }, callback)` → `callback(err, { pid, fds?, pty? })`.
fn exec(env: Env, args: &[napi_value]) -> JsResult<napi_value> {
    let o = args[0];
    let process: Process = serde_json::from_str(&req_str(env, o, "process")?).map_err(|e| JsError::new("ERR_NS_INVALID_SPEC", format!("process: {e}")))?;
    let root = root_of(env, env.get(o, "root")?.unwrap_or(env.undefined()?))?;
    let id = req_str(env, o, "id")?;
    let stdio = make_stdio(env, o, process.terminal)?;
    let child = stdio.child;
    napi::spawn_task(env, args[1], "berth-exec", move || {
        let r = rt::exec(&root, &id, ExecOptions { process, stdio: child, preserve_fds: 0 }).map(|(pid, pty)| (pid, pty, None));
        complete(stdio, r)
    })?;
    env.undefined()
}

struct WaitResult {
    exit_code: Option<i32>,
    signal: Option<i32>,
    oom_killed: bool,
    error: Option<JsError>,
}

unsafe extern "C" fn wait_call_js(env: napi_env, func: napi_value, _ctx: *mut c_void, data: *mut c_void) {
    let r = Box::from_raw(data as *mut WaitResult);
    if env.is_null() || func.is_null() {
        return;
    }
    let e = Env(env);
    let v = (|| -> JsResult<napi_value> {
        let o = e.object()?;
        if let Some(err) = &r.error {
            e.set(o, "error", e.error(err)?)?;
            return Ok(o);
        }
        e.set(o, "exitCode", match r.exit_code { Some(c) => e.int(c as i64)?, None => e.null()? })?;
        e.set(o, "signal", match r.signal { Some(s) => e.int(s as i64)?, None => e.null()? })?;
        e.set(o, "oomKilled", e.boolean(r.oom_killed)?)?;
        Ok(o)
    })();
    if let Ok(v) = v {
        let _ = e.call(func, &[v]);
    }
}

/// `runtimeWait(pid, isChild, cgroupsPath, callback)`: a thread waits for
/// the process and calls `callback({ exitCode, signal, oomKilled })`.
fn wait(env: Env, args: &[napi_value]) -> JsResult<napi_value> {
    let pid = env.get_i64(args[0])? as i32;
    let is_child = env.get_bool(args[1])?;
    let cg = if env.is_nullish(args[2])? { None } else { Some(env.get_string(args[2])?) };
    // The threadsafe function stays ref'd (never napi_unref_threadsafe_function):
    // like a child_process handle it keeps the event loop alive while the
    // wait is pending, and releasing it after the one call lets the loop go.
    let tsfn = env.threadsafe_function(args[3], "berth.wait", Some(wait_call_js))?;
    std::thread::Builder::new()
        .name(format!("berth-wait-{pid}"))
        .spawn(move || {
            let mut r = WaitResult { exit_code: None, signal: None, oom_killed: false, error: None };
            if is_child {
                match rt::reap(pid) {
                    Some(st) => (r.exit_code, r.signal) = rt::decode_status(st),
                    None => r.error = Some(core_err(berth_core::error::Error::last("waitpid", None))),
                }
            } else if let Err(e) = rt::wait_foreign(pid) {
                r.error = Some(core_err(e));
            }
            if let Some(p) = &cg {
                r.oom_killed = rt::oom_killed(p);
            }
            tsfn.call(Box::into_raw(Box::new(r)) as *mut c_void);
            tsfn.release();
        })
        .map_err(|e| JsError::new("ERR_NS_INTERNAL", format!("spawning the wait thread: {e}")))?;
    env.undefined()
}

fn pty_resize(env: Env, args: &[napi_value]) -> JsResult<napi_value> {
    rt::resize_pty(env.get_i64(args[0])? as i32, env.get_i64(args[1])? as u16, env.get_i64(args[2])? as u16).map_err(core_err)?;
    env.undefined()
}
