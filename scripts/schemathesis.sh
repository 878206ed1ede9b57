#!/usr/bin/env bash
# Fuzz the HTTP API against its own OpenAPI document with Schemathesis: a server
# on the do-nothing node (its own state directory and port), every check, a
# bounded number of examples per operation and a time budget. Fails on any 5xx,
# schema violation or disagreement between the spec and the server.
#
# Two stateful checks are left out because the API answers differently on
# purpose: `use_after_free` (a killed machine stays readable, state `killed`, for
# the history retention, as the spec says) and `ensure_resource_availability`
# (the file routes answer 404 for a missing *file* inside a machine that exists).
set -euo pipefail
cd "$(dirname "$0")/.."
server_bin="${NULLSPACE_SERVER_BIN:-target/release/nullspace-server}"
py="$PWD/target/py/bin/python"
[ -x "$py" ] || scripts/python-env.sh
[ -x target/py/bin/schemathesis ] || "$py" -m pip install -q --disable-pip-version-check 'schemathesis>=4,<5'
state=$(mktemp -d /tmp/ns-schemathesis-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$server_bin" --state-dir "$state" --data-dir "$state/data" --listen "127.0.0.1:$port" --ssh-listen 127.0.0.1:0 \
  --fake-node --rate 100000 --on-exit destroy 2>"$state/server.log" &
server=$!
stop() { kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$state"; }
trap stop EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/v1/health" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$state/server.log"; exit 1; }
  sleep 0.1
done
key=$("$server_bin" --state-dir "$state" keys create --tenant fuzz)
export PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=schemathesis_hooks
# The WebSocket routes (process stream, PTY, directory watch, build log stream) are
# not request/answer operations (a plain GET is 400 by design); tests/process_stream.rs,
# templates_api.rs and the file-surface tests drive them with real WebSocket clients.
# The archive upload takes a tar body Schemathesis cannot make; tests/files_tree.rs and
# e2e_tree.rs send real ones.
# The key goes through the spec's security scheme, so the auth checks can leave it out.
export NULLSPACE_FUZZ_KEY="$key"
fuzz() {
  target/py/bin/schemathesis --config-file scripts/schemathesis.toml run \
    "http://127.0.0.1:$port/v1/openapi.json" --url "http://127.0.0.1:$port" \
    --exclude-operation-id streamProcess --exclude-operation-id connectPty \
    --exclude-operation-id watchDir --exclude-operation-id uploadArchive \
    --exclude-operation-id streamTemplateBuildLogs \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
    --seed "${SCHEMATHESIS_SEED:-20261201}" --generation-database none --workers 1 \
    --no-color --report junit --report-dir "$state/report" "$@"
}
semantic='/git/|/files/(search|find|replace)$|/uploads|/templates'
# Everything else, with every check.
fuzz --checks all --exclude-checks use_after_free,ensure_resource_availability \
  --exclude-path-regex "$semantic" --max-time "${SCHEMATHESIS_SECONDS:-240}" "$@"
# Routes whose valid input is more than JSON Schema can state get every check but
# "valid data accepted": git's ref names (`git check-ref-format`; the do-nothing node
# runs no git, tests/e2e_git.rs runs real git), glob and regex syntax (search, find,
# replace: tests/files_tree.rs and e2e_tree.rs), and upload sessions whose paths and
# chunks must fit the machine and the session (the same tests).
fuzz --checks all --exclude-checks use_after_free,ensure_resource_availability,positive_data_acceptance \
  --include-path-regex "$semantic" --max-time "${SCHEMATHESIS_GIT_SECONDS:-90}" "$@"
