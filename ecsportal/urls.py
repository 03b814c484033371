"""URL map: the 3GPP APIs at their 3GPP paths (``apis.SERVED``), the admin, the OpenAPI
description, the token endpoint, the OAM API (``oam.api``), health and metrics, and a page at
``/`` that links to them."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from access.oauth import TokenView
from federation.jwks import jwks
from partners.metrics import metrics

from . import apis
from .health import healthz
from .home import home

urlpatterns = [
    *(path(api.prefix, include(api.urls)) for api in apis.SERVED),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("oauth2/token/", TokenView.as_view(), name="oauth2-token"),
    path(".well-known/jwks.json", jwks, name="jwks"),
    path("api/oam/v1/", include("oam.api.urls")),
    path("nef-notifications/v1/", include("partners.nef.urls")),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("api/ping", include("ecsportal.ping")),
    path("admin/", admin.site.urls),
    path("", home, name="home"),
]

handler404 = "ecscore.problems.handler404"
handler500 = "ecscore.problems.handler500"
