//! Filesystem syscalls Node lacks.
