"""ECS discovery routes, mounted at {apiRoot}/eecs-ecsdiscovery/v1/."""

from django.urls import path

from . import API
from .views import EcsInfoRequestView, SubscriptionCollectionView, SubscriptionItemView

app_name = API.name

urlpatterns = [
    path("ecs-info/request", EcsInfoRequestView.as_view(), name="request"),
    path("subscriptions", SubscriptionCollectionView.as_view(), name="subscriptions"),
    path(
        "subscriptions/<str:subscription_id>", SubscriptionItemView.as_view(), name="subscription"
    ),
]
