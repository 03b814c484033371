"""EDGE-6 T-EES discovery routes, mounted at {apiRoot}/eecs-targeteesdiscovery/v1/."""

from django.urls import path

from . import API
from .views import TargetEESDiscoveryView

app_name = API.name

urlpatterns = [
    path("ees-profiles", TargetEESDiscoveryView.as_view(), name="ees-profiles"),
]
