#!/usr/bin/env bash
# Client tests against a real server with real machines (started here on a free
# port with its own state, stopped after): the Python SDK (lint, unit and
# integration tests, both flavours) and the CLI's end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/python-env.sh
py="$PWD/target/py/bin/python"
(cd sdks/python && "$py" -m ruff check . && "$py" -m pytest -q tests --ignore=tests/integration)
state=$(mktemp -d /tmp/ns-pytest-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./target/release/nullspace-server --state-dir "$state" --listen "127.0.0.1:$port" --ssh-listen 127.0.0.1:0 \
  --guestd target/x86_64-unknown-linux-gnu/release/nullspace-guestd --on-exit destroy 2>"$state/server.log" &
server=$!
stop() { kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$state"; }
trap stop EXIT
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/v1/health" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$state/server.log"; exit 1; }
  sleep 0.5
done
export NULLSPACE_TEST_API_URL="http://127.0.0.1:$port"
NULLSPACE_TEST_API_KEY=$(./target/release/nullspace-server --state-dir "$state" keys create --tenant pytest)
export NULLSPACE_TEST_API_KEY
(cd sdks/python && "$py" -m pytest -q -ra tests/integration)
cargo test --release -p nullspace-cli --test e2e -- --test-threads=1
