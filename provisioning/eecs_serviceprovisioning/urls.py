"""EDGE-4 routes, mounted at {apiRoot}/eecs-serviceprovisioning/v1/."""

from django.urls import path

from . import API
from .views import (
    ServiceProvisioningRequestView,
    ServiceProvisioningSubscriptionsView,
    ServiceProvisioningSubscriptionView,
)

app_name = API.name

urlpatterns = [
    path("request", ServiceProvisioningRequestView.as_view(), name="request"),
    path("subscriptions", ServiceProvisioningSubscriptionsView.as_view(), name="subscriptions"),
    path(
        "subscriptions/<str:subscription_id>",
        ServiceProvisioningSubscriptionView.as_view(),
        name="subscription",
    ),
]
