"""EDGE-4 routes, mounted at {apiRoot}/eecs-serviceprovisioning/v1/."""

from django.urls import path

from .views import ServiceProvisioningRequestView

app_name = "eecs-serviceprovisioning"

urlpatterns = [
    path("request", ServiceProvisioningRequestView.as_view(), name="request"),
]
