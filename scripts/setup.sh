#!/usr/bin/env bash
# One command on a fresh Debian 12 host: install everything, build the guest
# image and the `base` template (cached by content hash), then run the
# quickstart: create a machine, run `python3 --version` in it, print the output.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
export NULLSPACE_DATA_DIR="${NULLSPACE_DATA_DIR:-/var/lib/nullspace}"
./target/release/nullspace-runtime accel
./target/release/nullspace-runtime image build
./target/release/nullspace-runtime template build
./target/release/nullspace-runtime run -- python3 --version
