"""URL map: 3GPP APIs at their 3GPP paths, the admin, the OpenAPI description, health."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from oauth2_provider.views import TokenView

from partners.metrics import metrics

from .health import healthz

admin.site.site_header = "ECS Portal administration"
admin.site.site_title = "ECS Portal"
admin.site.index_title = "Edge Configuration Server"

urlpatterns = [
    path("eecs-serviceprovisioning/v1/", include("provisioning.api.urls")),
    path("eecs-ecsserviceprovisioning/v1/", include("partners.api.urls")),
    path("eecs-eesregistration/v1/", include("provisioning.api.registration_urls")),
    path("eecs-targeteesdiscovery/v1/", include("provisioning.api.discovery_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("oauth2/token/", TokenView.as_view(), name="oauth2-token"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("api/ping", include("ecsportal.ping")),
    path("admin/", admin.site.urls),
]

handler404 = "ecsportal.api.handler404"
handler500 = "ecsportal.api.handler500"
