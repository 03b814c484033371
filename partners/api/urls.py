"""EDGE-10 routes, mounted at {apiRoot}/eecs-ecsserviceprovisioning/v1/."""

from django.urls import path

from .views import PartnerProvisioningRequestView

app_name = "eecs-ecsserviceprovisioning"

urlpatterns = [
    path("request", PartnerProvisioningRequestView.as_view(), name="request"),
]
