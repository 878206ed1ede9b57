#!/usr/bin/env bash
# Run every test: formatting, lints, unit tests and the real-VM tests (as root,
# under TCG where KVM cannot run stock kernels), then check nothing leaked.
#
# Hermetic: the tests use their own data directory (images, templates,
# machines), their own state directories and ports, and the leak check counts
# only what belongs to that data directory, so a server started by setup.sh
# keeps running untouched beside them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
export NULLSPACE_DATA_DIR="${NULLSPACE_TEST_DATA_DIR:-/var/lib/nullspace-test}"
export NULLSPACE_GUESTD="$PWD/target/x86_64-unknown-linux-gnu/release/nullspace-guestd"
# A test that cannot run here (no root, no QEMU, no server) fails instead of passing.
export NULLSPACE_REQUIRE_VM=1
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Build the image and template once, outside the test timeouts.
./target/release/nullspace-runtime image build
./target/release/nullspace-runtime template build
# The CLI's end-to-end tests need a running server: test-against-server.sh runs them.
cargo test --release --workspace --exclude nullspace-cli -- --test-threads=2
cargo test --release -p nullspace-cli --lib --bins --test cli --test lifecycle --test preview --test process --test git --test template -- --test-threads=2
scripts/schemathesis.sh
scripts/test-against-server.sh
scripts/check-leaks.sh
