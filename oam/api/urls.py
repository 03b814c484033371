"""The OAM API's URL table, mounted at /api/oam/v1/ (``ecsportal.urls``)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views
from .changes import ChangeViewSet

app_name = "oam"

# SimpleRouter, not DefaultRouter: its API root view would be a view outside the base
# viewset (other authentication, no ProblemDetails for a missing token).
router = SimpleRouter()
router.register("edns", views.EDNViewSet, basename="edn")
router.register("eess", views.EESViewSet, basename="ees")
router.register("partners", views.PartnerViewSet, basename="partner")
router.register("policies", views.PolicyViewSet, basename="policy")
router.register("cache-entries", views.CacheEntryViewSet, basename="cacheentry")
router.register("audit", views.AuditViewSet, basename="audit")
router.register("outbox", views.NotificationViewSet, basename="notification")
router.register("api-clients", views.APIClientViewSet, basename="apiclient")
router.register("ecs-registrations", views.ECSRegistrationViewSet, basename="ecsregistration")

urlpatterns = [
    # The ECS identity is one object: no list, no id.
    path(
        "ecs/",
        views.ECSViewSet.as_view({"get": "retrieve", "put": "update", "patch": "partial_update"}),
        name="ecs",
    ),
    path(
        "nef/",
        views.NEFViewSet.as_view(
            {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
        ),
        name="nef",
    ),
    path("changes/", ChangeViewSet.as_view({"get": "list"}), name="change-list"),
    *router.urls,
]
