//! The cgroup v2 backend: one unified hierarchy at the root.
use super::util::{self, show};
use super::*;
use std::time::Duration;

/// How long freeze/thaw wait for `cgroup.events` to report the new state.
const SETTLE: Duration = Duration::from_secs(10);

/// A cgroup in the unified hierarchy.
pub struct V2Manager {
    path: String,
    root: PathBuf,
    dir: PathBuf,
}

impl V2Manager {
    pub fn new(root: &Path, path: &str) -> Self {
        V2Manager { path: path.to_string(), root: root.to_path_buf(), dir: root.join(path.trim_start_matches('/')) }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Enables every available controller in `cgroup.subtree_control` of each
    /// ancestor, so the leaf gets the interface files. All at once first;
    /// one by one if the kernel refuses the set (a controller may be busy).
    fn enable_controllers(&self) -> Result<()> {
        let mut cur = self.root.clone();
        let parts: Vec<&str> = self.path.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let controllers = util::read_opt(&cur.join("cgroup.controllers"))?.unwrap_or_default();
            let wanted: Vec<&str> = controllers.split_whitespace().filter(|c| matches!(*c, "cpu" | "cpuset" | "memory" | "pids" | "io" | "hugetlb" | "misc" | "rdma")).collect();
            let control = cur.join("cgroup.subtree_control");
            if !wanted.is_empty() && control.exists() {
                let all = wanted.iter().map(|c| format!("+{c}")).collect::<Vec<_>>().join(" ");
                if util::write(&control, &all).is_err() {
                    for c in &wanted {
                        let _ = util::write(&control, &format!("+{c}"));
                    }
                }
            }
            cur.push(part);
            if i + 1 < parts.len() && !cur.exists() {
                util::mkdir_all(&self.root, &parts[..=i].join("/"), |_| Ok(()))?;
            }
        }
        Ok(())
    }

    fn events(&self) -> Result<String> {
        util::read(&self.file("cgroup.events"))
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        util::write(&self.file("cgroup.freeze"), if frozen { "1" } else { "0" })?;
        let want = if frozen { 1 } else { 0 };
        let ok = util::poll(SETTLE, |_| Ok(util::keyed(&self.events()?, "frozen") == Some(want)))?;
        if ok {
            Ok(())
        } else {
            Err(Error {
                code: "ERR_NS_CGROUP_FREEZE_TIMEOUT",
                message: format!("{}: cgroup.events did not report frozen {want} within {}s", show(&self.dir), SETTLE.as_secs()),
                errno: None,
                syscall: None,
                path: Some(show(&self.file("cgroup.events"))),
            })
        }
    }

    fn apply_memory(&self, m: &LinuxMemory) -> Result<()> {
        let limit = m.limit.unwrap_or(0);
        let swap = util::swap_to_v2(m.swap.unwrap_or(0), limit)?;
        // v2 limits memory and swap independently, so the order does not matter.
        if limit != 0 {
            util::write(&self.file("memory.max"), &v2_limit(limit))?;
        }
        if swap != 0 {
            let f = self.file("memory.swap.max");
            // Without swap accounting the file is absent: nothing to limit.
            if f.exists() {
                util::write(&f, &v2_limit(swap))?;
            }
        }
        if let Some(r) = m.reservation {
            if r != 0 {
                util::write(&self.file("memory.low"), &v2_limit(r))?;
            }
        }
        // swappiness has no v2 file; it is a hint, so it is ignored (as crun does).
        Ok(())
    }

    fn apply_cpu(&self, c: &LinuxCpu) -> Result<()> {
        if let Some(shares) = c.shares {
            let w = util::shares_to_weight(shares);
            if w != 0 {
                util::write(&self.file("cpu.weight"), &w.to_string())?;
            }
        }
        let quota = c.quota.filter(|q| *q != 0);
        let period = c.period.filter(|p| *p != 0);
        if quota.is_some() || period.is_some() {
            // cpu.max is "<quota|max> <period>"; keep the half not given.
            let cur = util::read_opt(&self.file("cpu.max"))?.unwrap_or_else(|| "max 100000".into());
            let mut it = cur.split_whitespace();
            let cur_quota = it.next().unwrap_or("max").to_string();
            let cur_period = it.next().unwrap_or("100000").to_string();
            let q = match quota {
                Some(q) if q > 0 => q.to_string(),
                Some(_) => "max".into(),
                None => cur_quota,
            };
            let p = period.map(|p| p.to_string()).unwrap_or(cur_period);
            util::write(&self.file("cpu.max"), &format!("{q} {p}"))?;
        }
        if let Some(b) = c.burst {
            util::write(&self.file("cpu.max.burst"), &b.to_string())?;
        }
        if let Some(i) = c.idle {
            util::write(&self.file("cpu.idle"), &i.to_string())?;
        }
        if let Some(cpus) = c.cpus.as_deref().filter(|s| !s.is_empty()) {
            util::write(&self.file("cpuset.cpus"), cpus)?;
        }
        if let Some(mems) = c.mems.as_deref().filter(|s| !s.is_empty()) {
            util::write(&self.file("cpuset.mems"), mems)?;
        }
        if c.realtime_runtime.is_some_and(|r| r != 0) || c.realtime_period.is_some_and(|p| p != 0) {
            return Err(Error::new("ERR_NS_CGROUP_UNSUPPORTED", "cpu.realtimeRuntime/realtimePeriod are not available on cgroup v2"));
        }
        Ok(())
    }

    fn apply_io(&self, b: &LinuxBlockIo) -> Result<()> {
        if let Some(w) = b.weight {
            let v = util::blkio_to_io_weight(w);
            if v != 0 {
                let f = self.file("io.weight");
                if f.exists() {
                    util::write(&f, &format!("default {v}"))?;
                } else {
                    // BFQ's own knob takes the v1 range.
                    let bfq = self.file("io.bfq.weight");
                    if !bfq.exists() {
                        return Err(unsupported(&f, "io weight (no io.weight or io.bfq.weight: the io controller or an I/O scheduler with weights is missing)"));
                    }
                    util::write(&bfq, &w.to_string())?;
                }
            }
        }
        for d in &b.weight_device {
            if let Some(w) = d.weight {
                util::write(&self.file("io.weight"), &format!("{}:{} {}", d.major, d.minor, util::blkio_to_io_weight(w)))?;
            }
        }
        for (list, key) in [
            (&b.throttle_read_bps_device, "rbps"),
            (&b.throttle_write_bps_device, "wbps"),
            (&b.throttle_read_iops_device, "riops"),
            (&b.throttle_write_iops_device, "wiops"),
        ] {
            for d in list {
                let rate = if d.rate == 0 { "max".to_string() } else { d.rate.to_string() };
                util::write(&self.file("io.max"), &format!("{}:{} {key}={rate}", d.major, d.minor))?;
            }
        }
        Ok(())
    }
}

fn v2_limit(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

pub(super) fn unsupported(path: &Path, what: &str) -> Error {
    Error {
        code: "ERR_NS_CGROUP_UNSUPPORTED",
        message: format!("{what} is not supported here ({} is missing)", show(path)),
        errno: Some(libc::ENOENT),
        syscall: None,
        path: Some(show(path)),
    }
}

impl Manager for V2Manager {
    fn version(&self) -> Version {
        Version::V2
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn create(&self) -> Result<()> {
        self.enable_controllers()?;
        util::mkdir_all(&self.root, &self.path, |_| Ok(()))?;
        Ok(())
    }
    fn add_task(&self, pid: i32) -> Result<()> {
        util::write(&self.file("cgroup.procs"), &pid.to_string())
    }
    fn apply(&self, r: &LinuxResources) -> Result<()> {
        if let Some(m) = &r.memory {
            self.apply_memory(m)?;
        }
        if let Some(c) = &r.cpu {
            self.apply_cpu(c)?;
        }
        if let Some(p) = &r.pids {
            util::write(&self.file("pids.max"), &if p.limit > 0 { p.limit.to_string() } else { "max".into() })?;
        }
        if let Some(b) = &r.block_io {
            self.apply_io(b)?;
        }
        for h in &r.hugepage_limits {
            util::write(&self.file(&format!("hugetlb.{}.max", h.page_size)), &h.limit.to_string())?;
        }
        if !r.devices.is_empty() {
            if util::is_cgroupfs(&self.dir) {
                super::devices_bpf::apply(&self.dir, &r.devices)?;
            } else {
                // A fake tree cannot take a BPF program: check the rules only.
                super::devices_bpf::compile(&r.devices)?;
            }
        }
        for (k, v) in &r.unified {
            if k.is_empty() || k.contains('/') || k.starts_with('.') {
                return Err(Error::invalid(format!("unified key {k:?} is not a cgroup file name")));
            }
            let f = self.file(k);
            if !f.exists() {
                return Err(unsupported(&f, &format!("unified {k:?}")));
            }
            util::write(&f, v)?;
        }
        Ok(())
    }
    fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }
    fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }
    fn freezer_state(&self) -> Result<FreezerState> {
        let want = util::read_opt(&self.file("cgroup.freeze"))?.unwrap_or_else(|| "0".into());
        let frozen = util::keyed(&self.events()?, "frozen") == Some(1);
        Ok(match (want.as_str(), frozen) {
            (_, true) => FreezerState::Frozen,
            ("1", false) => FreezerState::Freezing,
            _ => FreezerState::Thawed,
        })
    }
    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        s.memory.usage = util::read_u64(&self.file("memory.current"))?.unwrap_or(0);
        s.memory.limit = util::read_u64(&self.file("memory.max"))?;
        s.memory.max_usage = util::read_u64(&self.file("memory.peak"))?;
        s.memory.swap_usage = util::read_u64(&self.file("memory.swap.current"))?;
        if let Some(ev) = util::read_opt(&self.file("memory.events"))? {
            s.memory.failcnt = util::keyed(&ev, "max").unwrap_or(0);
            s.memory.oom_kill = util::keyed(&ev, "oom_kill").unwrap_or(0);
        }
        if let Some(cpu) = util::read_opt(&self.file("cpu.stat"))? {
            s.cpu.usage_ns = util::keyed(&cpu, "usage_usec").unwrap_or(0) * 1000;
            s.cpu.user_ns = util::keyed(&cpu, "user_usec").unwrap_or(0) * 1000;
            s.cpu.system_ns = util::keyed(&cpu, "system_usec").unwrap_or(0) * 1000;
            s.cpu.nr_periods = util::keyed(&cpu, "nr_periods").unwrap_or(0);
            s.cpu.nr_throttled = util::keyed(&cpu, "nr_throttled").unwrap_or(0);
            s.cpu.throttled_ns = util::keyed(&cpu, "throttled_usec").unwrap_or(0) * 1000;
        }
        s.pids.current = util::read_u64(&self.file("pids.current"))?.unwrap_or(0);
        s.pids.limit = util::read_u64(&self.file("pids.max"))?;
        Ok(s)
    }
    fn pids(&self) -> Result<Vec<i32>> {
        util::pids_recursive(&self.dir)
    }
    fn kill_all(&self, sig: i32) -> Result<()> {
        // cgroup.kill (Linux 5.14) kills the whole subtree atomically.
        let kill = self.file("cgroup.kill");
        if sig == libc::SIGKILL && kill.exists() {
            util::write(&kill, "1")?;
            return util::wait_dead(|| self.pids());
        }
        self.freeze()?;
        let result = (|| {
            for pid in self.pids()? {
                if unsafe { libc::kill(pid, sig) } != 0 {
                    let e = Error::last("kill", Some(&show(&self.dir)));
                    if e.errno != Some(libc::ESRCH) {
                        return Err(e);
                    }
                }
            }
            Ok(())
        })();
        let result = result.and(self.thaw());
        if result.is_ok() && sig == libc::SIGKILL {
            util::wait_dead(|| self.pids())?;
        }
        result
    }
    fn remove(&self) -> Result<()> {
        util::remove_tree(&self.dir)
    }
    fn oom_killed(&self) -> Result<bool> {
        Ok(util::read_opt(&self.file("memory.events"))?.and_then(|ev| util::keyed(&ev, "oom_kill")).unwrap_or(0) > 0)
    }
}
