"""OAM for federation: partner ECSs, authorization policies, the cache and the audit log.

Partners and policies are edited (with change history); the cache and the audit log are
read-only apart from two actions on cache entries (invalidate, refresh now).  An inbound
token is generated here and shown exactly once; only its hash is kept.  The outbound token and
the OAuth 2.0 client secret are entered as passwords and never shown again (the partner's page
says whether one is set, and a form shown again with errors asks for them again).  JSON
members are checked as in the inventory's forms (``provisioning.admin.OAMAdmin``), so a bad
PLMN is explained in words; a policy that would refuse everything is saved with a warning.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ecscore import editors
from ecscore.admin_filters import ExpiryFilter
from provisioning.admin import PLMN_LIST_EDITOR, OAMAdmin, check_plmn_list
from provisioning.models import COMMON_29571

from . import breaker, cache, retrieval
from .audit import OUTCOMES, PERIODS, SUCCESS
from .credentials import ENV_PREFIX
from .filters import RetrievalAuditFilterSet
from .filters import list_filter as filterset_filter
from .models import (
    AuthorizationPolicy,
    PartnerECS,
    PartnerSubscription,
    ProvisioningCacheEntry,
    RetrievalAudit,
)
from .nef import admin as nef_admin  # noqa: F401  (registers the NEF configuration)
from .policy import ANY


def _list_url(model: type, **params: Any) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(params)}"


def _pretty(value: Any) -> str:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
        json.dumps(value, indent=2, ensure_ascii=False),
    )


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

    #: Secrets are never sent back to the browser, so a form shown again with errors has
    #: them empty: what was typed must be typed again, and the form says so.
    SECRETS = ("outbound_token", "client_secret")

    def full_clean(self) -> None:
        super().full_clean()
        #: Secrets typed in a form that is shown again with errors: not saved, not shown.
        self.secrets_to_retype = [
            name
            for name in self.SECRETS
            if self.is_bound and self._errors and self.data.get(self.add_prefix(name))
        ]

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


def _ago(at: Any) -> str:
    """How long ago, in the largest whole unit: "42 s", "5 min", "3 h", "2 days"."""
    seconds = max(0, int((timezone.now() - at).total_seconds()))
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _credential_state(value: str) -> str:
    """Whether a secret is set, and where it comes from; never the secret itself."""
    if not value:
        return "not set"
    if value.startswith(ENV_PREFIX):
        return f"set: read from the environment variable {value.removeprefix(ENV_PREFIX)}"
    return "set (stored in the database)"


@admin.register(PartnerECS)
class PartnerECSAdmin(OAMAdmin):
    form = PartnerECSForm
    json_checks = {"plmns": check_plmn_list}
    json_editors = {
        "plmns": PLMN_LIST_EDITOR,
        "redirect_snssai": editors.editor_schema(COMMON_29571, "Snssai"),
    }
    json_help = {
        "plmns": "PLMNs the partner serves (MCC and MNC each).",
        "redirect_snssai": "S-NSSAI of that PDU session (redirect mode); empty = none given.",
    }
    readonly_fields = ("outbound_credential", "last_success", "related")
    status_fieldset = ("Status", {"fields": ("outbound_credential", "last_success", "related")})
    # What an engineer scans, within a 1400-px screen beside the navigation and filters:
    # the choices by their short names (the whole label in the title), the last success as
    # how long ago (the time in the title); the ECSP and the source (configured or
    # discovered) are filters, the API root on the page.
    list_display = (
        "partner_id",
        "consult_short",
        "roaming_short",
        "enabled",
        "has_inbound_token",
        "circuit",
        "last_success",
    )
    list_filter = ("enabled", "source", "consult", "roaming_mode", "ecsp")
    search_fields = ("partner_id", "ecsp", "api_root")
    search_help_text = "Search by partner ECS id, ECSP or API root."
    fieldsets = PARTNER_FIELDSETS

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # One index lookup per partner (the partial index audit_last_success), in the query
        # that lists them.
        last = (
            RetrievalAudit.objects.filter(SUCCESS, partner=OuterRef("pk"))
            .order_by("-at")
            .values("at")[:1]
        )
        return super().get_queryset(request).annotate(last_success_at=Subquery(last))

    @admin.display(description="consult", ordering="consult")
    def consult_short(self, obj: PartnerECS) -> str:
        return format_html(
            '<span title="{}">{}</span>', obj.get_consult_display(), obj.consult.replace("_", " ")
        )

    @admin.display(description="roaming", ordering="roaming_mode")
    def roaming_short(self, obj: PartnerECS) -> str:
        return format_html(
            '<span title="{}">{}</span>', obj.get_roaming_mode_display(), obj.roaming_mode
        )

    @admin.display(description="last success", ordering="last_success_at")
    def last_success(self, obj: PartnerECS) -> str:
        at = getattr(obj, "last_success_at", None)
        if at is None:
            return "never (no answered call in the audit log)"
        url = _list_url(RetrievalAudit, partner=obj.partner_id, outcome="success")
        when = timezone.localtime(at).strftime("%Y-%m-%d %H:%M:%S")
        return format_html('<a href="{}" title="{}">{} ago</a>', url, when, _ago(at))

    #: A partner discovered at the ECS-ER is discovery's to keep current: the operator
    #: may only switch it off (and discovery never switches it on again).
    discovered_fieldsets = (
        (None, {"fields": ("partner_id", "source", "ecsp", "api_root", "plmns", "enabled")}),
        ("Asking this partner", {"fields": ("consult", "timeout", "default_lifetime")}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.source == PartnerECS.SOURCE_DISCOVERED:
            return (self.status_fieldset, *self.discovered_fieldsets)
        fieldsets = super().get_fieldsets(request, obj)
        return fieldsets if obj is None else (self.status_fieldset, *fieldsets)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None and obj.source == PartnerECS.SOURCE_DISCOVERED:
            shown = flatten_fieldsets(self.discovered_fieldsets)
            return (*readonly, *(f for f in shown if f != "enabled"))
        return readonly

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        form = context.get("adminform") and context["adminform"].form
        for name in getattr(form, "secrets_to_retype", []):
            # Left empty, the field would keep the old value (or none): say so, loudly.
            self.message_user(
                request,
                f"The {str(form.fields[name].label).lower()} you typed was not saved, because "
                "of the errors below, and is not shown back: type it again.",
                messages.WARNING,
            )
        return super().render_change_form(request, context, *args, **kwargs)

    @admin.display(description="what we present to the partner")
    def outbound_credential(self, obj: PartnerECS) -> str:
        if obj.source == PartnerECS.SOURCE_DISCOVERED:
            return "federation access tokens from the ECS-ER (ecsEr), for this ECS id"
        if obj.uses_oauth:
            return (
                f"OAuth 2.0 access tokens from {obj.token_url} as {obj.client_id}; "
                f"client secret {_credential_state(obj.client_secret)}"
            )
        return f"outbound token {_credential_state(obj.outbound_token)}"

    @admin.display(description="see also")
    def related(self, obj: PartnerECS) -> str:
        links = [
            (_list_url(AuthorizationPolicy, partner__id__exact=obj.pk), "its policies"),
            (_list_url(RetrievalAudit, partner=obj.partner_id), "its audit rows"),
            (_list_url(ProvisioningCacheEntry, partner__id__exact=obj.pk), "its cached answers"),
        ]
        return format_html_join(mark_safe(" &nbsp; "), '<a href="{}">{}</a>', links)

    @admin.display(description="circuit")
    def circuit(self, obj: PartnerECS) -> str:
        return breaker.state(obj)

    @admin.display(boolean=True, description="inbound token")
    def has_inbound_token(self, obj: PartnerECS) -> bool:
        return bool(obj.inbound_token_hash)

    def save_model(self, request: HttpRequest, obj: PartnerECS, form: Any, change: bool) -> None:
        if obj.source == PartnerECS.SOURCE_DISCOVERED:
            super().save_model(request, obj, form, change)  # its "enabled" only
            return
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
class AuthorizationPolicyAdmin(OAMAdmin):
    list_display = (
        "__str__",
        "requester",
        "enabled",
        "valid_from",
        "valid_until",
        "eas_list",
        "lifetime",
        "rate_per_minute",
    )
    list_filter = ("enabled", "partner")
    search_fields = ("policy_id", "partner__partner_id", "partner_ecs_id")
    list_select_related = ("partner",)
    json_checks = {"serving_plmns": check_plmn_list}
    json_editors = {
        "serving_plmns": PLMN_LIST_EDITOR,
        "requester_ecsps": editors.strings("ECSP"),
        "eas_ids": editors.strings("EAS id", f"{ANY} (any)"),
        "ecsps": editors.strings("ECSP"),
        "dnns": editors.strings("DNN", "edge.example"),
    }
    json_help = {
        "eas_ids": f'EAS ids the partner may ask for; "{ANY}" = any (and requests without EAS '
        "ids). None: the partner is refused.",
    }

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # A new policy is written to let a partner ask: any EAS id unless narrowed, as the
        # other fields' "empty = any".  The model keeps [] (nothing) as its default, so a
        # policy from the configuration file or the API allows only what it says.
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("eas_ids", [ANY])
        return initial

    def save_model(
        self, request: HttpRequest, obj: AuthorizationPolicy, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        for warning in policy_warnings(obj):
            self.message_user(request, warning, messages.WARNING)

    @admin.display(description="partner or ECS id")
    def requester(self, obj: AuthorizationPolicy) -> str:
        if obj.partner_ecs_id == ANY:
            return f"{ANY} of ECSPs {', '.join(obj.requester_ecsps or [])}"
        return obj.requester_label

    @admin.display(description="EAS ids")
    def eas_list(self, obj: AuthorizationPolicy) -> str:
        return ", ".join(obj.eas_ids or [])


def policy_warnings(policy: AuthorizationPolicy) -> list[str]:
    """What makes a saved policy refuse requests its author may expect it to allow."""
    warnings = []
    if not policy.eas_ids:
        warnings.append(
            f"{policy} allows no EAS id: the partner is refused (403) on every request. "
            f'Give the EAS ids it may ask for, or ["{ANY}"] for any.'
        )
    if not policy.in_force():
        warnings.append(f"{policy} is not in force now (disabled, or outside its validity).")
    return warnings


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
        count = cache.invalidate(queryset)
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


class OutcomeFilter(admin.SimpleListFilter):
    """What an outbound row says about the partner, as the dashboard counts it."""

    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, label) for name, (label, _) in OUTCOMES.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        outcome = OUTCOMES.get(self.value() or "")
        return queryset if outcome is None else queryset.filter(outcome[1])


class PeriodFilter(admin.SimpleListFilter):
    """A span up to now (the dashboard's window); the date filter below has whole days."""

    title = "period"
    parameter_name = "period"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, label) for name, (label, _) in PERIODS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        period = PERIODS.get(self.value() or "")
        return queryset if period is None else queryset.filter(at__gte=timezone.now() - period[1])


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
        "reason",
        "request_id",
    )
    # Direction, decision and partner as the OAM API's audit/ and ecs_audit filter them.
    list_filter = (
        filterset_filter(RetrievalAuditFilterSet, "direction"),
        filterset_filter(RetrievalAuditFilterSet, "decision"),
        filterset_filter(RetrievalAuditFilterSet, "partner", lookups=_partner_ids),
        OutcomeFilter,
        "cache",
        "dry_run",  # an explanation's calls ("why this answer"), apart from traffic
        PeriodFilter,
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
        "failed",
        "dry_run",
        "pretty_query",
    )
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="query")
    def pretty_query(self, obj: RetrievalAudit) -> str:
        return _pretty(obj.query)


@admin.register(PartnerSubscription)
class PartnerSubscriptionAdmin(ReadOnlyAdmin):
    """Partners' subscriptions at us (EDGE-10): theirs to change; browsed and deleted here."""

    list_display = ("subscription_id", "partner", "notification_destination", "expires_at")
    list_filter = (ExpiryFilter, "partner")
    search_fields = ("subscription_id", "partner__partner_id")
    list_select_related = ("partner",)
    fields = (
        "subscription_id",
        "partner",
        "notification_destination",
        "expires_at",
        "digest",
        "created",
        "updated",
        "pretty_body",
    )
    readonly_fields = fields

    @admin.display(description="subscription (ServProvSubsc)")
    def pretty_body(self, obj: PartnerSubscription) -> str:
        return _pretty(obj.body)
