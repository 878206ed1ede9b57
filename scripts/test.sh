#!/usr/bin/env bash
# Run every test: formatting, lints, unit tests and the real-VM tests (as root,
# under TCG where KVM cannot run stock kernels), then check nothing leaked.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
export NULLSPACE_DATA_DIR="${NULLSPACE_DATA_DIR:-/var/lib/nullspace}"
export NULLSPACE_GUESTD="$PWD/target/x86_64-unknown-linux-gnu/release/nullspace-guestd"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Build the image and template once, outside the test timeouts.
./target/release/nullspace-runtime image build
./target/release/nullspace-runtime template build
cargo test --release --workspace -- --test-threads=2
scripts/test-against-server.sh
scripts/check-leaks.sh
