//! Probes the layout of ISA-L's `struct inflate_state` (from libisal-dev's
//! `<isa-l/igzip_lib.h>`) with a tiny C program built by the system `cc`, and
//! writes it to `$OUT_DIR/isal_layout.rs`. The addon loads libisal.so.2 at
//! run time (dlopen) and reads and writes the state's fields at these
//! offsets; when the header or `cc` is missing, the layout is `None` and the
//! native gunzip reports itself unavailable (callers fall back to zlib).
use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

const PROBE: &str = r#"
#include <stddef.h>
#include <stdio.h>
#include <isa-l/igzip_lib.h>
int main(void) {
    printf("%zu %zu %zu %zu %zu %zu %zu %zu %zu %d %d %d %d\n",
        sizeof(struct inflate_state),
        offsetof(struct inflate_state, next_out),
        offsetof(struct inflate_state, avail_out),
        offsetof(struct inflate_state, total_out),
        offsetof(struct inflate_state, next_in),
        offsetof(struct inflate_state, avail_in),
        offsetof(struct inflate_state, block_state),
        offsetof(struct inflate_state, crc_flag),
        offsetof(struct inflate_state, crc),
        (int)ISAL_BLOCK_FINISH, ISAL_GZIP, ISAL_DECOMP_OK, ISAL_INCORRECT_CHECKSUM);
    return 0;
}
"#;

fn probe(out: &PathBuf) -> Option<Vec<u64>> {
    let src = out.join("isal_probe.c");
    let exe = out.join("isal_probe");
    fs::write(&src, PROBE).ok()?;
    let cc = env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let built = Command::new(cc).arg("-o").arg(&exe).arg(&src).status().ok()?;
    if !built.success() {
        return None;
    }
    let run = Command::new(&exe).output().ok()?;
    if !run.status.success() {
        return None;
    }
    let text = String::from_utf8(run.stdout).ok()?;
    let v: Vec<i64> = text.split_whitespace().map(|s| s.parse().ok()).collect::<Option<_>>()?;
    if v.len() != 13 {
        return None;
    }
    Some(v.into_iter().map(|n| n as u64).collect())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=/usr/include/isa-l/igzip_lib.h");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let body = match probe(&out) {
        Some(v) => format!(
            "Some(IsalLayout {{ size: {}, next_out: {}, avail_out: {}, total_out: {}, next_in: {}, avail_in: {}, block_state: {}, crc_flag: {}, crc: {}, block_finish: {}, gzip: {}, decomp_ok: {}, incorrect_checksum: {} }})",
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9] as i64 as i32, v[10] as i64 as u32, v[11] as i64 as i32, v[12] as i64 as i32
        ),
        None => {
            println!("cargo:warning=ISA-L header <isa-l/igzip_lib.h> not usable (install libisal-dev): the native gunzip is disabled");
            "None".to_string()
        }
    };
    fs::write(out.join("isal_layout.rs"), format!("/// `struct inflate_state` as the build machine's header lays it out.\npub const ISAL_LAYOUT: Option<IsalLayout> = {body};\n")).unwrap();
}
