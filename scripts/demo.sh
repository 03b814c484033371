#!/usr/bin/env bash
# Quick start: install ECS Portal and run the demo (scripts/demo.py): the home ECS on
# http://127.0.0.1:${PORT:-8000}/, its roaming partner on the next port (its own SQLite file),
# the notifications worker and a notification receiver on the port after. SQLite only, no
# other services. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e .
exec .venv/bin/python scripts/demo.py "$@"
