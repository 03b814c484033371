#!/usr/bin/env bash
# Quick start: install ECS Portal, load the demo operator, create an admin login and start
# the portal on SQLite at http://127.0.0.1:${PORT:-8000}/ (no other services needed).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e .
export DEBUG="${DEBUG:-1}"
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py ecs_apply demo/operator.yaml
.venv/bin/python manage.py ecs_admin_user --username admin
echo "Admin:  http://127.0.0.1:${PORT:-8000}/admin/   API docs: http://127.0.0.1:${PORT:-8000}/api/docs/"
exec .venv/bin/python manage.py runserver "127.0.0.1:${PORT:-8000}"
