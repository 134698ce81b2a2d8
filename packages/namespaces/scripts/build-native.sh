#!/usr/bin/env bash
# Builds the N-API addon (native/berth-namespaces.linux-x64-gnu.node) with
# @napi-rs/cli and the berth-runtime binary (native/bin/berth-runtime), from
# Debian's packaged crates, offline (see the repository's .cargo/config.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="$PWD/native/target"
npx napi build --release --platform --no-js --manifest-path native/addon/Cargo.toml \
  --package-json-path package.json --output-dir native
cargo build --release --offline --manifest-path native/Cargo.toml -p berth-runtime
mkdir -p native/bin
install -m 0755 native/target/release/berth-runtime native/bin/berth-runtime
