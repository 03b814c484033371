"""The portal's admin site: Django's, with the dashboard on its index and the apps an OAM
engineer works in listed before the OAuth toolkit's internals."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path

from . import dashboard, servicemap

#: Apps listed after the others, in this order: plumbing an operator rarely opens.
LISTED_LAST = ("auth", "oauth2_provider")


class PortalAdminSite(admin.AdminSite):
    site_header = "ECS Portal administration"
    site_title = "ECS Portal"
    index_title = "Edge Configuration Server"
    index_template = "admin/portal_index.html"

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        context = {
            "dashboard": dashboard.build(request, self),
            "service_map_url": servicemap.url_for(request, self),
            **(extra_context or {}),
        }
        response: TemplateResponse = super().index(request, context)
        return response

    def get_urls(self) -> list:
        # The map of service areas, its page and its data (ecsportal.servicemap).
        return [
            path(
                "service-map/",
                self.admin_view(lambda request: servicemap.map_page(request, self)),
                name="service-map",
            ),
            path(
                "service-map/data.json",
                self.admin_view(lambda request: servicemap.map_data(request, self)),
                name="service-map-data",
            ),
            *super().get_urls(),
        ]

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        apps = super().get_app_list(request, app_label)
        # Stable: the rest stay alphabetical, as Django lists them.
        return sorted(
            apps,
            key=lambda app: (
                LISTED_LAST.index(app["app_label"]) + 1 if app["app_label"] in LISTED_LAST else 0
            ),
        )
