//! cgroups: one manager interface, v1 and v2 backends chosen by detection.
//!
//! [`open`] looks at the cgroup root (default `/sys/fs/cgroup`, injectable so
//! tests can point it at a fake tree) and picks a backend:
//!
//! - **v2** when the root itself is a cgroup2 mount (or, for a fake tree, has
//!   a `cgroup.controllers` file);
//! - **v1** otherwise, including *hybrid* hosts where v1 controllers sit next
//!   to a cgroup2 mount (`/sys/fs/cgroup/unified`). On hybrid hosts the v1
//!   backend also places tasks in the unified hierarchy, as runc does.
//!
//! `cgroups_path` follows runc's cgroupfs driver: an absolute path is taken
//! relative to the root of each hierarchy; a relative one is placed under
//! [`DEFAULT_PARENT`].
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod resources;
pub use resources::*;

/// The parent of relative `cgroups_path`s.
pub const DEFAULT_PARENT: &str = "/berth";
/// The default cgroup root.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// Which cgroup hierarchy a manager drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    V1,
    V2,
}

/// How [`open`] finds the cgroup hierarchies.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cgroup root; `/sys/fs/cgroup` by default.
    pub root: PathBuf,
    /// Forces a backend instead of detecting it (tests use this with fake trees).
    pub version: Option<Version>,
}

impl Default for Options {
    fn default() -> Self {
        Options { root: PathBuf::from(DEFAULT_ROOT), version: None }
    }
}

/// The freezer state of a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FreezerState {
    Thawed,
    Freezing,
    Frozen,
}

/// Memory statistics, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    /// Current usage (v1 `memory.usage_in_bytes`, v2 `memory.current`).
    pub usage: u64,
    /// The limit; `None` when unlimited.
    pub limit: Option<u64>,
    /// Peak usage (v1 `memory.max_usage_in_bytes`, v2 `memory.peak` when present).
    pub max_usage: Option<u64>,
    /// Swap usage when the kernel accounts it (v1 memsw - usage, v2 `memory.swap.current`).
    pub swap_usage: Option<u64>,
    /// Times the limit was hit (v1 `memory.failcnt`, v2 `memory.events` max).
    pub failcnt: u64,
    /// OOM kills in this cgroup (v1 `memory.oom_control` oom_kill, v2 `memory.events` oom_kill).
    pub oom_kill: u64,
}

/// CPU statistics, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuStats {
    pub usage_ns: u64,
    pub user_ns: u64,
    pub system_ns: u64,
    pub nr_periods: u64,
    pub nr_throttled: u64,
    pub throttled_ns: u64,
}

/// Pids statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PidsStats {
    pub current: u64,
    /// `None` when unlimited.
    pub limit: Option<u64>,
}

/// What [`Manager::stats`] returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub memory: MemoryStats,
    pub cpu: CpuStats,
    pub pids: PidsStats,
}

/// One container's cgroup, in every hierarchy the backend drives.
///
/// Order of use: `create` → `apply` → `add_task` (the runtime does this in
/// the parent before the child execs) … `freeze`/`thaw`, `stats` …
/// `kill_all` → `remove`.
pub trait Manager: Send + Sync {
    /// The backend in use.
    fn version(&self) -> Version;
    /// The cgroups path, normalised to an absolute path (`/berth/<id>`).
    fn path(&self) -> &str;
    /// Creates the cgroup directories (idempotent).
    fn create(&self) -> Result<()>;
    /// Moves `pid` into the cgroup (`cgroup.procs`).
    fn add_task(&self, pid: i32) -> Result<()>;
    /// Writes the limits; absent fields are left alone.
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// Freezes every task and waits until the kernel reports the cgroup frozen.
    fn freeze(&self) -> Result<()>;
    /// Thaws the cgroup and waits until it is thawed.
    fn thaw(&self) -> Result<()>;
    /// The current freezer state.
    fn freezer_state(&self) -> Result<FreezerState>;
    /// Memory, cpu and pids statistics.
    fn stats(&self) -> Result<Stats>;
    /// The pids in the cgroup and its descendants.
    fn pids(&self) -> Result<Vec<i32>>;
    /// Sends `sig` to every task (freezing around it so none can fork away).
    fn kill_all(&self, sig: i32) -> Result<()>;
    /// Removes the cgroup directories, retrying briefly on EBUSY.
    fn remove(&self) -> Result<()>;
    /// Has the kernel OOM-killed a task in this cgroup?
    fn oom_killed(&self) -> Result<bool>;
}

/// Normalises an OCI `cgroupsPath`: absolute paths stay (cleaned of `.`,
/// empty parts and `..`, which cannot climb above the root), relative ones go
/// under [`DEFAULT_PARENT`]. An empty path is refused.
pub fn normalize_path(cgroups_path: &str) -> Result<String> {
    if cgroups_path.is_empty() {
        return Err(Error::invalid("cgroupsPath is empty"));
    }
    if cgroups_path.contains(':') && !cgroups_path.starts_with('/') {
        return Err(Error::invalid(format!("cgroupsPath {cgroups_path:?} looks like a systemd slice path; berth uses the cgroupfs driver")));
    }
    let joined = if cgroups_path.starts_with('/') { cgroups_path.to_string() } else { format!("{DEFAULT_PARENT}/{cgroups_path}") };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(Error::invalid(format!("cgroupsPath {cgroups_path:?} names the root cgroup")));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Opens the manager for `cgroups_path`, choosing the backend by detection
/// (or `opts.version`). Creates nothing: call [`Manager::create`].
pub fn open(cgroups_path: &str, opts: &Options) -> Result<Box<dyn Manager>> {
    let path = normalize_path(cgroups_path)?;
    let _ = (&path, Path::new(&opts.root));
    Err(Error::new("ERR_NS_NOT_IMPLEMENTED", "cgroup backends are being written"))
}
