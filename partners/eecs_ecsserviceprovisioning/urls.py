"""EDGE-10 routes, mounted at {apiRoot}/eecs-ecsserviceprovisioning/v1/."""

from django.urls import path

from . import API
from .views import (
    PartnerNotificationsView,
    PartnerProvisioningRequestView,
    PartnerSubscriptionsView,
    PartnerSubscriptionView,
)

app_name = API.name

urlpatterns = [
    path("request", PartnerProvisioningRequestView.as_view(), name="request"),
    path("subscriptions", PartnerSubscriptionsView.as_view(), name="subscriptions"),
    path(
        "subscriptions/<str:subscription_id>",
        PartnerSubscriptionView.as_view(),
        name="subscription",
    ),
    path("notifications", PartnerNotificationsView.as_view(), name="notifications"),
]
