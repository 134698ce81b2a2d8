//! berth-runtime: an OCI runtime CLI with runc-compatible commands and
//! flags, built on berth_core::runtime, so engines that drive runc (podman
//! through conmon, containerd's shim) can drive it.
//!
//! berth-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug]
//!               create|start|state|kill|delete|run|exec|features|ps|list|pause|resume …
use berth_core::error::{Error, Result};
use berth_core::runtime::{self as rt, CreateOptions, ExecOptions, StdioFds};
use berth_core::spec::{Process, Spec};
use std::io::Write;
use std::path::{Path, PathBuf};

const USAGE: &str = "usage: berth-runtime [global flags] <command> [flags] <container-id>

commands: create start state kill delete run exec features ps list pause resume

global flags: --root DIR (default /run/berth-runtime), --log FILE, --log-format text|json,
              --debug, --systemd-cgroup (not supported)";

struct Global {
    root: PathBuf,
    log: Option<PathBuf>,
    json_log: bool,
    debug: bool,
}

/// Parsed command-line flags: `--name value`, `--name=value`, `-x value`, booleans.
struct Args {
    flags: Vec<(String, Option<String>)>,
    positional: Vec<String>,
}

/// Flags that take a value, per command (global ones included).
fn takes_value(name: &str) -> bool {
    matches!(
        name,
        "root" | "log" | "log-format" | "criu" | "rootless" | "bundle" | "b" | "console-socket" | "pid-file" | "preserve-fds" | "process" | "p" | "cwd" | "env" | "e" | "user" | "u" | "format" | "f" | "cap" | "c" | "process-label" | "apparmor" | "additional-gids" | "g" | "signal" | "s"
    )
}

/// Splits argv: flags until the first positional; for `exec`, everything
/// after the id is the command.
fn parse(argv: &[String], stop_after_first_positional: bool, bool_flags_with_f: bool) -> Result<Args> {
    let mut a = Args { flags: Vec::new(), positional: Vec::new() };
    let mut i = 0;
    while i < argv.len() {
        let s = &argv[i];
        if !a.positional.is_empty() && stop_after_first_positional {
            a.positional.extend(argv[i..].iter().cloned());
            break;
        }
        if s == "--" {
            a.positional.extend(argv[i + 1..].iter().cloned());
            break;
        }
        if let Some(f) = s.strip_prefix("--").or_else(|| if s.len() > 1 && s.starts_with('-') { Some(&s[1..]) } else { None }) {
            let (name, inline) = match f.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (f.to_string(), None),
            };
            let value_flag = takes_value(&name) && !(bool_flags_with_f && name == "f");
            if value_flag && inline.is_none() {
                i += 1;
                let v = argv.get(i).ok_or_else(|| Error::invalid(format!("flag --{name} needs a value")))?;
                a.flags.push((name, Some(v.clone())));
            } else {
                a.flags.push((name, inline));
            }
        } else {
            a.positional.push(s.clone());
        }
        i += 1;
    }
    Ok(a)
}

impl Args {
    fn get(&self, names: &[&str]) -> Option<&str> {
        self.flags.iter().rev().find(|(n, _)| names.contains(&n.as_str())).and_then(|(_, v)| v.as_deref())
    }
    fn all(&self, names: &[&str]) -> Vec<String> {
        self.flags.iter().filter(|(n, _)| names.contains(&n.as_str())).filter_map(|(_, v)| v.clone()).collect()
    }
    fn has(&self, names: &[&str]) -> bool {
        self.flags.iter().any(|(n, v)| names.contains(&n.as_str()) && v.as_deref() != Some("false"))
    }
    fn id(&self) -> Result<&str> {
        self.positional.first().map(String::as_str).ok_or_else(|| Error::invalid("container id is required"))
    }
}

fn log_line(g: &Global, level: &str, msg: &str) {
    let Some(p) = &g.log else { return };
    let line = if g.json_log {
        serde_json::json!({ "level": level, "msg": msg, "time": rt::state::rfc3339(std::time::SystemTime::now()) }).to_string()
    } else {
        format!("time=\"{}\" level={level} msg={msg:?}", rt::state::rfc3339(std::time::SystemTime::now()))
    };
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(p) {
        let _ = writeln!(f, "{line}");
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut g = Global { root: PathBuf::from(rt::DEFAULT_ROOT), log: None, json_log: false, debug: false };
    let code = match run_cli(&argv, &mut g) {
        Ok(code) => code,
        Err(e) => {
            log_line(&g, "error", &e.message);
            eprintln!("berth-runtime: {}", e.message);
            1
        }
    };
    std::process::exit(code);
}

fn run_cli(argv: &[String], g: &mut Global) -> Result<i32> {
    // Global flags come before the command.
    let mut i = 0;
    while i < argv.len() && argv[i].starts_with('-') {
        let (name, inline) = match argv[i].trim_start_matches('-').split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (argv[i].trim_start_matches('-').to_string(), None),
        };
        let mut value = || -> Result<String> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            i += 1;
            argv.get(i).cloned().ok_or_else(|| Error::invalid(format!("flag --{name} needs a value")))
        };
        match name.as_str() {
            "root" => g.root = PathBuf::from(value()?),
            "log" => g.log = Some(PathBuf::from(value()?)),
            "log-format" => g.json_log = value()? == "json",
            "debug" => g.debug = true,
            "systemd-cgroup" => {
                if inline.as_deref() != Some("false") {
                    return Err(Error::new("ERR_NS_NOT_IMPLEMENTED", "--systemd-cgroup is not supported: berth-runtime uses the cgroupfs driver (use cgroup_manager = \"cgroupfs\")"));
                }
            }
            "criu" | "rootless" => {
                value()?;
            }
            "version" | "v" => {
                println!("berth-runtime version {}\nspec: 1.0.2", env!("CARGO_PKG_VERSION"));
                return Ok(0);
            }
            "help" | "h" => {
                println!("{USAGE}");
                return Ok(0);
            }
            _ => return Err(Error::invalid(format!("unknown global flag {}", argv[i]))),
        }
        i += 1;
    }
    let Some(cmd) = argv.get(i) else {
        eprintln!("{USAGE}");
        return Ok(2);
    };
    let rest = &argv[i + 1..];
    if g.debug {
        log_line(g, "debug", &format!("{cmd} {rest:?}"));
    }
    let root = g.root.clone();
    match cmd.as_str() {
        "create" => create(&root, &parse(rest, false, false)?, false),
        "run" => create(&root, &parse(rest, false, false)?, true),
        "start" => {
            let a = parse(rest, false, false)?;
            rt::start(&root, a.id()?)?;
            Ok(0)
        }
        "state" => {
            let a = parse(rest, false, false)?;
            let s = rt::state(&root, a.id()?)?;
            println!("{}", serde_json::to_string_pretty(&s).unwrap());
            Ok(0)
        }
        "kill" => {
            let a = parse(rest, false, false)?;
            let sig = match a.positional.get(1) {
                Some(s) => parse_signal(s)?,
                None => libc::SIGTERM,
            };
            rt::kill(&root, a.id()?, sig, a.has(&["all", "a"]))?;
            Ok(0)
        }
        "delete" => {
            let a = parse(rest, false, true)?;
            let id = a.id()?;
            match rt::delete(&root, id, a.has(&["force", "f"])) {
                // runc: deleting a missing container with --force is not an error.
                Err(e) if e.code == "ERR_NS_CONTAINER_NOT_FOUND" && a.has(&["force", "f"]) => Ok(0),
                r => r.map(|_| 0),
            }
        }
        "pause" => {
            rt::pause(&root, parse(rest, false, false)?.id()?)?;
            Ok(0)
        }
        "resume" => {
            rt::resume(&root, parse(rest, false, false)?.id()?)?;
            Ok(0)
        }
        "ps" => {
            let a = parse(rest, false, false)?;
            let pids = rt::pids(&root, a.id()?)?;
            if a.get(&["format", "f"]) == Some("json") {
                println!("{}", serde_json::to_string(&pids).unwrap());
            } else {
                println!("PID");
                for p in pids {
                    println!("{p}");
                }
            }
            Ok(0)
        }
        "list" => {
            let a = parse(rest, false, false)?;
            let states = rt::list(&root)?;
            if a.has(&["quiet", "q"]) {
                for s in &states {
                    println!("{}", s.id);
                }
            } else if a.get(&["format", "f"]) == Some("json") {
                println!("{}", serde_json::to_string(&states).unwrap());
            } else {
                println!("{:<20} {:<8} {:<10} {:<40} {:<30} OWNER", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
                for s in &states {
                    println!("{:<20} {:<8} {:<10} {:<40} {:<30} root", s.id, s.pid, s.status, s.bundle, s.created);
                }
            }
            Ok(0)
        }
        "exec" => exec(&root, &parse(rest, true, false)?),
        "features" => {
            println!("{}", serde_json::to_string_pretty(&features()).unwrap());
            Ok(0)
        }
        "spec" => {
            Err(Error::new("ERR_NS_NOT_IMPLEMENTED", "berth-runtime spec is not implemented; use runc spec"))
        }
        other => Err(Error::invalid(format!("unknown command {other:?}\n{USAGE}"))),
    }
}

fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return Ok(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return Err(Error::invalid(format!("unknown signal {s:?}"))),
    };
    Ok(n)
}

fn write_pid_file(path: &str, pid: i32) -> Result<()> {
    let p = Path::new(path);
    let tmp = p.with_file_name(format!(".{}.tmp", p.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default()));
    std::fs::write(&tmp, pid.to_string()).map_err(|e| Error::io(&e, "write", Some(path)))?;
    std::fs::rename(&tmp, p).map_err(|e| Error::io(&e, "rename", Some(path)))
}

/// Sends the pty master over the console socket with SCM_RIGHTS, as runc does.
fn send_console(socket: &str, master: i32) -> Result<()> {
    use std::os::unix::net::UnixStream;
    use std::os::unix::io::AsRawFd;
    let s = UnixStream::connect(socket).map_err(|e| Error::io(&e, "connect", Some(socket)))?;
    let name = b"/dev/ptmx";
    let mut iov = libc::iovec { iov_base: name.as_ptr() as *mut libc::c_void, iov_len: name.len() };
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space;
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as usize;
        std::ptr::copy_nonoverlapping(&master as *const i32 as *const u8, libc::CMSG_DATA(c), std::mem::size_of::<i32>());
        if libc::sendmsg(s.as_raw_fd(), &msg, 0) < 0 {
            return Err(Error::last("sendmsg", Some(socket)));
        }
    }
    Ok(())
}

/// The stdio of a new process: inherited, or a pty the child opens in the
/// container (its master then goes to the console socket, or is proxied).
fn stdio_for(terminal: bool, size: (u16, u16), console_socket: Option<&str>, detach: bool) -> Result<StdioFds> {
    if !terminal {
        return Ok(StdioFds::Fds([-1; 3]));
    }
    if console_socket.is_none() && detach {
        return Err(Error::invalid("a terminal needs --console-socket when detached"));
    }
    Ok(StdioFds::NewPty { rows: size.0, cols: size.1 })
}

/// Hands the pty master to the console socket (closing ours), or keeps it to proxy.
fn place_master(master: Option<i32>, console_socket: Option<&str>) -> Result<Option<i32>> {
    match (master, console_socket) {
        (Some(m), Some(sock)) => {
            let r = send_console(sock, m);
            unsafe { libc::close(m) };
            r.map(|_| None)
        }
        (m, _) => Ok(m),
    }
}

/// Copies between our stdio and the pty master until the process exits.
fn proxy_pty(master: i32) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let n = unsafe { libc::read(0, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if n <= 0 || unsafe { libc::write(master, buf.as_ptr() as *const libc::c_void, n as usize) } < 0 {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let n = unsafe { libc::read(master, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if n <= 0 || unsafe { libc::write(1, buf.as_ptr() as *const libc::c_void, n as usize) } < 0 {
                break;
            }
        }
    });
}

static FORWARD_TO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_TO.load(std::sync::atomic::Ordering::Relaxed);
    if pid > 0 {
        unsafe { libc::kill(pid, sig) };
    }
}

/// While `run`/`exec` wait in the foreground, signals sent to us go to the
/// container process, as runc forwards them.
fn forward_signals(pid: i32) {
    FORWARD_TO.store(pid, std::sync::atomic::Ordering::Relaxed);
    for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGUSR1, libc::SIGUSR2, libc::SIGWINCH, libc::SIGCONT] {
        unsafe { libc::signal(sig, forward as *const () as usize) };
    }
}

fn exit_code(status: i32) -> i32 {
    match rt::decode_status(status) {
        (Some(c), _) => c,
        (_, Some(s)) => 128 + s,
        _ => 1,
    }
}

fn create(root: &Path, a: &Args, run: bool) -> Result<i32> {
    let id = a.id()?.to_string();
    let bundle = a.get(&["bundle", "b"]).map(PathBuf::from).unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
    let bundle = std::fs::canonicalize(&bundle).map_err(|e| Error::io(&e, "realpath", Some(&bundle.to_string_lossy())))?;
    let cfg = bundle.join("config.json");
    let bytes = std::fs::read(&cfg).map_err(|e| Error::io(&e, "open", Some(&cfg.to_string_lossy())))?;
    let spec = Spec::from_json(&bytes)?;
    let terminal = spec.process.as_ref().map(|p| p.terminal).unwrap_or(false);
    let size = spec.process.as_ref().and_then(|p| p.console_size).map(|c| (c.height, c.width)).unwrap_or((0, 0));
    let detach = a.has(&["detach", "d"]);
    let stdio = stdio_for(terminal, size, a.get(&["console-socket"]), !run || detach)?;
    let preserve_fds = a.get(&["preserve-fds"]).map(|v| v.parse::<i32>().map_err(|_| Error::invalid("--preserve-fds needs a number"))).transpose()?.unwrap_or(0);
    let created = rt::create(CreateOptions {
        id: id.clone(),
        root: root.to_path_buf(),
        bundle,
        spec,
        stdio,
        no_pivot: a.has(&["no-pivot"]),
        preserve_fds,
        exec_fifo: !run,
    })?;
    let master = place_master(created.pty_master, a.get(&["console-socket"]))?;
    if let Some(p) = a.get(&["pid-file"]) {
        write_pid_file(p, created.pid)?;
    }
    if !run || detach {
        return Ok(0);
    }
    if let Some(m) = master {
        proxy_pty(m);
    }
    forward_signals(created.pid);
    let status = rt::reap(created.pid).unwrap_or(0);
    if !a.has(&["keep"]) {
        rt::delete(root, &id, true)?;
    }
    Ok(exit_code(status))
}

fn exec(root: &Path, a: &Args) -> Result<i32> {
    let id = a.id()?.to_string();
    let mut process: Process = match a.get(&["process", "p"]) {
        Some(p) => {
            let b = std::fs::read(p).map_err(|e| Error::io(&e, "open", Some(p)))?;
            serde_json::from_slice(&b).map_err(|e| Error::new("ERR_NS_INVALID_SPEC", format!("{p}: {e}")))?
        }
        None => {
            // Defaults from the container's own process, as runc does.
            let s = rt::state(root, &id)?;
            let cfg = Path::new(&s.bundle).join("config.json");
            let spec = std::fs::read(&cfg).ok().and_then(|b| Spec::from_json(&b).ok());
            let mut p = spec.and_then(|s| s.process).unwrap_or_default();
            p.args = a.positional[1..].to_vec();
            p.terminal = a.has(&["tty", "t"]);
            p
        }
    };
    if process.args.is_empty() {
        return Err(Error::invalid("exec needs a command or --process"));
    }
    if let Some(c) = a.get(&["cwd"]) {
        process.cwd = c.to_string();
    }
    process.env.extend(a.all(&["env", "e"]));
    if let Some(u) = a.get(&["user", "u"]) {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        process.user.uid = uid.parse().map_err(|_| Error::invalid("--user needs uid[:gid]"))?;
        process.user.gid = gid.parse().map_err(|_| Error::invalid("--user needs uid[:gid]"))?;
    }
    if a.has(&["no-new-privs"]) {
        process.no_new_privileges = true;
    }
    let detach = a.has(&["detach", "d"]);
    let size = process.console_size.map(|c| (c.height, c.width)).unwrap_or((0, 0));
    let stdio = stdio_for(process.terminal, size, a.get(&["console-socket"]), detach)?;
    let preserve_fds = a.get(&["preserve-fds"]).and_then(|v| v.parse().ok()).unwrap_or(0);
    let (pid, master) = rt::exec(root, &id, ExecOptions { process, stdio, preserve_fds })?;
    let master = place_master(master, a.get(&["console-socket"]))?;
    if let Some(p) = a.get(&["pid-file"]) {
        write_pid_file(p, pid)?;
    }
    if detach {
        return Ok(0);
    }
    if let Some(m) = master {
        proxy_pty(m);
    }
    forward_signals(pid);
    Ok(exit_code(rt::reap(pid).unwrap_or(0)))
}

fn features() -> serde_json::Value {
    let caps: Vec<String> = (0..=berth_core::caps::last_cap()).filter_map(berth_core::caps::name).collect();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": [],
        "mountOptions": ["async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "mand", "noatime", "nodev", "nodiratime", "noexec", "nomand", "norelatime", "nostrictatime", "nosuid", "private", "rbind", "relatime", "remount", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave", "strictatime", "suid", "sync", "unbindable"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false }
        },
        "annotations": { "org.opencontainers.runc.version": "berth-runtime", "io.github.berth.runtime.version": env!("CARGO_PKG_VERSION") }
    })
}
