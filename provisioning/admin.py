"""OAM for the ECS's identity, EDNs and EES profiles.

JSON members (service areas, endpoints, ...) are edited in their 3GPP shape and checked
against 3GPP's schemas on save; every change lands in the change log (History button).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, JSONField, QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from .models import EDN, EES, ECSConfiguration


class PrettyJSONWidget(forms.Textarea):
    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"rows": 8, "cols": 90, "class": "vLargeTextField", **(attrs or {})})

    def format_value(self, value: Any) -> str:
        if value in (None, ""):
            return ""
        try:
            return json.dumps(json.loads(value), indent=2)
        except (TypeError, ValueError):
            return value


JSON_OVERRIDES = {JSONField: {"widget": PrettyJSONWidget}}


@admin.register(ECSConfiguration)
class ECSConfigurationAdmin(SimpleHistoryAdmin):
    list_display = ("ecs_id", "ecsp", "provisioning_lifetime", "updated")
    formfield_overrides = JSON_OVERRIDES

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not ECSConfiguration.objects.exists()


class EESInline(admin.TabularInline):
    model = EES
    fields = ("ees_id", "ecsp_info", "eec_reg_conf")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False
    max_num = 0
    verbose_name_plural = "EESs (edit each on its own page)"


@admin.register(EDN)
class EDNAdmin(SimpleHistoryAdmin):
    list_display = ("__str__", "dnn", "snssai_label", "ees_count", "has_area", "updated")
    list_filter = ("dnn", "snssai_sst", "has_area")
    search_fields = ("edn_id", "dnn")
    readonly_fields = ("has_area", "serves_home", "created", "updated")
    formfield_overrides = JSON_OVERRIDES
    inlines = [EESInline]
    fieldsets = (
        (None, {"fields": ("edn_id", "dnn", ("snssai_sst", "snssai_sd"))}),
        ("Service area and PLMNs", {"fields": ("edn_topo_srv_area", "plmns")}),
        ("Derived", {"fields": ("has_area", "serves_home", "created", "updated")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(ees_total=Count("eess"))

    @admin.display(description="S-NSSAI")
    def snssai_label(self, obj: EDN) -> str:
        return obj.snssai_label

    @admin.display(description="EESs", ordering="ees_total")
    def ees_count(self, obj: EDN) -> int:
        return obj.ees_total


@admin.register(EES)
class EESAdmin(SimpleHistoryAdmin):
    list_display = ("ees_id", "edn", "ecsp_info", "eas_list", "eec_reg_conf", "has_area", "updated")
    list_filter = ("ecsp_info", "eec_reg_conf", "has_area", "edn")
    search_fields = ("ees_id", "ecsp_info", "applications__eas_id")
    list_select_related = ("edn",)
    autocomplete_fields = ("edn",)
    readonly_fields = ("has_area", "created", "updated")
    formfield_overrides = JSON_OVERRIDES
    fieldsets = (
        (None, {"fields": ("ees_id", "edn", "end_pt", "ecsp_info", "eec_reg_conf")}),
        (
            "Applications",
            {"fields": ("eas_ids", "app_group_ids", "eas_inst_infos", "eas_bundle_infos")},
        ),
        ("Service area", {"fields": ("svc_area", "dnais")}),
        ("Continuity and security", {"fields": ("ees_svc_cont_supp", "ees_auth_methods")}),
        ("Derived", {"fields": ("has_area", "created", "updated")}),
    )

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        results, _ = super().get_search_results(request, queryset, search_term)
        return results.distinct(), False

    @admin.display(description="EAS ids")
    def eas_list(self, obj: EES) -> str:
        return ", ".join(obj.eas_ids or [])
