//! berth-core: the logic of @berth/namespaces as plain Rust, covered by
//! `cargo test`. The N-API adapter (`../addon`) and the `berth-runtime` CLI
//! (`../cli`) are thin layers over these modules.
pub mod error;
/// cgroups v1 and v2 behind one manager interface, with an injectable root.
pub mod cgroups;
/// Filesystem syscalls Node lacks: mount, mknod, xattrs, lchown, utimensat, renameat2, syncfs, safe resolve.
pub mod fsys;
/// The container runtime: clone, namespaces, rootfs, process setup, exec.
pub mod runtime;
/// OCI runtime-spec `config.json` types.
pub mod spec;
/// Capability names, numbers and sets.
pub mod caps;
/// OCI seccomp profiles compiled to BPF through libseccomp.
pub mod seccomp;
/// Mount option parsing and symlink-safe joins inside the rootfs.
pub mod rootfs;
