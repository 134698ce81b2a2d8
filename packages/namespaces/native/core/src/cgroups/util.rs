//! File helpers shared by the v1 and v2 backends. cgroup interface files
//! are opened without `O_CREAT`: a missing file means the controller or
//! feature is absent, and the error says which file.
use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn show(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Writes `value` to an existing interface file in one write(2).
pub fn write(path: &Path, value: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| Error::io(&e, "open", Some(&show(path))))?;
    f.write_all(value.as_bytes()).map_err(|e| {
        let mut err = Error::io(&e, "write", Some(&show(path)));
        err.message = format!("write {value:?} to {}: {e}", show(path));
        err
    })
}

/// Reads an interface file, trimmed.
pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).map_err(|e| Error::io(&e, "read", Some(&show(path))))
}

/// Reads an interface file; `None` when it does not exist.
pub fn read_opt(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&e, "read", Some(&show(path)))),
    }
}

/// Parses a number; `max` (v2) is `None`.
pub fn parse_u64(path: &Path, s: &str) -> Result<Option<u64>> {
    if s == "max" {
        return Ok(None);
    }
    s.parse::<u64>()
        .map(Some)
        .map_err(|_| Error::new("ERR_NS_CGROUP_PARSE", format!("{}: cannot parse {s:?} as a number", show(path))))
}

/// Reads a single-number file; `None` for `max` or a missing file.
pub fn read_u64(path: &Path) -> Result<Option<u64>> {
    match read_opt(path)? {
        Some(s) => parse_u64(path, &s),
        None => Ok(None),
    }
}

/// A value from a flat-keyed file (`key value` per line: cpu.stat, memory.events).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        if it.next() == Some(key) {
            it.next().and_then(|v| v.parse().ok())
        } else {
            None
        }
    })
}

/// Is `dir` on a cgroup filesystem (v1 or v2)? False for a test's fake tree.
pub fn is_cgroupfs(dir: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else { return false };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return false;
    }
    const CGROUP_SUPER_MAGIC: i64 = 0x27e0eb;
    const CGROUP2_SUPER_MAGIC: i64 = 0x63677270;
    let m = st.f_type as i64;
    m == CGROUP_SUPER_MAGIC || m == CGROUP2_SUPER_MAGIC
}

/// Creates `dir` and its missing parents under `root`, calling `on_new` for
/// each directory created, parent first (v1 cpuset copies cpus/mems there).
pub fn mkdir_all(root: &Path, rel: &str, mut on_new: impl FnMut(&Path) -> Result<()>) -> Result<PathBuf> {
    let mut cur = root.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        cur.push(part);
        match std::fs::create_dir(&cur) {
            Ok(()) => on_new(&cur)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&e, "mkdir", Some(&show(&cur)))),
        }
    }
    Ok(cur)
}

/// The pids in `dir`'s `cgroup.procs` and those of every descendant.
pub fn pids_recursive(dir: &Path) -> Result<Vec<i32>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Some(text) = read_opt(&d.join("cgroup.procs"))? {
            out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&e, "readdir", Some(&show(&d)))),
        };
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(e.path());
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Removes `dir` and its sub-cgroups, deepest first. rmdir is retried on
/// EBUSY (tasks still exiting) for about two seconds. A missing directory is
/// fine. On a fake tree (not cgroupfs) the plain files are removed first.
pub fn remove_tree(dir: &Path) -> Result<()> {
    // A cgroup without child cgroups or tasks goes with one rmdir (its control
    // files are no files to remove): no readdir of its dozens of files. A busy
    // one (EBUSY) or a fake tree (ENOTEMPTY) takes the walk below.
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&e, "readdir", Some(&show(dir)))),
    };
    let fake = !is_cgroupfs(dir);
    for e in entries.flatten() {
        let ft = e.file_type().map_err(|err| Error::io(&err, "stat", Some(&show(&e.path()))))?;
        if ft.is_dir() {
            remove_tree(&e.path())?;
        } else if fake {
            std::fs::remove_file(e.path()).map_err(|err| Error::io(&err, "unlink", Some(&show(&e.path()))))?;
        }
    }
    let mut delay = Duration::from_millis(1);
    for attempt in 0.. {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 60 => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(Error::io(&e, "rmdir", Some(&show(dir)))),
        }
    }
    unreachable!()
}

/// Polls `done` with a growing sleep (1 ms to 20 ms) until it returns true
/// or `limit` passes; `Ok(false)` on timeout.
pub fn poll(limit: Duration, mut done: impl FnMut(u32) -> Result<bool>) -> Result<bool> {
    let start = std::time::Instant::now();
    let mut delay = Duration::from_millis(1);
    let mut i = 0;
    loop {
        if done(i)? {
            return Ok(true);
        }
        if start.elapsed() >= limit {
            return Ok(false);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
        i += 1;
    }
}

/// `shares` (v1 cpu.shares, 2..262144) to v2 `cpu.weight` (1..10000), with
/// runc's and crun 1.8's linear formula: `1 + (shares - 2) * 9999 / 262142`.
/// 0 means "not set".
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// v1 `blkio.weight` (10..1000) to v2 `io.weight` (1..10000), as runc does.
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = (weight as u64).clamp(10, 1000);
    1 + (w - 10) * 9999 / 990
}

/// runc's `ConvertMemorySwapToCgroupV2Value`: OCI `swap` is memory+swap;
/// v2 `memory.swap.max` is swap alone. 0 = leave alone, -1 = unlimited.
pub fn swap_to_v2(swap: i64, memory: i64) -> Result<i64> {
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if memory == 0 || memory == -1 {
        return Err(Error::invalid("memory.swap needs a memory.limit on cgroup v2"));
    }
    if memory < 0 || swap < memory {
        return Err(Error::invalid(format!("memory.swap {swap} must be >= memory.limit {memory} (it counts memory + swap)")));
    }
    Ok(swap - memory)
}

/// Is `pid` still running (not gone, not a zombie waiting for its parent)?
pub fn is_live(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the ")" that closes the command name.
        Ok(s) => s.rfind(')').and_then(|i| s[i + 1..].split_whitespace().next()).is_some_and(|st| st != "Z" && st != "X"),
        Err(_) => false,
    }
}

/// After SIGKILL: waits up to two seconds until no task of `pids` is live.
/// Zombies count as dead (their parent reaps them; cgroup.procs may list
/// them until it does).
pub fn wait_dead(pids: impl Fn() -> Result<Vec<i32>>) -> Result<()> {
    poll(Duration::from_secs(2), |_| Ok(pids()?.into_iter().all(|p| !is_live(p))))?;
    Ok(())
}
