"""``/healthz``: is the database reachable, does the shared cache answer, is the worker alive.

``ok`` (200): all is well.  ``degraded`` (200): the portal serves, but Redis is away and it
answers without the shared cache (ecscore.cache).  ``failing`` (503): the database is
unreachable, or the worker's heartbeat is older than ``ECS_WORKER_HEARTBEAT_MAX_AGE``
(when ``ECS_EXPECT_WORKER`` says a worker should run).  Details beside the checks: this
process's inventory index, and (``ecsEr``) our registration at the ECS-ER when we have one.
"""

from __future__ import annotations

import logging
import os
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from ecscore.cache import circuit

logger = logging.getLogger(__name__)


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_cache() -> str:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "ok", 10)
    if cache.get(key) != "ok":
        raise RuntimeError("cache did not return what was stored")
    cache.delete(key)
    # The resilient cache answers from process memory while Redis is away: say so.
    return "degraded" if circuit.degraded else "ok"


def _check_worker() -> str:
    from notifications.heartbeat import age

    seconds = age()
    if seconds is None or seconds > settings.ECS_WORKER_HEARTBEAT_MAX_AGE:
        return "failing"
    return "ok"


@require_safe  # GET and HEAD: load balancers probe with either
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {}
    steps = [("database", _check_database), ("cache", _check_cache)]
    if settings.ECS_EXPECT_WORKER:
        steps.append(("worker", _check_worker))
    for name, check in steps:
        try:
            checks[name] = check()
        except Exception as exc:  # any failure is the answer, not a crash
            logger.warning("health check %s failed: %s", name, type(exc).__name__)
            checks[name] = "failing"
    if any(v == "failing" for v in checks.values()):
        status = "failing"
    elif any(v == "degraded" for v in checks.values()):
        status = "degraded"
    else:
        status = "ok"
    from federation import member
    from provisioning import inventory

    body = {
        "status": status,
        "checks": checks,
        # This process's in-memory inventory index (it answers from SQL until it is ready).
        "inventoryIndex": {**inventory.index.status(), "pid": os.getpid()},
    }
    try:
        registration = member.health()
    except Exception as exc:  # a detail: its failure must not fail the probe
        logger.warning("health detail ecsEr failed: %s", type(exc).__name__)
        registration = {"error": "unavailable"}
    if registration is not None:
        # Our registration at the ECS-ER: a detail, not a check -- an ECS-ER that is down
        # does not stop this ECS serving, so it does not make us "failing".
        body["ecsEr"] = registration
    return JsonResponse(body, status=503 if status == "failing" else 200)
