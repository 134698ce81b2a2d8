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

pub mod devices_bpf;
mod resources;
mod util;
mod v1;
mod v2;
pub use resources::*;
pub use util::{blkio_to_io_weight, shares_to_weight, swap_to_v2};
pub use v1::{device_rule, V1Manager};
pub use v2::V2Manager;

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

/// The v1 controllers berth knows; other words in a cgroup mount's super
/// options (`rw`, `relatime`, `clone_children`…) are not controllers.
const V1_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio", "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc",
];

/// The cgroup mounts under a root, from `/proc/self/mountinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// The root itself is a cgroup2 mount (pure v2).
    pub root_is_v2: bool,
    /// v1 hierarchies: their controllers (or `name=systemd`) and mount point.
    pub v1: Vec<(Vec<String>, PathBuf)>,
    /// A cgroup2 mount below the root (hybrid hosts: `<root>/unified`).
    pub unified: Option<PathBuf>,
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads the cgroup mounts at or under `root` from mountinfo text
/// (proc(5): `id parent maj:min root mountpoint opts [optional…] - fstype source superopts`).
pub fn layout_from_mountinfo(mountinfo: &str, root: &Path) -> Layout {
    let root_s = root.to_string_lossy();
    let root_s = root_s.trim_end_matches('/');
    let mut layout = Layout::default();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let Some(mp) = left.split_whitespace().nth(4).map(unescape) else { continue };
        let mut r = right.split_whitespace();
        let (Some(fstype), _, Some(superopts)) = (r.next(), r.next(), r.next()) else { continue };
        let at_root = mp == root_s || (root_s.is_empty() && mp == "/");
        let under = at_root || mp.starts_with(&format!("{root_s}/"));
        if !under {
            continue;
        }
        match fstype {
            "cgroup2" if at_root => {
                layout.root_is_v2 = true;
                layout.v1.clear();
                layout.unified = None;
            }
            "cgroup2" => layout.unified = Some(PathBuf::from(&mp)),
            "cgroup" => {
                let subs: Vec<String> = superopts
                    .split(',')
                    .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                    .map(str::to_string)
                    .collect();
                if subs.is_empty() {
                    continue;
                }
                let mp = PathBuf::from(&mp);
                layout.v1.retain(|(_, m)| *m != mp);
                layout.v1.push((subs, mp));
            }
            // A mount over the root that is not cgroup (the tmpfs holding v1 mounts) changes nothing.
            _ => {}
        }
    }
    layout
}

/// The backend for a layout: v2 when the root is a cgroup2 mount, v1 when
/// v1 hierarchies are mounted under it (hybrid included), `None` when
/// mountinfo shows no cgroup mount there (a fake tree: decided by files).
pub fn version_of(layout: &Layout) -> Option<Version> {
    if layout.root_is_v2 {
        Some(Version::V2)
    } else if !layout.v1.is_empty() {
        Some(Version::V1)
    } else {
        None
    }
}

/// For a root with no cgroup mounts (a test tree): each subdirectory is a
/// v1 hierarchy named after its controllers (`cpu,cpuacct`).
fn layout_from_dirs(root: &Path) -> Layout {
    let mut layout = Layout::default();
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            if name == "unified" {
                layout.unified = Some(e.path());
                continue;
            }
            let subs: Vec<String> = name.split(',').filter(|s| V1_CONTROLLERS.contains(s)).map(str::to_string).collect();
            if !subs.is_empty() {
                layout.v1.push((subs, e.path()));
            }
        }
    }
    layout.v1.sort_by(|a, b| a.1.cmp(&b.1));
    layout
}

/// Which cgroup version `root` holds: from `/proc/self/mountinfo`, or for a
/// root with no cgroup mount, v2 if it has `cgroup.controllers`, else v1.
pub fn detect(root: &Path) -> Version {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let layout = layout_from_mountinfo(&mountinfo, root);
    version_of(&layout).unwrap_or(if root.join("cgroup.controllers").exists() { Version::V2 } else { Version::V1 })
}

/// Opens the manager for `cgroups_path`, choosing the backend by detection
/// (or `opts.version`). Creates nothing: call [`Manager::create`].
pub fn open(cgroups_path: &str, opts: &Options) -> Result<Box<dyn Manager>> {
    let path = normalize_path(cgroups_path)?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut layout = layout_from_mountinfo(&mountinfo, &opts.root);
    let detected = version_of(&layout);
    if detected.is_none() {
        layout = layout_from_dirs(&opts.root);
    }
    let version = opts.version.or(detected).unwrap_or(if opts.root.join("cgroup.controllers").exists() { Version::V2 } else { Version::V1 });
    Ok(match version {
        Version::V2 => Box::new(V2Manager::new(&opts.root, &path)),
        Version::V1 => Box::new(V1Manager::new(&layout, &path)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn detects_hybrid_as_v1_with_unified() {
        let l = layout_from_mountinfo(HYBRID, Path::new("/sys/fs/cgroup"));
        assert_eq!(version_of(&l), Some(Version::V1));
        assert_eq!(l.unified, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(l.v1.len(), 5);
        assert_eq!(l.v1[0], (vec!["cpu".to_string()], PathBuf::from("/sys/fs/cgroup/cpu")));
        assert_eq!(l.v1[4].0, vec!["name=systemd".to_string()]);
    }

    #[test]
    fn detects_pure_v2_and_comounted_v1() {
        let v2 = "25 22 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let l = layout_from_mountinfo(v2, Path::new("/sys/fs/cgroup/"));
        assert_eq!(version_of(&l), Some(Version::V2));
        let v1 = "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct\n";
        let l = layout_from_mountinfo(v1, Path::new("/sys/fs/cgroup"));
        assert_eq!(l.v1, vec![(vec!["cpu".to_string(), "cpuacct".to_string()], PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"))]);
        // Mounts elsewhere are not ours.
        let l = layout_from_mountinfo(HYBRID, Path::new("/tmp/fake"));
        assert_eq!(version_of(&l), None);
        assert_eq!(unescape("/a\\040b"), "/a b");
    }

    #[test]
    fn normalizes_cgroups_paths() {
        assert_eq!(normalize_path("/a/b").unwrap(), "/a/b");
        assert_eq!(normalize_path("abc").unwrap(), "/berth/abc");
        assert_eq!(normalize_path("/a/../../b/./c/").unwrap(), "/b/c");
        assert!(normalize_path("").is_err());
        assert!(normalize_path("/..").is_err());
        assert!(normalize_path("system.slice:berth:abc").is_err());
    }

    #[test]
    fn converts_v1_values_to_v2() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1_000_000), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(swap_to_v2(0, 0).unwrap(), 0);
        assert_eq!(swap_to_v2(0, -1).unwrap(), -1);
        assert_eq!(swap_to_v2(-1, 100).unwrap(), -1);
        assert_eq!(swap_to_v2(300, 100).unwrap(), 200);
        assert!(swap_to_v2(50, 100).is_err());
        assert!(swap_to_v2(50, 0).is_err());
    }

    #[test]
    fn formats_v1_device_rules() {
        let r = |allow, typ: Option<&str>, major, minor, access: Option<&str>| LinuxDeviceCgroup { allow, typ: typ.map(Into::into), major, minor, access: access.map(Into::into) };
        assert_eq!(device_rule(&r(false, None, None, None, Some("rwm"))).unwrap(), "a *:* rwm");
        assert_eq!(device_rule(&r(true, Some("c"), Some(1), Some(3), Some("rwm"))).unwrap(), "c 1:3 rwm");
        assert_eq!(device_rule(&r(true, Some("c"), Some(136), None, Some("rw"))).unwrap(), "c 136:* rw");
        assert!(device_rule(&r(true, Some("x"), None, None, None)).is_err());
        assert!(device_rule(&r(true, Some("c"), None, None, Some("rx"))).is_err());
    }

    #[test]
    fn parses_linux_resources_json() {
        let r: LinuxResources = serde_json::from_str(r#"{"memory":{"limit":8388608,"swap":16777216,"disableOOMKiller":false},"cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0"},"pids":{"limit":10},"blockIO":{"weight":500,"throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":10}]},"devices":[{"allow":false,"access":"rwm"}],"unified":{"memory.high":"max"},"rdma":{}}"#).unwrap();
        assert_eq!(r.memory.as_ref().unwrap().limit, Some(8 << 20));
        assert_eq!(r.cpu.as_ref().unwrap().shares, Some(512));
        assert_eq!(r.pids.as_ref().unwrap().limit, 10);
        assert_eq!(r.block_io.as_ref().unwrap().throttle_read_iops_device[0].rate, 10);
        assert_eq!(r.unified.get("memory.high").map(String::as_str), Some("max"));
        let back = serde_json::to_value(&r).unwrap();
        assert_eq!(back["blockIO"]["weight"], 500);
        assert_eq!(back["memory"]["disableOOMKiller"], false);
    }
}
