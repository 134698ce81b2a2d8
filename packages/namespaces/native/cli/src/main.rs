//! berth-runtime: an OCI runtime CLI with runc-compatible flags.
fn main() {
    eprintln!("berth-runtime: no commands yet");
    std::process::exit(2);
}
