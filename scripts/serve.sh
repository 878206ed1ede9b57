#!/usr/bin/env bash
# Start nullspace-server in the background unless one already answers
# (idempotent). Its log and pid live in the data directory.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${NULLSPACE_DATA_DIR:-/var/lib/nullspace}"
url="${NULLSPACE_API_URL:-http://127.0.0.1:7070}"
if curl -sf "$url/v1/health" >/dev/null; then
  echo "nullspace-server already answers at $url"
  exit 0
fi
mkdir -p "$data"
nohup ./target/release/nullspace-server --data-dir "$data" --listen "${url#http://}" \
  --guestd target/x86_64-unknown-linux-gnu/release/nullspace-guestd >>"$data/server.log" 2>&1 &
echo $! > "$data/server.pid"
for _ in $(seq 1 600); do
  curl -sf "$url/v1/health" >/dev/null && { echo "nullspace-server is up at $url (log: $data/server.log)"; exit 0; }
  kill -0 "$(cat "$data/server.pid")" 2>/dev/null || { tail -20 "$data/server.log"; exit 1; }
  sleep 0.5
done
echo "nullspace-server did not come up; see $data/server.log" >&2
exit 1
