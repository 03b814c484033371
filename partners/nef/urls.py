"""The NEF's notification endpoint: ``/nef-notifications/v1/{token}``."""

from django.urls import path

from . import views

urlpatterns = [
    path("<str:token>", views.NotificationView.as_view(), name="nef-notification"),
]
