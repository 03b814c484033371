"""The Django project as an app: its system checks, and the admin site it runs."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ECSPortalConfig(AppConfig):
    name = "ecsportal"
    verbose_name = "ECS Portal"
    default = True  # the app "ecsportal" is this one, not the admin's config below

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)


class PortalAdminConfig(admin_apps.AdminConfig):
    """``django.contrib.admin`` with the portal's site (``ecsportal.adminsite``)."""

    default = False

    default_site = "ecsportal.adminsite.PortalAdminSite"
