#!/usr/bin/env bash
# A virtualenv at target/py with the SDK installed editable (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x target/py/bin/python ]; then
  mkdir -p target
  python3 -m venv target/py
fi
target/py/bin/python -m pip install -q --disable-pip-version-check -e 'sdks/python[dev]'
