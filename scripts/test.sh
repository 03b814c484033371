#!/usr/bin/env bash
# Install the test dependencies and run the whole suite. The database and cache come from
# DATABASE_URL / REDIS_URL (default: SQLite and local memory). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
# The admin's browser tests drive Debian's chromium; install it where we may.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
      >/dev/null 2>&1 || echo "warning: could not install chromium; browser tests will fail"
  else
    echo "warning: chromium is not installed (apt-get install chromium); browser tests will fail"
  fi
fi
exec .venv/bin/pytest "$@"
