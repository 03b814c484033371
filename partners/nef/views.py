"""Where the NEF posts its MonitoringNotification (the ``notificationDestination`` we give).

The NEF does not hold one of our API tokens: the URL's last segment is an unguessable
per-subscription token (``secrets.token_urlsafe(32)``) that only this NEF subscription knows,
and it is accepted only while the subscription it was made for can still use the report.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ecscore.problems import PROBLEM_JSON, problem_body

from . import resolver


def _problem(status: int, detail: str, cause: str | None = None) -> JsonResponse:
    return JsonResponse(
        problem_body(status, detail, cause), status=status, content_type=PROBLEM_JSON
    )


@csrf_exempt
@require_POST
def notification(request: HttpRequest, token: str) -> HttpResponse:
    if request.content_type != "application/json":
        return _problem(415, "A MonitoringNotification is application/json.")
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _problem(400, "The body is not JSON.", "INVALID_MSG_FORMAT")
    status = resolver.notified(token, body)
    if status == 404:
        return _problem(404, "No such monitoring subscription.", "RESOURCE_NOT_FOUND")
    if status == 400:
        return _problem(400, "The body is not a MonitoringNotification.", "INVALID_MSG_FORMAT")
    return HttpResponse(status=204)
