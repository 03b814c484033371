"""The portal's admin site: Django's, with the dashboard on its index and the models grouped
by the task an OAM engineer comes for, not by the app that happens to define them.

The index and the navigation list four sections, in this order: Provisioning (what this ECS
serves), Partners (federation), Audit (what happened: the retrieval audit log, the outbox of
notifications) and Access (who may call and who may administer). A model no section names
keeps its app's group, after them. The OAuth toolkit's models (tokens, grants, applications
behind the API clients) are internals: only superusers see or reach them; everyone else
manages access through "API clients".
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from . import dashboard, servicemap

#: (label, name, models as "app_label.ModelName"), in the order the index lists them.
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "provisioning",
        "Provisioning",
        (
            "provisioning.ECSConfiguration",
            "provisioning.EDN",
            "provisioning.EES",
            "provisioning.EECSubscription",
            "provisioning.AreaCoordinates",
        ),
    ),
    (
        "partners",
        "Partners",
        (
            "partners.PartnerECS",
            "partners.AuthorizationPolicy",
            "partners.ProvisioningCacheEntry",
            "partners.PartnerSubscription",
            "partners.NEFConfiguration",
            "federation.ECSRegistration",
            "federation.DiscoverySubscription",
            "federation.MemberRegistration",
        ),
    ),
    ("audit", "Audit", ("partners.RetrievalAudit", "notifications.Notification")),
    ("access", "Access", ("access.APIClient", "oam.OAMToken", "auth.User", "auth.Group")),
)
#: Apps whose models only superusers see and open.
SUPERUSER_ONLY_APPS = ("oauth2_provider",)


class SuperuserOnly:
    """Mixed into a ModelAdmin: nobody but a superuser may view, add, change or delete."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    has_add_permission = has_module_permission

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    has_delete_permission = has_change_permission


class PortalAdminSite(admin.AdminSite):
    site_header = "ECS Portal administration"
    site_title = "ECS Portal"
    index_title = "Edge Configuration Server"
    index_template = "admin/portal_index.html"

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        models = (
            model_or_iterable
            if isinstance(model_or_iterable, list | tuple)
            else [model_or_iterable]
        )
        if any(m._meta.app_label in SUPERUSER_ONLY_APPS for m in models):
            base = admin_class or admin.ModelAdmin
            admin_class = type(f"SuperuserOnly{base.__name__}", (SuperuserOnly, base), {})
        super().register(model_or_iterable, admin_class, **options)

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        context = {
            "dashboard": dashboard.build(request, self),
            "service_map_url": servicemap.url_for(request, self),
            **(extra_context or {}),
        }
        response: TemplateResponse = super().index(request, context)
        return response

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "sections/<slug:label>/", self.admin_view(self.section_index), name="section_index"
            ),
            # The map of service areas, its page and its data (ecsportal.servicemap).
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
        if app_label is not None:  # an app's own page lists that app, as Django does
            return super().get_app_list(request, app_label)
        return self.sections(request)

    def sections(self, request: HttpRequest) -> list[dict[str, Any]]:
        """The index's groups: SECTIONS with the models this user may see, then the rest of
        the apps as Django groups them."""
        apps = super().get_app_list(request)
        by_name = {
            f"{app['app_label']}.{entry['object_name']}": (app, entry)
            for app in apps
            for entry in app["models"]
        }
        placed: set[str] = set()
        result = []
        for label, name, model_names in SECTIONS:
            entries = [by_name[m][1] for m in model_names if m in by_name]
            placed.update(m for m in model_names if m in by_name)
            if entries:
                result.append(
                    {
                        "name": name,
                        "app_label": label,
                        "app_url": reverse(f"{self.name}:section_index", args=[label]),
                        "has_module_perms": True,
                        "models": entries,
                    }
                )
        for app in apps:
            rest = [
                entry
                for entry in app["models"]
                if f"{app['app_label']}.{entry['object_name']}" not in placed
            ]
            if rest:
                result.append({**app, "models": rest})
        return result

    def section_index(self, request: HttpRequest, label: str) -> TemplateResponse:
        found = [section for section in self.sections(request) if section["app_label"] == label]
        if not found:
            raise Http404("The requested admin page does not exist.")
        context = {
            **self.each_context(request),
            "title": found[0]["name"],
            "subtitle": None,
            "app_list": found,
            "app_label": label,
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/app_index.html", context)
