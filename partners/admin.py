"""OAM for federation: partner ECSs, authorization policies, the cache and the audit log.

Partners and policies are edited (with change history); the cache and the audit log are
read-only apart from two actions on cache entries (invalidate, refresh now).  An inbound
token is generated here and shown exactly once; only its hash is kept.  The outbound token and
the OAuth 2.0 client secret are entered as passwords and never shown again.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import JSONField, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from . import breaker, retrieval
from .filters import RetrievalAuditFilterSet
from .filters import list_filter as filterset_filter
from .models import AuthorizationPolicy, PartnerECS, ProvisioningCacheEntry, RetrievalAudit


def _pretty(value: Any) -> str:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
        json.dumps(value, indent=2, ensure_ascii=False),
    )


class JSONTextarea(forms.Textarea):
    def __init__(self) -> None:
        super().__init__(attrs={"rows": 4, "cols": 80, "class": "vLargeTextField"})

    def format_value(self, value: Any) -> str:
        if value in (None, ""):
            return ""
        try:
            return json.dumps(json.loads(value), indent=2)
        except (TypeError, ValueError):
            return value


# The admin's one list of a partner's fields (the form takes its fields from it).
PARTNER_FIELDSETS = (
    (None, {"fields": ("partner_id", "ecsp", "api_root", "plmns", "enabled")}),
    (
        "Asking this partner",
        {
            "fields": (
                "consult",
                "outbound_token",
                "timeout",
                "default_lifetime",
                "max_lifetime",
                "share_ue_id",
                "subscribe",
            )
        },
    ),
    (
        "OAuth 2.0 at this partner (instead of the outbound token)",
        {"fields": ("token_url", "client_id", "client_secret", "scope")},
    ),
    (
        "Roaming UEs in the partner's PLMNs",
        {"fields": ("roaming_mode", "redirect_dnn", "redirect_snssai")},
    ),
    ("Circuit breaker", {"fields": ("breaker_threshold", "breaker_cooldown")}),
    ("This partner asking us", {"fields": ("generate_inbound_token",)}),
)
# Fields of the form alone: the model has no column for them.
FORM_ONLY = ("generate_inbound_token",)


def _secret_input() -> forms.PasswordInput:
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


class PartnerECSForm(forms.ModelForm):
    """The partner's fields as the model defines them (the admin lists them in fieldsets);
    secrets are typed as passwords, never shown, and kept when left empty."""

    generate_inbound_token = forms.BooleanField(
        required=False,
        label="Generate a new inbound token",
        help_text="The token the partner presents to us. A new partner always gets one; it is "
        "shown once after saving, and the old one stops working.",
    )

    class Meta:
        model = PartnerECS
        fields = [f for f in flatten_fieldsets(PARTNER_FIELDSETS) if f not in FORM_ONLY]
        widgets = {"outbound_token": _secret_input(), "client_secret": _secret_input()}
        help_texts = {
            "outbound_token": "Credential we present to the partner: a token, or env:NAME to "
            "read it from the environment. Leave empty to keep the current one.",
            "client_secret": "Our client secret at the partner's token endpoint: a secret, or "
            "env:NAME to read it from the environment. Leave empty to keep the current one.",
        }

    def clean_outbound_token(self) -> str:
        value = self.cleaned_data.get("outbound_token", "")
        if not value and self.instance.pk:
            return self.instance.outbound_token
        return value

    def clean_client_secret(self) -> str:
        value = self.cleaned_data.get("client_secret", "")
        if not value and self.instance.pk:
            return self.instance.client_secret
        return value


@admin.register(PartnerECS)
class PartnerECSAdmin(SimpleHistoryAdmin):
    form = PartnerECSForm
    list_display = (
        "partner_id",
        "ecsp",
        "api_root",
        "consult",
        "roaming_mode",
        "enabled",
        "has_inbound_token",
        "circuit",
    )
    list_filter = ("enabled", "consult", "roaming_mode", "ecsp")
    search_fields = ("partner_id", "ecsp", "api_root")
    formfield_overrides = {JSONField: {"widget": JSONTextarea}}
    fieldsets = PARTNER_FIELDSETS

    @admin.display(description="circuit")
    def circuit(self, obj: PartnerECS) -> str:
        return breaker.state(obj)

    @admin.display(boolean=True, description="inbound token")
    def has_inbound_token(self, obj: PartnerECS) -> bool:
        return bool(obj.inbound_token_hash)

    def save_model(self, request: HttpRequest, obj: PartnerECS, form: Any, change: bool) -> None:
        if not change or form.cleaned_data.get("generate_inbound_token"):
            request._new_inbound_token = obj.rotate_inbound_token()
        super().save_model(request, obj, form, change)

    def _token_page(self, request: HttpRequest, obj: PartnerECS, default: HttpResponse):
        token = getattr(request, "_new_inbound_token", None)
        if token is None:
            return default
        return TemplateResponse(
            request,
            "admin/partners/token_once.html",
            {
                **self.admin_site.each_context(request),
                "partner": obj,
                "token": token,
                "continue_url": default.get("Location")
                or reverse("admin:partners_partnerecs_changelist"),
                "title": f"Inbound token for {obj}",
            },
            headers={"Cache-Control": "no-store"},
        )

    def response_add(self, request: HttpRequest, obj: PartnerECS, *args: Any) -> HttpResponse:
        return self._token_page(request, obj, super().response_add(request, obj, *args))

    def response_change(self, request: HttpRequest, obj: PartnerECS) -> HttpResponse:
        return self._token_page(request, obj, super().response_change(request, obj))


@admin.register(AuthorizationPolicy)
class AuthorizationPolicyAdmin(SimpleHistoryAdmin):
    list_display = (
        "__str__",
        "partner",
        "enabled",
        "valid_from",
        "valid_until",
        "eas_list",
        "lifetime",
        "rate_per_minute",
    )
    list_filter = ("enabled", "partner")
    search_fields = ("policy_id", "partner__partner_id")
    list_select_related = ("partner",)
    formfield_overrides = {JSONField: {"widget": JSONTextarea}}

    @admin.display(description="EAS ids")
    def eas_list(self, obj: AuthorizationPolicy) -> str:
        return ", ".join(obj.eas_ids or [])


class FreshnessFilter(admin.SimpleListFilter):
    title = "freshness"
    parameter_name = "fresh"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "fresh"), ("no", "expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(expires_at__gt=now)
        if self.value() == "no":
            return queryset.filter(expires_at__lte=now)
        return queryset


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browsable, never edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ProvisioningCacheEntry)
class ProvisioningCacheEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "short_key",
        "partner",
        "is_fresh",
        "expires_in",
        "hits",
        "fetched_at",
        "edn_count",
    )
    list_filter = (FreshnessFilter, "partner")
    search_fields = ("key", "partner__partner_id")
    list_select_related = ("partner",)
    actions = ["invalidate", "refresh_now"]
    fields = (
        "partner",
        "key",
        "is_fresh",
        "expires_at",
        "expires_in",
        "fetched_at",
        "hits",
        "last_hit_at",
        "pretty_query",
        "pretty_request",
        "pretty_answer",
    )
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("partners.delete_provisioningcacheentry")

    def _may_act(self, request: HttpRequest) -> bool:
        return request.user.has_perm("partners.change_provisioningcacheentry")

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        if not self._may_act(request):
            actions.pop("invalidate", None)
            actions.pop("refresh_now", None)
        return actions

    @admin.display(description="key")
    def short_key(self, obj: ProvisioningCacheEntry) -> str:
        return obj.key[:16] + "…"

    @admin.display(boolean=True, description="fresh")
    def is_fresh(self, obj: ProvisioningCacheEntry) -> bool:
        return obj.fresh

    @admin.display(description="expires in")
    def expires_in(self, obj: ProvisioningCacheEntry) -> str:
        seconds = int((obj.expires_at - timezone.now()).total_seconds())
        if seconds <= 0:
            return "expired"
        minutes, secs = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"

    @admin.display(description="EDNs")
    def edn_count(self, obj: ProvisioningCacheEntry) -> int:
        return len(obj.answer or [])

    @admin.display(description="canonical query")
    def pretty_query(self, obj: ProvisioningCacheEntry) -> str:
        return _pretty(obj.query)

    @admin.display(description="request sent")
    def pretty_request(self, obj: ProvisioningCacheEntry) -> str:
        return _pretty(obj.request)

    @admin.display(description="answer (EDNConfigInfo)")
    def pretty_answer(self, obj: ProvisioningCacheEntry) -> str:
        return _pretty(obj.answer)

    @admin.action(description="Invalidate (expire now)")
    def invalidate(self, request: HttpRequest, queryset: QuerySet) -> None:
        if not self._may_act(request):
            return
        count = queryset.update(expires_at=timezone.now())
        self.message_user(request, f"Invalidated {count} cached answer(s).", messages.SUCCESS)

    @admin.action(description="Refresh now (ask the partner again)")
    def refresh_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        if not self._may_act(request):
            return
        for entry in queryset.select_related("partner"):
            ok, message = retrieval.refresh(entry)
            level = messages.SUCCESS if ok else messages.ERROR
            self.message_user(request, f"{entry.partner}: {message}", level)


def _partner_ids() -> list[tuple[str, str]]:
    # The partners there are now: listing the labels of a million audit rows would scan them.
    ids = PartnerECS.objects.order_by("partner_id").values_list("partner_id", flat=True)
    return [(partner_id, partner_id) for partner_id in ids]


@admin.register(RetrievalAudit)
class RetrievalAuditAdmin(ReadOnlyAdmin):
    list_display = (
        "at",
        "direction",
        "partner_label",
        "decision",
        "status",
        "edn_count",
        "cache",
        "latency_ms",
        "request_id",
    )
    # Direction, decision and partner as the OAM API's audit/ and ecs_audit filter them.
    list_filter = (
        filterset_filter(RetrievalAuditFilterSet, "direction"),
        filterset_filter(RetrievalAuditFilterSet, "decision"),
        filterset_filter(RetrievalAuditFilterSet, "partner", lookups=_partner_ids),
        "cache",
        ("at", admin.DateFieldListFilter),
    )
    search_fields = ("request_id", "partner_label", "reason")
    date_hierarchy = "at"
    fields = (
        "at",
        "direction",
        "partner",
        "partner_label",
        "request_id",
        "decision",
        "reason",
        "status",
        "edn_count",
        "cache",
        "latency_ms",
        "pretty_query",
    )
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="query")
    def pretty_query(self, obj: RetrievalAudit) -> str:
        return _pretty(obj.query)
