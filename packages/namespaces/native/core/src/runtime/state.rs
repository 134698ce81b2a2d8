//! Container state on disk: `<root>/<id>/state.json`, written atomically
//! (temp file + rename), in runc's `state` output shape plus berth's own
//! fields, so the CLI and the library see the same containers.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The default runtime root.
pub const DEFAULT_ROOT: &str = "/run/berth-runtime";

/// A container's state (`runc state` output plus berth fields).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    /// `created`, `running`, `paused` or `stopped`; computed on every read.
    pub status: String,
    pub pid: i32,
    pub bundle: String,
    pub rootfs: String,
    /// RFC 3339 creation time.
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The normalised cgroups path, when the container has a cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<String>,
    /// The init process's start time (`/proc/<pid>/stat` field 22), to tell a reused pid.
    #[serde(default)]
    pub pid_start_time: u64,
}

/// Checks a container id: non-empty, no `/`, not `.` or `..`, printable.
pub fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id == "." || id == ".." || id.len() > 1024 || id.chars().any(|c| c == '/' || c.is_control()) {
        return Err(Error::new("ERR_NS_INVALID_ID", format!("invalid container id {id:?}")));
    }
    Ok(())
}

/// `<root>/<id>`.
pub fn dir(root: &Path, id: &str) -> Result<PathBuf> {
    check_id(id)?;
    Ok(root.join(id))
}

/// Writes `state.json` atomically.
pub fn save(root: &Path, s: &State) -> Result<()> {
    let d = dir(root, &s.id)?;
    let tmp = d.join(".state.json.tmp");
    let bytes = serde_json::to_vec(s).map_err(|e| Error::new("ERR_NS_INTERNAL", e.to_string()))?;
    let p = tmp.to_string_lossy().to_string();
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&e, "open", Some(&p)))?;
    f.write_all(&bytes).map_err(|e| Error::io(&e, "write", Some(&p)))?;
    drop(f);
    std::fs::rename(&tmp, d.join("state.json")).map_err(|e| Error::io(&e, "rename", Some(&p)))
}

/// Reads `state.json` (status not refreshed).
pub fn load_raw(root: &Path, id: &str) -> Result<State> {
    let p = dir(root, id)?.join("state.json");
    let bytes = std::fs::read(&p).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::new("ERR_NS_CONTAINER_NOT_FOUND", format!("container {id:?} does not exist"))
        } else {
            Error::io(&e, "open", Some(&p.to_string_lossy()))
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Error::new("ERR_NS_INTERNAL", format!("{}: {e}", p.display())))
}

/// The start time and state letter of a process, from `/proc/<pid>/stat`.
pub fn proc_stat(pid: i32) -> Option<(u64, char)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // After "pid (comm) ", field 3 (state) is index 0; field 22 (starttime) is index 19.
    Some((fields.get(19)?.parse().ok()?, fields.first()?.chars().next()?))
}

/// Is the container's init still the process we started (and not a zombie)?
pub fn init_alive(s: &State) -> bool {
    if s.pid <= 0 {
        return false;
    }
    match proc_stat(s.pid) {
        Some((start, st)) => start == s.pid_start_time && st != 'Z' && st != 'X',
        None => false,
    }
}

/// Formats a Unix time as RFC 3339 UTC with nanoseconds.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z", rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_and_checks_ids() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 5);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.000000005Z");
        assert!(check_id("abc-1").is_ok());
        for bad in ["", ".", "..", "a/b", "a\nb"] {
            assert_eq!(check_id(bad).unwrap_err().code, "ERR_NS_INVALID_ID");
        }
    }

    #[test]
    fn saves_and_loads() {
        let root = std::env::temp_dir().join(format!("berth-state-{}", std::process::id()));
        std::fs::create_dir_all(root.join("c1")).unwrap();
        let s = State { id: "c1".into(), pid: 1, pid_start_time: 1, ..Default::default() };
        save(&root, &s).unwrap();
        assert_eq!(load_raw(&root, "c1").unwrap().pid, 1);
        assert_eq!(load_raw(&root, "nope").unwrap_err().code, "ERR_NS_CONTAINER_NOT_FOUND");
        assert!(proc_stat(std::process::id() as i32).is_some());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
