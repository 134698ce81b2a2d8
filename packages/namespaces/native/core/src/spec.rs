//! OCI runtime-spec `config.json` types (runtime-spec 1.1), for the scope
//! berth implements: process, root, mounts, hostname/domainname and the
//! `linux` section (namespaces, id maps, sysctl, resources, cgroupsPath,
//! rootfsPropagation, seccomp, masked/readonly paths, devices).
//! Unknown fields are ignored, as runc does.
use crate::cgroups::LinuxResources;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole `config.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Spec {
    pub oci_version: String,
    pub process: Option<Process>,
    pub root: Option<Root>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub mounts: Vec<Mount>,
    pub annotations: BTreeMap<String, String>,
    pub linux: Option<Linux>,
}

/// `process`: what runs in the container.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Process {
    pub terminal: bool,
    pub console_size: Option<ConsoleSize>,
    pub user: User,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub capabilities: Option<Capabilities>,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
}

/// `process.consoleSize`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsoleSize {
    pub height: u16,
    pub width: u16,
}

/// `process.user`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub umask: Option<u32>,
    pub additional_gids: Vec<u32>,
}

/// `process.capabilities`: the five sets, as `CAP_…` names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Capabilities {
    pub bounding: Vec<String>,
    pub effective: Vec<String>,
    pub inheritable: Vec<String>,
    pub permitted: Vec<String>,
    pub ambient: Vec<String>,
}

/// One of `process.rlimits`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub typ: String,
    pub hard: u64,
    pub soft: u64,
}

/// `root`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Root {
    pub path: String,
    pub readonly: bool,
}

/// One of `mounts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Mount {
    pub destination: String,
    #[serde(rename = "type")]
    pub typ: Option<String>,
    pub source: Option<String>,
    pub options: Vec<String>,
}

/// `linux`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Linux {
    pub namespaces: Vec<Namespace>,
    pub uid_mappings: Vec<IdMapping>,
    pub gid_mappings: Vec<IdMapping>,
    pub sysctl: BTreeMap<String, String>,
    pub resources: Option<LinuxResources>,
    pub cgroups_path: Option<String>,
    pub rootfs_propagation: Option<String>,
    pub seccomp: Option<Seccomp>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub devices: Vec<Device>,
    pub mount_label: Option<String>,
}

/// One of `linux.namespaces`: a new namespace, or one joined by `path`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub typ: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// One line of a uid or gid map.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdMapping {
    #[serde(rename = "containerID")]
    pub container_id: u32,
    #[serde(rename = "hostID")]
    pub host_id: u32,
    pub size: u32,
}

/// One of `linux.devices`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Device {
    #[serde(rename = "type")]
    pub typ: String,
    pub path: String,
    pub major: i64,
    pub minor: i64,
    pub file_mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// `linux.seccomp`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Seccomp {
    pub default_action: String,
    pub default_errno_ret: Option<u32>,
    pub architectures: Vec<String>,
    pub flags: Vec<String>,
    pub syscalls: Vec<SeccompSyscall>,
}

/// One rule of `linux.seccomp.syscalls`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeccompSyscall {
    pub names: Vec<String>,
    pub action: String,
    pub errno_ret: Option<u32>,
    pub args: Vec<SeccompArg>,
}

/// One argument condition of a seccomp rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeccompArg {
    pub index: u32,
    pub value: u64,
    pub value_two: u64,
    pub op: String,
}

/// The namespace kinds, in the order they are joined (user first, mount last
/// so the paths of the others still resolve on the host).
pub const NAMESPACE_ORDER: [&str; 7] = ["user", "ipc", "uts", "net", "pid", "cgroup", "mount"];

/// The `CLONE_NEW*` flag of an OCI namespace type.
pub fn namespace_flag(typ: &str) -> Result<i32> {
    Ok(match typ {
        "pid" => libc::CLONE_NEWPID,
        "network" => libc::CLONE_NEWNET,
        "mount" => libc::CLONE_NEWNS,
        "ipc" => libc::CLONE_NEWIPC,
        "uts" => libc::CLONE_NEWUTS,
        "user" => libc::CLONE_NEWUSER,
        "cgroup" => libc::CLONE_NEWCGROUP,
        "time" => 0x80,
        _ => return Err(Error::new("ERR_NS_INVALID_SPEC", format!("unknown namespace type {typ:?}"))),
    })
}

/// The `/proc/<pid>/ns/<name>` file name of an OCI namespace type.
pub fn namespace_proc_name(typ: &str) -> &'static str {
    match typ {
        "pid" => "pid",
        "network" => "net",
        "mount" => "mnt",
        "ipc" => "ipc",
        "uts" => "uts",
        "user" => "user",
        "cgroup" => "cgroup",
        "time" => "time",
        _ => "",
    }
}

impl Spec {
    /// Parses and checks a `config.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Spec> {
        let spec: Spec = serde_json::from_slice(bytes).map_err(|e| Error::new("ERR_NS_INVALID_SPEC", format!("config.json: {e}")))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks what the runtime relies on: a root, a process with args, known namespace types.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::new("ERR_NS_INVALID_SPEC", m));
        match &self.root {
            Some(r) if !r.path.is_empty() => {}
            _ => return bad("spec has no root.path".into()),
        }
        if let Some(linux) = &self.linux {
            let mut seen = std::collections::HashSet::new();
            for ns in &linux.namespaces {
                namespace_flag(&ns.typ)?;
                if !seen.insert(ns.typ.as_str()) {
                    return bad(format!("namespace {:?} listed twice", ns.typ));
                }
            }
            let has_user = linux.namespaces.iter().any(|n| n.typ == "user");
            if has_user && linux.namespaces.iter().any(|n| n.typ == "user" && n.path.is_none()) && linux.uid_mappings.is_empty() {
                return bad("a new user namespace needs linux.uidMappings".into());
            }
        }
        for m in &self.mounts {
            if !m.destination.starts_with('/') {
                return bad(format!("mount destination {:?} is not absolute", m.destination));
            }
        }
        Ok(())
    }

    /// Does the spec ask for a namespace of this type (new or joined)?
    pub fn namespace(&self, typ: &str) -> Option<&Namespace> {
        self.linux.as_ref()?.namespaces.iter().find(|n| n.typ == typ)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runc_spec() {
        let j = br#"{"ociVersion":"1.0.2","process":{"terminal":true,"user":{"uid":0,"gid":0},"args":["sh"],"env":["PATH=/bin"],"cwd":"/",
          "capabilities":{"bounding":["CAP_KILL"],"effective":["CAP_KILL"]},"rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}],"noNewPrivileges":true},
          "root":{"path":"rootfs","readonly":true},"hostname":"runc",
          "mounts":[{"destination":"/proc","type":"proc","source":"proc"}],
          "linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}],"memory":{"limit":8388608}},"namespaces":[{"type":"pid"},{"type":"network","path":"/proc/1/ns/net"}],
          "maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"],"uidMappings":[],"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}},
          "unknown":{"x":1}}"#;
        let s = Spec::from_json(j).unwrap();
        assert_eq!(s.process.as_ref().unwrap().args, vec!["sh"]);
        assert!(s.root.as_ref().unwrap().readonly);
        let l = s.linux.as_ref().unwrap();
        assert_eq!(l.namespaces[1].path.as_deref(), Some("/proc/1/ns/net"));
        assert_eq!(l.resources.as_ref().unwrap().memory.as_ref().unwrap().limit, Some(8388608));
        assert_eq!(l.seccomp.as_ref().unwrap().syscalls[0].args[0].op, "SCMP_CMP_EQ");
        assert_eq!(s.process.unwrap().rlimits[0].typ, "RLIMIT_NOFILE");
    }

    #[test]
    fn rejects_bad_specs() {
        assert_eq!(Spec::from_json(b"{}").unwrap_err().code, "ERR_NS_INVALID_SPEC");
        assert_eq!(Spec::from_json(br#"{"root":{"path":"r"},"linux":{"namespaces":[{"type":"bogus"}]}}"#).unwrap_err().code, "ERR_NS_INVALID_SPEC");
        assert_eq!(Spec::from_json(br#"{"root":{"path":"r"},"linux":{"namespaces":[{"type":"user"}]}}"#).unwrap_err().code, "ERR_NS_INVALID_SPEC");
        assert_eq!(Spec::from_json(br#"{"root":{"path":"r"},"mounts":[{"destination":"rel"}]}"#).unwrap_err().code, "ERR_NS_INVALID_SPEC");
        assert!(Spec::from_json(b"not json").is_err());
    }
}
