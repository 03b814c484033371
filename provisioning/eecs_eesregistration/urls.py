"""EDGE-6 EES registration routes, mounted at {apiRoot}/eecs-eesregistration/v1/."""

from django.urls import path

from . import API
from .views import EESRegistrationCollectionView, EESRegistrationView

app_name = API.name

urlpatterns = [
    path("registrations", EESRegistrationCollectionView.as_view(), name="registrations"),
    path(
        "registrations/<str:registration_id>",
        EESRegistrationView.as_view(),
        name="registration",
    ),
]
