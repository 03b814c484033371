"""``GET /.well-known/jwks.json``: the ECS-ER's public signing keys (no authentication).

Members verify federation tokens with these; they cache the set for ``Cache-Control``'s
max-age and fetch it again on a ``kid`` they do not know.  Not an ECS-ER: 404.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from ecscore.problems import PROBLEM_JSON, problem_body

from . import repository, signing


@require_GET
def jwks(request: HttpRequest) -> HttpResponse:
    config = repository.configuration()
    if not config.enabled:
        body = problem_body(404, "This ECS has no repository function (ECS-ER).")
        return JsonResponse(body, status=404, content_type=PROBLEM_JSON)
    body = json.dumps(signing.jwks(config.signing_keys), sort_keys=True)
    response = HttpResponse(body, content_type="application/json")
    response["Cache-Control"] = f"public, max-age={signing.JWKS_MAX_AGE}"
    return response
