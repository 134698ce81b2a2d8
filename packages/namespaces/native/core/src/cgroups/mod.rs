//! cgroups: one manager interface, v1 and v2 backends chosen by detection.
