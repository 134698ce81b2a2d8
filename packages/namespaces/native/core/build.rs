fn main() {
    // seccomp.rs compiles OCI profiles with libseccomp (libseccomp-dev).
    println!("cargo:rustc-link-lib=seccomp");
}
