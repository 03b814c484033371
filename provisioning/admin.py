"""OAM for the ECS's identity, EDNs and EES profiles.

JSON members (service areas, endpoints, PLMNs, ...) are edited in forms drawn from their 3GPP
schemas (``ecscore.editors``, named per field in ``json_editors``); a JSON field without one
is edited as indented text. The forms check the values against 3GPP's schemas before the
model does, and say what is wrong in words an OAM engineer can act on: where in the value
(``nwAreaInfo.tais[0].tac``), the value, and what 3GPP expects there. Text that is not JSON
is a form error, never a 500. The rules themselves are the models' (field validators,
``clean``), which the configuration file applies as well; the forms add explanations, and
one rule of the editors' own (a typo of an open enumeration's value is refused). Every change
lands in the change log; the History button shows who changed which field.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

from ecscore import editors, schemas
from ecscore.admin_filters import ExpiryFilter

from . import admin_explain
from .datamodel import FIELD_TO_MEMBER
from .models import (
    COMMON_29122,
    COMMON_29571,
    EDGE4,
    EDN,
    EES,
    AreaCoordinates,
    ECSConfiguration,
    EECSubscription,
    area_member_errors,
    endpoint_address_errors,
    endpoint_shape_errors,
)

Check = Callable[[Any], list[str]]

# --- JSON typed as text -------------------------------------------------------------------


class PrettyJSONWidget(forms.Textarea):
    """A textarea that shows JSON indented, and invalid text exactly as it was typed.

    Nothing (``null``, ``[]``, ``{}``) shows as an empty box with an example as placeholder;
    the box grows with its content, so a whole service area is readable without scrolling.
    """

    MIN_ROWS, MAX_ROWS = 3, 30

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"cols": 90, "class": "vLargeTextField", **(attrs or {})})

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        lines = (context["widget"]["value"] or "").count("\n") + 2
        context["widget"]["attrs"]["rows"] = min(max(lines, self.MIN_ROWS), self.MAX_ROWS)
        return context

    def format_value(self, value: Any) -> str:
        if value in (None, ""):
            return ""
        try:
            parsed = json.loads(value)
        except (TypeError, ValueError):
            return value
        if parsed in (None, [], {}):
            return ""  # an empty box, so that the placeholder shows an example
        return json.dumps(parsed, indent=2, ensure_ascii=False)


class JSONTextField(forms.JSONField):
    """A JSON form field whose empty box means the model field's empty value.

    A list field left empty (or set to ``null``) saves ``[]`` instead of failing on the
    database's NOT NULL; an empty box or ``{}`` in an optional object (endpoint, service area)
    saves "none". Text that is not JSON says where the parser stopped.
    """

    def __init__(self, *, blank_value: Any = None, **kwargs: Any) -> None:
        self.blank_value = blank_value
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        if self.disabled:
            return value
        if isinstance(value, str) and not value.strip():
            return copy.deepcopy(self.blank_value)
        try:
            converted = super().to_python(value)
        except ValidationError as error:
            if error.code != "invalid" or not isinstance(value, str):
                raise
            try:
                json.loads(value)
            except json.JSONDecodeError as decode_error:
                raise ValidationError(
                    "Not valid JSON: %(reason)s at line %(line)d, column %(column)d.",
                    code="invalid",
                    params={
                        "reason": decode_error.msg,
                        "line": decode_error.lineno,
                        "column": decode_error.colno,
                    },
                ) from error
            raise
        if converted is None or (converted == {} and self.blank_value is None):
            return copy.deepcopy(self.blank_value)
        return converted


# --- 3GPP checks with messages that say what to fix ---------------------------------------

#: What 3GPP expects in a member whose value broke a pattern (TS 29.571 common data types).
HINTS = {
    "mcc": "an MCC is 3 digits",
    "mnc": "an MNC is 2 or 3 digits",
    "tac": 'a TAC is 4 or 6 hexadecimal digits, e.g. "00A1"',
    "nrCellId": 'an NR cell id is 9 hexadecimal digits (36 bits), e.g. "00000A1B2"',
    "eutraCellId": 'an E-UTRA cell id is 7 hexadecimal digits (28 bits), e.g. "000A1B2"',
    "nid": "a NID is 11 hexadecimal digits",
    "sd": 'an SD is 6 hexadecimal digits, e.g. "0000A1"',
    "fqdn": 'an FQDN is dot-separated labels ending in a top-level domain, e.g. "ees.example.org"',
}
JSON_TYPES = {
    "array": "a JSON list [...]",
    "object": "a JSON object {...}",
    "string": "a string in quotes",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
}
PLMN_EXAMPLE = '[{"mcc": "001", "mnc": "01"}]'
#: The editors' forms (ecscore.editors), drawn from the schemas the APIs validate with.
PLMN_LIST_EDITOR = editors.list_of(editors.editor_schema(COMMON_29571, "PlmnId"))
AREA_EDITOR = editors.editor_schema(COMMON_29122, "LocationArea5G")
AREA_EXAMPLE = '{"nwAreaInfo": {"tais": [{"plmnId": {"mcc": "001", "mnc": "01"}, "tac": "00A1"}]}}'


def _parts(pointer: str) -> list[str]:
    if pointer in ("", "/"):
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]


def _where(parts: Iterable[Any]) -> str:
    where = ""
    for part in parts:
        if isinstance(part, int) or str(part).isdigit():
            where += f"[{part}]"
        else:
            where += f".{part}" if where else str(part)
    return where


def _value_at(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def explain(value: Any, params: list[dict[str, str]], prefix: Iterable[Any] = ()) -> list[str]:
    """3GPP InvalidParams about ``value`` as sentences naming the place and the rule."""
    messages = []
    for param in params:
        parts = _parts(param["param"])
        where = _where([*prefix, *parts]) or "The value"
        reason = param["reason"]
        hint = HINTS.get(parts[-1]) if parts else None
        found = _value_at(value, parts)
        if reason == "is required":
            messages.append(f"{where} is missing.")
        elif hint and reason.startswith("must be of type"):
            messages.append(f"{where} must be a string in quotes: {hint}.")
        elif hint:
            messages.append(f"{where} {json.dumps(found)} is not valid: {hint}.")
        elif reason.startswith("must be of type"):
            wanted = reason.removeprefix("must be of type ")
            messages.append(f"{where} must be {JSON_TYPES.get(wanted, wanted)}.")
        else:
            messages.append(f"{where}: {reason}.")
    return messages


def schema_messages(value: Any, file_name: str, schema_name: str) -> list[str]:
    params = schemas.invalid_params(schemas.validator(file_name, schema_name), value)
    return explain(value, params)


def check_plmn_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        return [f"Must be a list of PLMNs, e.g. {PLMN_EXAMPLE}."]
    messages = []
    for index, plmn in enumerate(value):
        params = schemas.invalid_params(schemas.validator(COMMON_29571, "PlmnId"), plmn)
        messages += explain(plmn, params, prefix=[index])
    return messages


def check_area(value: Any) -> list[str]:
    """A 3GPP LocationArea5G (ednTopoSrvArea, svcArea): the model's rules, explained."""
    if not isinstance(value, dict):
        return [f"A service area is a JSON object (3GPP LocationArea5G), e.g. {AREA_EXAMPLE}."]
    return area_member_errors(value) + schema_messages(value, COMMON_29122, "LocationArea5G")


def check_ees_member(field: str) -> Check:
    """The check of one EES field: its member of 3GPP EESInfo, as the model validates it."""
    member = FIELD_TO_MEMBER[field]

    def check(value: Any) -> list[str]:
        info = {"eesId": "-", "eecRegConf": False, member: value}
        params = schemas.invalid_params(schemas.validator(EDGE4, "EESInfo"), info)
        own = [
            {"param": p["param"][len(member) + 1 :] or "/", "reason": p["reason"]}
            for p in params
            if _parts(p["param"])[:1] == [member]
        ]
        return explain(value, own)

    return check


def check_endpoint(value: Any) -> list[str]:
    """A 3GPP EndPoint: the model's rules (exactly one of uri, fqdn, ipv4Addrs, ipv6Addrs,
    each well formed), with 3GPP's schema explained in between."""
    return (
        endpoint_shape_errors(value)
        or check_ees_member("end_pt")(value)
        or endpoint_address_errors(value)
    )


def as_validator(check: Check) -> Callable[[Any], None]:
    def validate(value: Any) -> None:
        messages = check(value)
        if messages:
            raise ValidationError(messages, code="3gpp")

    return validate


# --- Admin classes ------------------------------------------------------------------------


class JSONHistoryHelper(HistoricalRecordContextHelper):
    """Shows JSON members in the History "Changes" column as JSON, not as Python reprs."""

    def prepare_delta_change_value(self, change: Any, value: Any) -> Any:
        field = self.model._meta.get_field(change.field)
        if isinstance(field, models.JSONField):
            return json.dumps(value, ensure_ascii=False)
        return super().prepare_delta_change_value(change, value)


#: Length of django-simple-history's change reason column.
CHANGE_REASON_MAX = 100


class OAMAdmin(SimpleHistoryAdmin):
    """JSON fields as pretty text with 3GPP checks; a change log that says what changed."""

    #: field name -> check returning messages (empty when the value is fine).
    json_checks: dict[str, Check] = {}
    #: field name -> placeholder example shown in an empty JSON box.
    json_examples: dict[str, str] = {}
    #: field name -> the form its editor draws (``ecscore.editors``); a JSON field without
    #: one is edited as text.
    json_editors: dict[str, dict[str, Any]] = {}
    #: field name -> help text in the editor's words, where the model's speaks JSON (the
    #: configuration file's and the API's readers need that).
    json_help: dict[str, str] = {}
    #: fields left out of the History "Changes" column (timestamps every save moves).
    history_unlisted = ("updated",)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if isinstance(db_field, models.JSONField):
            kwargs["blank_value"] = None if db_field.null else db_field.get_default()
            if db_field.name in self.json_editors:
                # The field's label and help text say what the editor's own title would.
                schema = {
                    key: value
                    for key, value in self.json_editors[db_field.name].items()
                    if key not in ("title", "help_text")
                }
                kwargs["form_class"] = editors.EditorField
                kwargs["schema"] = schema
                if db_field.name in self.json_help:
                    kwargs["help_text"] = self.json_help[db_field.name]
            else:
                attrs = {}
                if db_field.name in self.json_examples:
                    attrs["placeholder"] = self.json_examples[db_field.name]
                kwargs["form_class"] = JSONTextField
                kwargs["widget"] = PrettyJSONWidget(attrs=attrs)
            check = self.json_checks.get(db_field.name)
            if check is not None:
                kwargs["validators"] = [as_validator(check)]
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # The change log's "Change reason": which write path, and which fields it touched.
        reason = "Admin: added"
        if change:
            labels = [str(form.fields[name].label) for name in form.changed_data]
            reason = "Admin: changed " + (", ".join(labels) or "nothing")
            if len(reason) > CHANGE_REASON_MAX:
                reason = f"Admin: changed {len(labels)} fields"
        obj._change_reason = reason
        super().save_model(request, obj, form, change)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:  # nothing is derived before the first save
            fieldsets = [f for f in fieldsets if f[0] != "Derived"]
        return fieldsets

    def get_historical_record_context_helper(self, request: HttpRequest, historical_record: Any):
        return JSONHistoryHelper(self.model, historical_record)

    def set_history_delta_changes(
        self, request: HttpRequest, historical_records: Any, foreign_keys_are_objs: bool = True
    ) -> None:
        records = list(historical_records)
        for newer, older in itertools.pairwise(records):
            delta = newer.diff_against(
                older,
                excluded_fields=self.history_unlisted,
                foreign_keys_are_objs=foreign_keys_are_objs,
            )
            helper = self.get_historical_record_context_helper(request, newer)
            newer.history_delta_changes = helper.context_for_delta_changes(delta)


@admin.register(ECSConfiguration)
class ECSConfigurationAdmin(OAMAdmin):
    list_display = ("ecs_id", "ecsp", "home_plmn_list", "provisioning_lifetime", "updated")
    json_checks = {"home_plmns": check_plmn_list}
    json_editors = {"home_plmns": PLMN_LIST_EDITOR}
    json_help = {"home_plmns": "The PLMNs this ECS serves as home network (MCC and MNC each)."}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not ECSConfiguration.objects.exists()

    @admin.display(description="home PLMNs")
    def home_plmn_list(self, obj: ECSConfiguration) -> str:
        return ", ".join(sorted(obj.home_plmn_keys())) or "-"


class EESInline(admin.TabularInline):
    model = EES
    fields = ("ees_id", "ecsp_info", "eas_list", "eec_reg_conf")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False
    max_num = 0
    verbose_name_plural = "EESs (edit each on its own page)"

    @admin.display(description="EAS ids")
    def eas_list(self, obj: EES) -> str:
        return ", ".join(obj.eas_ids or [])


SST_MESSAGE = "SST is a whole number from 0 to 255 (TS 23.003 clause 28.4.2)."
SD_MESSAGE = 'SD is 6 hexadecimal digits, e.g. "0000A1"; leave it empty for a slice without SD.'


class EDNForm(forms.ModelForm):
    class Meta:
        model = EDN
        fields = ("edn_id", "dnn", "snssai_sst", "snssai_sd", "edn_topo_srv_area", "plmns")
        help_texts = {
            "snssai_sst": "Slice/service type, 0-255: 1 eMBB, 2 URLLC, 3 MIoT, 4 V2X; "
            "128-255 operator-specific. Empty: no S-NSSAI.",
            "snssai_sd": "Slice differentiator: 6 hexadecimal digits, optional.",
        }
        error_messages = {
            "snssai_sst": {"min_value": SST_MESSAGE, "max_value": SST_MESSAGE},
            "snssai_sd": {"invalid": SD_MESSAGE},
        }


@admin.register(EDN)
class EDNAdmin(OAMAdmin):
    form = EDNForm
    list_display = (
        "__str__",
        "dnn",
        "snssai_label",
        "plmn_list",
        "ees_count",
        "has_area",
        "updated",
    )
    list_filter = ("dnn", "snssai_sst", "has_area", "serves_home")
    search_fields = ("edn_id", "dnn", "served_plmns__plmn", "eess__ees_id")
    search_help_text = "Search by EDN id, DNN, PLMN served (e.g. 001-01) or EES id."
    readonly_fields = ("has_area", "serves_home", "created", "updated", "ees_actions")
    json_checks = {"edn_topo_srv_area": check_area, "plmns": check_plmn_list}
    json_editors = {"edn_topo_srv_area": AREA_EDITOR, "plmns": PLMN_LIST_EDITOR}
    json_help = {
        "edn_topo_srv_area": "3GPP LocationArea5G: TAIs and cells, geographic areas, civic "
        "addresses. Empty: the EDN serves wherever its PLMNs are.",
    }
    inlines = [EESInline]
    fieldsets = (
        (None, {"fields": ("edn_id", "dnn", ("snssai_sst", "snssai_sd"))}),
        ("Service area and PLMNs", {"fields": ("edn_topo_srv_area", "plmns")}),
        ("Derived", {"fields": ("has_area", "serves_home", "created", "updated")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(ees_total=Count("eess", distinct=True))  # searches join eess too
            .prefetch_related("served_plmns")
        )

    def get_fieldsets(self, request: HttpRequest, obj: EDN | None = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and request.user.has_perm("provisioning.add_ees"):
            fieldsets.append(("EESs", {"fields": ("ees_actions",)}))
        return fieldsets

    def get_inlines(self, request: HttpRequest, obj: EDN | None) -> list:
        return self.inlines if obj is not None else []

    @admin.display(description="S-NSSAI")
    def snssai_label(self, obj: EDN) -> str:
        return obj.snssai_label

    @admin.display(description="PLMNs served")
    def plmn_list(self, obj: EDN) -> str:
        served = ", ".join(p.plmn for p in obj.served_plmns.all())
        return served or "home PLMNs"

    @admin.display(description="EESs", ordering="ees_total")
    def ees_count(self, obj: EDN) -> int:
        return obj.ees_total

    @admin.display(description="EESs")
    def ees_actions(self, obj: EDN) -> str:
        if obj.pk is None:
            return "-"
        add_url = reverse("admin:provisioning_ees_add") + "?" + urlencode({"edn": obj.pk})
        list_url = (
            reverse("admin:provisioning_ees_changelist")
            + "?"
            + urlencode({"edn__id__exact": obj.pk})
        )
        return format_html(
            '<a href="{}" class="addlink">Add an EES to this EDN</a> &nbsp; '
            '<a href="{}">List its EESs</a>',
            add_url,
            list_url,
        )


@admin.register(EES)
class EESAdmin(OAMAdmin):
    list_display = (
        "ees_id",
        "edn",
        "source",
        "ecsp_info",
        "eas_list",
        "eec_reg_conf",
        "expires_at",
        "updated",
    )
    list_filter = (
        "source",
        ExpiryFilter,
        "ecsp_info",
        "eec_reg_conf",
        "has_area",
        "edn__dnn",
        "edn",
    )
    search_fields = ("ees_id", "ecsp_info", "applications__eas_id", "edn__edn_id", "edn__dnn")
    search_help_text = "Search by EES id, EAS id, ECSP, or the EDN's id or DNN."
    list_select_related = ("edn",)
    autocomplete_fields = ("edn",)
    readonly_fields = (
        "has_area",
        "created",
        "updated",
        "source",
        "registration_id",
        "expires_at",
        "pretty_registered_profile",
    )
    json_checks = {
        **{
            field: check_ees_member(field)
            for field in FIELD_TO_MEMBER
            if isinstance(EES._meta.get_field(field), models.JSONField)
        },
        "end_pt": check_endpoint,
        "svc_area": check_area,
    }
    # Each member as 3GPP's EESInfo defines it; the EAS ids with an example.
    json_editors = {
        **{
            field: editors.member_schema(EDGE4, "EESInfo", FIELD_TO_MEMBER[field])
            for field in json_checks
        },
        "eas_ids": editors.strings("EAS id", "com.example.game"),
    }
    json_help = {
        "end_pt": "How EECs reach this EES (3GPP EndPoint): one of a URI, an FQDN, IPv4 "
        "addresses or IPv6 addresses.",
        "ees_svc_cont_supp": "The ACR scenarios this EES supports: 3GPP's values, or an "
        '"other value" that a later release added.',
        "ees_auth_methods": "How EECs may authenticate to this EES: 3GPP's values, or an "
        '"other value" that a later release added.',
        "eas_inst_infos": "3GPP EASInstantiationInfo, one per EAS.",
        "eas_bundle_infos": "3GPP EASBundleInfo, one per bundle.",
    }
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
    registration_fieldset = (
        "Registration (EDGE-6)",
        {"fields": ("source", "registration_id", "expires_at", "pretty_registered_profile")},
    )

    def get_urls(self) -> list:
        # "Why this answer" lives beside the EES list (admin/provisioning/ees/explain/).
        explain = path(
            "explain/",
            self.admin_site.admin_view(partial(admin_explain.explain_view, self.admin_site, self)),
            name="provisioning_ees_explain",
        )
        return [explain, *super().get_urls()]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and obj.source == EES.SOURCE_REGISTERED:
            return (*fieldsets, self.registration_fieldset)
        return fieldsets

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A registered EES is the EES's own statement: it changes it over EDGE-6, not here.
        if obj is not None and obj.source == EES.SOURCE_REGISTERED:
            return False
        return super().has_change_permission(request, obj)

    @admin.display(description="registered profile (EESProfile)")
    def pretty_registered_profile(self, obj: EES) -> str:
        return format_html(
            '<pre style="white-space: pre-wrap">{}</pre>',
            json.dumps(obj.registered_profile, indent=2, ensure_ascii=False),
        )

    @admin.display(description="EAS ids")
    def eas_list(self, obj: EES) -> str:
        return ", ".join(obj.eas_ids or [])


@admin.register(EECSubscription)
class EECSubscriptionAdmin(admin.ModelAdmin):
    """EEC subscriptions are the EECs' own (EDGE-4); the admin browses and may delete them."""

    list_display = (
        "subscription_id",
        "eec_id",
        "notification_destination",
        "expires_at",
        "created",
    )
    list_filter = (ExpiryFilter,)
    search_fields = ("subscription_id", "eec_id", "ue_id")
    date_hierarchy = "created"
    fields = (
        "subscription_id",
        "eec_id",
        "ue_id",
        "notification_destination",
        "expires_at",
        "digest",
        "created",
        "updated",
        "pretty_body",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="subscription (ECSServProvSubscription)")
    def pretty_body(self, obj: EECSubscription) -> str:
        return format_html(
            '<pre style="white-space: pre-wrap">{}</pre>',
            json.dumps(obj.body, indent=2, ensure_ascii=False),
        )


@admin.register(AreaCoordinates)
class AreaCoordinatesAdmin(OAMAdmin):
    """Where TAIs and cells lie, for the map of service areas (the file's areaCoordinates)."""

    list_display = ("key", "name", "lat", "lon", "radius_m")
    list_filter = ("kind",)
    search_fields = ("key", "name")
    fields = ("kind", "area", "name", "lat", "lon", "radius_m")
    # The TAI or cell as its 3GPP type: a choice of the three, each with its PLMN picker.
    json_editors = {
        "area": {
            "oneOf": [
                editors.editor_schema(COMMON_29571, "Tai", title="TAI"),
                editors.editor_schema(COMMON_29571, "Ncgi", title="NR cell (NCGI)"),
                editors.editor_schema(COMMON_29571, "Ecgi", title="E-UTRA cell (ECGI)"),
            ]
        }
    }
    json_help = {"area": "The TAI or cell (3GPP Tai, Ncgi or Ecgi) of the kind chosen above."}
