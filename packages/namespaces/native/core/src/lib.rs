//! berth-core: the logic of @berth/namespaces as plain Rust, covered by
//! `cargo test`. The N-API adapter (`../addon`) and the `berth-runtime` CLI
//! (`../cli`) are thin layers over these modules.
