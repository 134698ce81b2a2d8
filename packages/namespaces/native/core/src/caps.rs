//! Linux capabilities: OCI `CAP_…` names to numbers, and the five sets as
//! bit masks. The syscalls that apply them run in the container child
//! (see `runtime::child`), from the [`CapSets`] computed here in the parent.
use crate::error::Result;
use crate::spec::Capabilities;

/// Capability names, indexed by number (`capability.h`).
pub const NAMES: [&str; 41] = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
];

/// The number of a capability name (`CAP_SYS_ADMIN` or `SYS_ADMIN`, any case).
pub fn from_name(name: &str) -> Option<u32> {
    let up = name.to_ascii_uppercase();
    let bare = up.strip_prefix("CAP_").unwrap_or(&up);
    NAMES.iter().position(|n| *n == bare).map(|i| i as u32)
}

/// The `CAP_…` name of a capability number.
pub fn name(cap: u32) -> Option<String> {
    NAMES.get(cap as usize).map(|n| format!("CAP_{n}"))
}

/// The highest capability the running kernel knows (`/proc/sys/kernel/cap_last_cap`).
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// A set of capabilities as a bit mask.
pub fn mask(names: &[String], last: u32) -> Result<u64> {
    let mut m = 0u64;
    for n in names {
        match from_name(n) {
            Some(c) if c <= last => m |= 1 << c,
            // Caps this kernel lacks are skipped, as runc does.
            Some(_) => {}
            // Names this build does not know are skipped with the same rule.
            None => {}
        }
    }
    Ok(m)
}

/// The five capability sets as masks; `None` in the spec means "all empty",
/// which is what runc gives a process without `capabilities`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
    /// The highest capability number of the kernel (for dropping the bounding set).
    pub last: u32,
}

impl CapSets {
    /// Computes the masks of a spec's `process.capabilities`.
    pub fn from_spec(c: Option<&Capabilities>) -> Result<CapSets> {
        let last = last_cap();
        let Some(c) = c else { return Ok(CapSets { last, ..Default::default() }) };
        Ok(CapSets {
            bounding: mask(&c.bounding, last)?,
            effective: mask(&c.effective, last)?,
            inheritable: mask(&c.inheritable, last)?,
            permitted: mask(&c.permitted, last)?,
            ambient: mask(&c.ambient, last)?,
            last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_names() {
        assert_eq!(from_name("CAP_CHOWN"), Some(0));
        assert_eq!(from_name("cap_sys_admin"), Some(21));
        assert_eq!(from_name("NET_RAW"), Some(13));
        assert_eq!(from_name("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(from_name("CAP_NOPE"), None);
        assert_eq!(name(21).as_deref(), Some("CAP_SYS_ADMIN"));
        for (i, _) in NAMES.iter().enumerate() {
            assert_eq!(from_name(&name(i as u32).unwrap()), Some(i as u32));
        }
    }

    #[test]
    fn builds_masks() {
        let caps = Capabilities {
            bounding: vec!["CAP_CHOWN".into(), "CAP_KILL".into()],
            effective: vec!["CAP_KILL".into()],
            ..Default::default()
        };
        let s = CapSets::from_spec(Some(&caps)).unwrap();
        assert_eq!(s.bounding, 0b100001);
        assert_eq!(s.effective, 0b100000);
        assert_eq!(s.permitted, 0);
        assert_eq!(mask(&["CAP_BPF".into()], 38).unwrap(), 0, "caps above cap_last_cap are skipped");
        assert_eq!(mask(&["CAP_X".into(), "CAP_KILL".into()], 40).unwrap(), 1 << 5);
        assert_eq!(CapSets::from_spec(None).unwrap().effective, 0);
    }
}
