#!/usr/bin/env bash
# Stop the server started by serve.sh (by its recorded pid). Its machines keep
# running; the next start takes them over. Kill machines first to destroy them.
set -euo pipefail
data="${NULLSPACE_DATA_DIR:-/var/lib/nullspace}"
if [ -f "$data/server.pid" ] && kill -0 "$(cat "$data/server.pid")" 2>/dev/null; then
  pid=$(cat "$data/server.pid")
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  echo "stopped nullspace-server ($pid)"
fi
rm -f "$data/server.pid"
