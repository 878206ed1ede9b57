#!/usr/bin/env bash
# Build the host binaries and the static guest agent (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release -p nullspace-guestd --target x86_64-unknown-linux-gnu
