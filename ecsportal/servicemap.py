"""The admin's map of service areas: the page (Leaflet, vendored) and the GeoJSON it loads.

Both are admin views (``PortalAdminSite.get_urls``): a staff login, and the view permission
on EDNs (topology areas) or EESs (service areas); a user with neither gets 403, one with one
sees that layer only.  The data endpoint answers one viewport at a time
(``provisioning.areamap``: at most ``limit`` areas, ``truncated`` when there were more).
The tile server is ``ECS_MAP_TILE_URL``; without one the shapes lie on a plain grid drawn in
the browser, and the page makes no request beyond this portal.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from ecscore.problems import PROBLEM_JSON, problem_body
from provisioning import areamap
from provisioning.models import EDN, EES

GEOJSON = "application/geo+json"


def _layers(request: HttpRequest, site: AdminSite) -> tuple[bool, bool]:
    """Which layers ``request``'s user may see: (EDN topology areas, EES service areas)."""

    def may_view(model: type) -> bool:
        model_admin = site._registry.get(model)
        return model_admin is not None and model_admin.has_view_permission(request)

    edns, eess = may_view(EDN), may_view(EES)
    if not (edns or eess):
        raise PermissionDenied
    return edns, eess


def url_for(request: HttpRequest, site: AdminSite) -> str | None:
    """The map's address, for a user who may see a layer of it (the admin index links it)."""
    try:
        _layers(request, site)
    except PermissionDenied:
        return None
    return reverse("admin:service-map")


def map_page(request: HttpRequest, site: AdminSite) -> HttpResponse:
    edns, eess = _layers(request, site)
    context = {
        **site.each_context(request),
        "title": "Map of service areas",
        "map_config": {
            "dataUrl": reverse("admin:service-map-data"),
            "tileUrl": settings.ECS_MAP_TILE_URL,
            "tileAttribution": settings.ECS_MAP_TILE_ATTRIBUTION,
            "limit": areamap.DEFAULT_LIMIT,
            "changeUrls": {
                "edn": reverse("admin:provisioning_edn_change", args=[0]),
                "ees": reverse("admin:provisioning_ees_change", args=[0]),
            },
        },
        "layers": {"edns": edns, "eess": eess},
    }
    return TemplateResponse(request, "admin/service_map.html", context)


def _bad_request(detail: str) -> JsonResponse:
    return JsonResponse(problem_body(400, detail), status=400, content_type=PROBLEM_JSON)


def map_data(request: HttpRequest, site: AdminSite) -> HttpResponse:
    """``GET ?bbox=west,south,east,north&limit=N``: the areas in that viewport as GeoJSON."""
    edns, eess = _layers(request, site)
    try:
        view = areamap.Viewport.parse(request.GET.get("bbox"))
    except ValueError as exc:
        return _bad_request(str(exc))
    limit_text = request.GET.get("limit") or str(areamap.DEFAULT_LIMIT)
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= areamap.MAX_LIMIT:
        return _bad_request(f"limit is a whole number from 1 to {areamap.MAX_LIMIT}")
    data: dict[str, Any] = areamap.service_map(view, int(limit_text), edns=edns, eess=eess)
    return JsonResponse(data, content_type=GEOJSON, json_dumps_params={"ensure_ascii": False})
