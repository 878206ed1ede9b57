#!/usr/bin/env bash
# One command on a fresh Debian 12 host: install everything, build the guest
# image and the `base` template (cached by content hash), start the server, and
# run the quickstart: create a machine, run `python3 --version` in it, print it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/python-env.sh
export NULLSPACE_DATA_DIR="${NULLSPACE_DATA_DIR:-/var/lib/nullspace}"
./target/release/nullspace-runtime accel
./target/release/nullspace-runtime image build
./target/release/nullspace-runtime template build
scripts/serve.sh
export NULLSPACE_API_URL="${NULLSPACE_API_URL:-http://127.0.0.1:7070}"
NULLSPACE_API_KEY="${NULLSPACE_API_KEY:-$(cat "$NULLSPACE_DATA_DIR/admin-api-key")}"
export NULLSPACE_API_KEY
target/py/bin/python scripts/quickstart.py
echo "server: $NULLSPACE_API_URL  admin key: $NULLSPACE_DATA_DIR/admin-api-key  stop: scripts/stop.sh"
