#!/usr/bin/env bash
# Production mode: migrate, collect static files, then run gunicorn and the worker.
# Needs SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL (PostgreSQL) and REDIS_URL in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SECRET_KEY:?set SECRET_KEY}" "${ALLOWED_HOSTS:?set ALLOWED_HOSTS}"
: "${DATABASE_URL:?set DATABASE_URL}" "${REDIS_URL:?set REDIS_URL}"
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python manage.py run_worker &
worker=$!
trap 'kill $worker 2>/dev/null' EXIT
.venv/bin/gunicorn -c gunicorn.conf.py ecsportal.wsgi
