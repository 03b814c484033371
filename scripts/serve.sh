#!/usr/bin/env bash
# Production mode: migrate, collect static files, then run gunicorn and the worker.
# Needs SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL (PostgreSQL) and REDIS_URL in the environment.
# The worker is supervised: restarted (after a short, growing pause) whenever it exits, and
# stopped with the server. /healthz reports it failing when its heartbeat goes stale.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SECRET_KEY:?set SECRET_KEY}" "${ALLOWED_HOSTS:?set ALLOWED_HOSTS}"
: "${DATABASE_URL:?set DATABASE_URL}" "${REDIS_URL:?set REDIS_URL}"
export ECS_EXPECT_WORKER="${ECS_EXPECT_WORKER:-1}"
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput -v0

supervise_worker() {
  local pause=1 child=0
  trap 'kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0' TERM INT
  while true; do
    started=$(date +%s)
    .venv/bin/python manage.py run_worker &
    child=$!
    status=0
    wait "$child" || status=$?
    # A worker that ran a while before it exited starts again at once; one that keeps
    # exiting at start waits longer each time (at most 30 s), so a broken setup is not a loop.
    if (($(date +%s) - started > 60)); then pause=1; fi
    echo "serve.sh: worker exited with $status; restarting in ${pause} s" >&2
    sleep "$pause" & wait $! || true
    pause=$((pause * 2 > 30 ? 30 : pause * 2))
  done
}

supervise_worker &
supervisor=$!
trap 'kill -TERM $supervisor 2>/dev/null; wait $supervisor 2>/dev/null' EXIT
.venv/bin/gunicorn -c gunicorn.conf.py ecsportal.wsgi
