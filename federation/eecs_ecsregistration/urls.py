"""ECS registration routes, mounted at {apiRoot}/eecs-ecsregistration/v1/."""

from django.urls import path

from . import API
from .views import RegistrationCollectionView, RegistrationItemView

app_name = API.name

urlpatterns = [
    path("registrations", RegistrationCollectionView.as_view(), name="registrations"),
    path(
        "registrations/<str:registration_id>", RegistrationItemView.as_view(), name="registration"
    ),
]
