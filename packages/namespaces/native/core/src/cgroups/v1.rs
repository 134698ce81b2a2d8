//! The cgroup v1 backend: one directory per mounted hierarchy (`cpu`,
//! `memory`, `pids`…), plus, on hybrid hosts, the unified (cgroup2) mount,
//! where tasks are placed too so that tools reading `0::` see them.
use super::util::{self, show};
use super::v2::unsupported;
use super::*;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(10);
/// v1 reports "unlimited" as a page-rounded i64::MAX; treat anything this high as none.
const UNLIMITED: u64 = 1 << 62;

/// One mounted v1 hierarchy and this cgroup's directory in it.
#[derive(Debug, Clone)]
struct Hierarchy {
    subsystems: Vec<String>,
    mount: PathBuf,
    dir: PathBuf,
}

/// A cgroup in every v1 hierarchy (and the unified one on hybrid hosts).
pub struct V1Manager {
    path: String,
    hierarchies: Vec<Hierarchy>,
    /// (mount, dir) of the cgroup2 mount on hybrid hosts.
    unified: Option<(PathBuf, PathBuf)>,
}

impl V1Manager {
    pub fn new(layout: &Layout, path: &str) -> Self {
        let rel = path.trim_start_matches('/');
        let hierarchies = layout
            .v1
            .iter()
            .map(|(subs, mount)| Hierarchy { subsystems: subs.clone(), mount: mount.clone(), dir: mount.join(rel) })
            .collect();
        let unified = layout.unified.as_ref().map(|m| (m.clone(), m.join(rel)));
        V1Manager { path: path.to_string(), hierarchies, unified }
    }

    fn dir(&self, subsystem: &str) -> Option<&Path> {
        self.hierarchies.iter().find(|h| h.subsystems.iter().any(|s| s == subsystem)).map(|h| h.dir.as_path())
    }

    fn need(&self, subsystem: &str, what: &str) -> Result<&Path> {
        self.dir(subsystem).ok_or_else(|| Error::new("ERR_NS_CGROUP_UNSUPPORTED", format!("{what} needs the v1 {subsystem} controller, which is not mounted")))
    }

    fn apply_memory(&self, m: &LinuxMemory) -> Result<()> {
        let dir = self.need("memory", "linux.resources.memory")?;
        let limit_f = dir.join("memory.limit_in_bytes");
        let memsw_f = dir.join("memory.memsw.limit_in_bytes");
        let limit = m.limit.unwrap_or(0);
        let mut swap = m.swap.unwrap_or(0);
        // As runc: unlimited memory without a swap value means unlimited swap too.
        if limit == -1 && swap == 0 && memsw_f.exists() {
            swap = -1;
        }
        if swap != 0 && !memsw_f.exists() {
            // No swap accounting (swapaccount=0): there is no memory+swap limit to set.
            swap = 0;
        }
        if swap != 0 && limit > 0 && swap > 0 && swap < limit {
            return Err(Error::invalid(format!("memory.swap {swap} must be >= memory.limit {limit} (it counts memory + swap)")));
        }
        if swap != 0 {
            // memsw must stay >= limit at every step: raise memsw first when it
            // grows, lower the limit first when it shrinks.
            let cur_memsw = util::read_u64(&memsw_f)?.unwrap_or(u64::MAX);
            let growing = swap == -1 || (swap as u64) > cur_memsw;
            if growing {
                util::write(&memsw_f, &swap.to_string())?;
                if limit != 0 {
                    util::write(&limit_f, &limit.to_string())?;
                }
            } else {
                if limit != 0 {
                    util::write(&limit_f, &limit.to_string())?;
                }
                util::write(&memsw_f, &swap.to_string())?;
            }
        } else if limit != 0 {
            util::write(&limit_f, &limit.to_string())?;
        }
        if let Some(r) = m.reservation.filter(|r| *r != 0) {
            util::write(&dir.join("memory.soft_limit_in_bytes"), &r.to_string())?;
        }
        if let Some(s) = m.swappiness.filter(|s| *s <= 100) {
            util::write(&dir.join("memory.swappiness"), &s.to_string())?;
        }
        if m.disable_oom_killer == Some(true) {
            util::write(&dir.join("memory.oom_control"), "1")?;
        }
        // kernel/kernelTCP (kmem) limits are deprecated in the kernel and ignored, as runc 1.1 does.
        Ok(())
    }

    fn apply_cpu(&self, c: &LinuxCpu) -> Result<()> {
        let wants_cpu = c.shares.is_some_and(|s| s != 0)
            || c.quota.is_some_and(|q| q != 0)
            || c.period.is_some_and(|p| p != 0)
            || c.burst.is_some()
            || c.idle.is_some()
            || c.realtime_period.is_some_and(|p| p != 0)
            || c.realtime_runtime.is_some_and(|r| r != 0);
        if wants_cpu {
            let dir = self.need("cpu", "linux.resources.cpu")?;
            if let Some(s) = c.shares.filter(|s| *s != 0) {
                util::write(&dir.join("cpu.shares"), &s.to_string())?;
            }
            // Period before quota, as runc: a quota is checked against the period.
            if let Some(p) = c.period.filter(|p| *p != 0) {
                util::write(&dir.join("cpu.cfs_period_us"), &p.to_string())?;
            }
            if let Some(q) = c.quota.filter(|q| *q != 0) {
                util::write(&dir.join("cpu.cfs_quota_us"), &q.to_string())?;
            }
            if let Some(b) = c.burst {
                util::write(&dir.join("cpu.cfs_burst_us"), &b.to_string())?;
            }
            if let Some(p) = c.realtime_period.filter(|p| *p != 0) {
                util::write(&dir.join("cpu.rt_period_us"), &p.to_string())?;
            }
            if let Some(r) = c.realtime_runtime.filter(|r| *r != 0) {
                util::write(&dir.join("cpu.rt_runtime_us"), &r.to_string())?;
            }
            if let Some(i) = c.idle {
                util::write(&dir.join("cpu.idle"), &i.to_string())?;
            }
        }
        let cpus = c.cpus.as_deref().filter(|s| !s.is_empty());
        let mems = c.mems.as_deref().filter(|s| !s.is_empty());
        if cpus.is_some() || mems.is_some() {
            let dir = self.need("cpuset", "linux.resources.cpu.cpus/mems")?;
            if let Some(v) = cpus {
                util::write(&dir.join("cpuset.cpus"), v)?;
            }
            if let Some(v) = mems {
                util::write(&dir.join("cpuset.mems"), v)?;
            }
        }
        Ok(())
    }

    fn apply_blkio(&self, b: &LinuxBlockIo) -> Result<()> {
        let any = b.weight.is_some() || b.leaf_weight.is_some() || !b.weight_device.is_empty()
            || !b.throttle_read_bps_device.is_empty() || !b.throttle_write_bps_device.is_empty()
            || !b.throttle_read_iops_device.is_empty() || !b.throttle_write_iops_device.is_empty();
        if !any {
            return Ok(());
        }
        let dir = self.need("blkio", "linux.resources.blockIO")?;
        // CFQ's blkio.weight, or BFQ's blkio.bfq.weight; neither exists with
        // other I/O schedulers (mq-deadline, none), as on this kind of VM.
        let weight_file = ["blkio.weight", "blkio.bfq.weight"].iter().map(|f| dir.join(f)).find(|p| p.exists());
        if let Some(w) = b.weight.filter(|w| *w != 0) {
            let f = weight_file.clone().ok_or_else(|| unsupported(&dir.join("blkio.weight"), "blockIO.weight (neither blkio.weight nor blkio.bfq.weight exists: the block devices' I/O scheduler has no weights)"))?;
            util::write(&f, &w.to_string())?;
        }
        if let Some(w) = b.leaf_weight.filter(|w| *w != 0) {
            util::write(&dir.join("blkio.leaf_weight"), &w.to_string())?;
        }
        for d in &b.weight_device {
            if let Some(w) = d.weight {
                let f = weight_file.clone().map(|p| p.with_file_name(format!("{}_device", p.file_name().unwrap().to_string_lossy())))
                    .ok_or_else(|| unsupported(&dir.join("blkio.weight_device"), "blockIO.weightDevice"))?;
                util::write(&f, &format!("{}:{} {w}", d.major, d.minor))?;
            }
        }
        for (list, file) in [
            (&b.throttle_read_bps_device, "blkio.throttle.read_bps_device"),
            (&b.throttle_write_bps_device, "blkio.throttle.write_bps_device"),
            (&b.throttle_read_iops_device, "blkio.throttle.read_iops_device"),
            (&b.throttle_write_iops_device, "blkio.throttle.write_iops_device"),
        ] {
            for d in list {
                util::write(&dir.join(file), &format!("{}:{} {}", d.major, d.minor, d.rate))?;
            }
        }
        Ok(())
    }

    fn apply_devices(&self, rules: &[LinuxDeviceCgroup]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        let dir = self.need("devices", "linux.resources.devices")?;
        for r in rules {
            let line = device_rule(r)?;
            let file = if r.allow { "devices.allow" } else { "devices.deny" };
            util::write(&dir.join(file), &line)?;
        }
        Ok(())
    }

    fn freezer(&self) -> Result<&Path> {
        self.need("freezer", "freeze/thaw")
    }

    fn set_state(&self, frozen: bool) -> Result<()> {
        let f = self.freezer()?.join("freezer.state");
        let want = if frozen { "FROZEN" } else { "THAWED" };
        util::write(&f, want)?;
        let ok = util::poll(SETTLE, |i| {
            let s = util::read(&f)?;
            if s == want {
                return Ok(true);
            }
            if frozen && i > 0 && i % 25 == 0 {
                // A task stuck in FREEZING (vfork, a fuse wait): thaw and retry, as runc does.
                util::write(&f, "THAWED")?;
            }
            util::write(&f, want)?;
            Ok(false)
        })?;
        if ok {
            return Ok(());
        }
        if frozen {
            let _ = util::write(&f, "THAWED");
        }
        Err(Error {
            code: "ERR_NS_CGROUP_FREEZE_TIMEOUT",
            message: format!("{}: freezer.state did not reach {want} within {}s", show(&f), SETTLE.as_secs()),
            errno: None,
            syscall: None,
            path: Some(show(&f)),
        })
    }

    /// The hierarchy `pids`/`kill_all` read tasks from.
    fn task_dir(&self) -> Option<&Path> {
        ["pids", "freezer", "memory", "cpu", "devices"].iter().find_map(|s| self.dir(s)).or_else(|| self.hierarchies.first().map(|h| h.dir.as_path()))
    }
}

/// A v1 devices rule line: `a`, or `c 1:3 rwm` with `*` for wildcards.
pub fn device_rule(r: &LinuxDeviceCgroup) -> Result<String> {
    let typ = r.typ.as_deref().unwrap_or("a");
    if !matches!(typ, "a" | "b" | "c") {
        return Err(Error::invalid(format!("device rule type {typ:?} is not a, b or c")));
    }
    let access = r.access.as_deref().unwrap_or("rwm");
    if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(Error::invalid(format!("device rule access {access:?} is not some of rwm")));
    }
    let num = |n: Option<i64>| n.filter(|n| *n >= 0).map(|n| n.to_string()).unwrap_or_else(|| "*".into());
    if typ == "a" && r.major.map_or(true, |m| m < 0) && r.minor.map_or(true, |m| m < 0) {
        return Ok(format!("a *:* {access}"));
    }
    Ok(format!("{typ} {}:{} {access}", num(r.major), num(r.minor)))
}

/// Copies the parent's `cpuset.cpus`/`cpuset.mems` into a new v1 cpuset
/// cgroup when they are empty: v1 refuses tasks in a cpuset without them.
fn init_cpuset(dir: &Path) -> Result<()> {
    let parent = dir.parent().unwrap_or(dir);
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let mine = util::read_opt(&dir.join(f))?.unwrap_or_default();
        if mine.is_empty() {
            let theirs = util::read(&parent.join(f))?;
            util::write(&dir.join(f), &theirs)?;
        }
    }
    Ok(())
}

impl Manager for V1Manager {
    fn version(&self) -> Version {
        Version::V1
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn create(&self) -> Result<()> {
        if self.hierarchies.is_empty() {
            return Err(Error::new("ERR_NS_CGROUP_UNSUPPORTED", "no cgroup v1 hierarchy is mounted under the cgroup root"));
        }
        for h in &self.hierarchies {
            let is_cpuset = h.subsystems.iter().any(|s| s == "cpuset");
            util::mkdir_all(&h.mount, &self.path, |_| Ok(()))?;
            if is_cpuset {
                // Every level from the top down, also directories that existed
                // already but were never filled (as runc's ensureParent).
                let mut cur = h.mount.clone();
                for part in self.path.split('/').filter(|p| !p.is_empty()) {
                    cur.push(part);
                    init_cpuset(&cur)?;
                }
            }
        }
        if let Some((mount, _)) = &self.unified {
            util::mkdir_all(mount, &self.path, |_| Ok(()))?;
        }
        Ok(())
    }
    fn add_task(&self, pid: i32) -> Result<()> {
        for h in &self.hierarchies {
            util::write(&h.dir.join("cgroup.procs"), &pid.to_string())?;
        }
        if let Some((_, dir)) = &self.unified {
            util::write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }
    fn apply(&self, r: &LinuxResources) -> Result<()> {
        self.apply_devices(&r.devices)?;
        if let Some(m) = &r.memory {
            self.apply_memory(m)?;
        }
        if let Some(c) = &r.cpu {
            self.apply_cpu(c)?;
        }
        if let Some(p) = &r.pids {
            let dir = self.need("pids", "linux.resources.pids")?;
            util::write(&dir.join("pids.max"), &if p.limit > 0 { p.limit.to_string() } else { "max".into() })?;
        }
        if let Some(b) = &r.block_io {
            self.apply_blkio(b)?;
        }
        if !r.hugepage_limits.is_empty() {
            let dir = self.need("hugetlb", "linux.resources.hugepageLimits")?;
            for h in &r.hugepage_limits {
                util::write(&dir.join(format!("hugetlb.{}.limit_in_bytes", h.page_size)), &h.limit.to_string())?;
            }
        }
        if let Some(n) = &r.network {
            if let Some(id) = n.class_id {
                let dir = self.need("net_cls", "linux.resources.network.classID")?;
                util::write(&dir.join("net_cls.classid"), &id.to_string())?;
            }
            if !n.priorities.is_empty() {
                let dir = self.need("net_prio", "linux.resources.network.priorities")?;
                for p in &n.priorities {
                    util::write(&dir.join("net_prio.ifpriomap"), &format!("{} {}", p.name, p.priority))?;
                }
            }
        }
        if !r.unified.is_empty() {
            return Err(Error::new("ERR_NS_CGROUP_UNSUPPORTED", "linux.resources.unified needs cgroup v2; this host uses v1"));
        }
        Ok(())
    }
    fn freeze(&self) -> Result<()> {
        self.set_state(true)
    }
    fn thaw(&self) -> Result<()> {
        self.set_state(false)
    }
    fn freezer_state(&self) -> Result<FreezerState> {
        let s = util::read(&self.freezer()?.join("freezer.state"))?;
        Ok(match s.as_str() {
            "FROZEN" => FreezerState::Frozen,
            "FREEZING" => FreezerState::Freezing,
            _ => FreezerState::Thawed,
        })
    }
    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let Some(d) = self.dir("memory") {
            s.memory.usage = util::read_u64(&d.join("memory.usage_in_bytes"))?.unwrap_or(0);
            s.memory.limit = util::read_u64(&d.join("memory.limit_in_bytes"))?.filter(|l| *l < UNLIMITED);
            s.memory.max_usage = util::read_u64(&d.join("memory.max_usage_in_bytes"))?;
            s.memory.swap_usage = util::read_u64(&d.join("memory.memsw.usage_in_bytes"))?.map(|sw| sw.saturating_sub(s.memory.usage));
            s.memory.failcnt = util::read_u64(&d.join("memory.failcnt"))?.unwrap_or(0);
            s.memory.oom_kill = util::read_opt(&d.join("memory.oom_control"))?.and_then(|t| util::keyed(&t, "oom_kill")).unwrap_or(0);
        }
        if let Some(d) = self.dir("cpuacct") {
            s.cpu.usage_ns = util::read_u64(&d.join("cpuacct.usage"))?.unwrap_or(0);
            match (util::read_u64(&d.join("cpuacct.usage_user"))?, util::read_u64(&d.join("cpuacct.usage_sys"))?) {
                (Some(u), Some(sy)) => {
                    s.cpu.user_ns = u;
                    s.cpu.system_ns = sy;
                }
                _ => {
                    // Older kernels: cpuacct.stat in USER_HZ ticks.
                    if let Some(t) = util::read_opt(&d.join("cpuacct.stat"))? {
                        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
                        s.cpu.user_ns = util::keyed(&t, "user").unwrap_or(0) * 1_000_000_000 / hz;
                        s.cpu.system_ns = util::keyed(&t, "system").unwrap_or(0) * 1_000_000_000 / hz;
                    }
                }
            }
        }
        if let Some(d) = self.dir("cpu") {
            if let Some(t) = util::read_opt(&d.join("cpu.stat"))? {
                s.cpu.nr_periods = util::keyed(&t, "nr_periods").unwrap_or(0);
                s.cpu.nr_throttled = util::keyed(&t, "nr_throttled").unwrap_or(0);
                s.cpu.throttled_ns = util::keyed(&t, "throttled_time").unwrap_or(0);
            }
        }
        if let Some(d) = self.dir("pids") {
            s.pids.current = util::read_u64(&d.join("pids.current"))?.unwrap_or(0);
            s.pids.limit = util::read_u64(&d.join("pids.max"))?;
        }
        Ok(s)
    }
    fn pids(&self) -> Result<Vec<i32>> {
        match self.task_dir() {
            Some(d) => util::pids_recursive(d),
            None => Ok(Vec::new()),
        }
    }
    fn kill_all(&self, sig: i32) -> Result<()> {
        let freezer = self.dir("freezer").is_some();
        if freezer {
            self.freeze()?;
        }
        let result = (|| {
            for pid in self.pids()? {
                if unsafe { libc::kill(pid, sig) } != 0 {
                    let e = Error::last("kill", Some(&self.path));
                    if e.errno != Some(libc::ESRCH) {
                        return Err(e);
                    }
                }
            }
            Ok(())
        })();
        let result = if freezer { result.and(self.thaw()) } else { result };
        if result.is_ok() && sig == libc::SIGKILL {
            util::wait_dead(|| self.pids())?;
        }
        result
    }
    fn remove(&self) -> Result<()> {
        let mut first: Option<Error> = None;
        let dirs = self.hierarchies.iter().map(|h| h.dir.clone()).chain(self.unified.iter().map(|(_, d)| d.clone()));
        for d in dirs {
            if let Err(e) = util::remove_tree(&d) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
    fn oom_killed(&self) -> Result<bool> {
        let Some(d) = self.dir("memory") else { return Ok(false) };
        Ok(util::read_opt(&d.join("memory.oom_control"))?.and_then(|t| util::keyed(&t, "oom_kill")).unwrap_or(0) > 0)
    }
}
