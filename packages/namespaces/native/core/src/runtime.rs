//! The container runtime.
