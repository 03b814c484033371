"""What this ECS knows and provisions: its own identity, EDNs and EES profiles.

Profiles keep 3GPP structures (service areas, endpoints, instantiation and bundle info) as
JSON in exactly the 3GPP shape, validated against 3GPP's own schemas in ``clean()``.
Matching never scans that JSON: each save derives small index tables (EAS ids, TAIs and
cells, geographic bounding boxes, served PLMNs) that the matching engine queries through
database indexes, so a lookup costs the same with 100 or 100,000 EESs.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from cachalot.api import cachalot_disabled
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver
from django.utils import timezone

from ecscore import schemas
from ecscore.history import change_log
from ecscore.memo import TableMemo

from . import areas, inventory, scope, signals
from .datamodel import EDGE4_FILE, FIELD_TO_MEMBER, ees_info
from .querysets import EESManager, InventoryChangeManager

EDGE4 = EDGE4_FILE  # where 3GPP defines EESInfo and EDNConInfo
# EDNs that EES registrations create when no EDN has the DNN they name.
REGISTERED_EDN_PREFIX = "registered:"
COMMON_29571 = "TS29571_CommonData.yaml"
COMMON_29122 = "TS29122_CommonData.yaml"
NETWORK_AREA_FILE = "TS29554_Npcf_BDTPolicyControl.yaml"  # where NetworkAreaInfo is defined

sd_validator = RegexValidator(r"^[A-Fa-f0-9]{6}$", "SD must be 6 hexadecimal digits.")
# A DNN label (TS 23.003 clause 9.1, after RFC 1035 and RFC 1123): letters, digits and hyphens,
# 1 to 63 of them, neither the first nor the last a hyphen.
_DNN_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# Encoded, each label takes a length octet: 100 octets at most (TS 23.003 clause 9.1).
DNN_MAX_LENGTH = 99


def dnn_problem(value: Any) -> str | None:
    """Why ``value`` is no DNN (TS 23.003 clauses 9.1 and 9A), or None when it is one."""
    if not isinstance(value, str) or not value:
        return "must be a DNN: dot-separated labels of letters, digits and hyphens"
    if len(value) > DNN_MAX_LENGTH:
        return f"a DNN has at most {DNN_MAX_LENGTH} characters"
    for label in value.split("."):
        if not _DNN_LABEL.fullmatch(label):
            return (
                f"label {label!r} is not a DNN label: 1 to 63 letters, digits and hyphens, "
                "neither first nor last a hyphen"
            )
    return None


def dnn_validator(value: Any) -> None:
    problem = dnn_problem(value)
    if problem:
        raise ValidationError(f"Not a DNN (TS 23.003 clause 9A): {problem}.")


def schema_errors(value: Any, file_name: str, schema_name: str) -> list[str]:
    """``/pointer: reason`` per problem (``reason`` alone for the value as a whole)."""
    params = schemas.invalid_params(schemas.validator(file_name, schema_name), value)
    return [
        f"{p['param']}: {p['reason']}" if p["param"] not in ("", "/") else p["reason"]
        for p in params
    ]


def validate_plmn_list(value: Any) -> None:
    if not isinstance(value, list):
        raise ValidationError('Must be a list of PlmnId objects, e.g. [{"mcc": "001", ...}].')
    errors = []
    for index, plmn in enumerate(value):
        for error in schema_errors(plmn, COMMON_29571, "PlmnId"):
            errors.append(f"[{index}]{error}" if error.startswith("/") else f"[{index}]: {error}")
    if errors:
        raise ValidationError(errors)


def validate_string_list(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValidationError("Must be a list of non-empty strings.")


def unknown_members(value: Any, known: Iterable[str], where: str, schema_name: str) -> list[str]:
    """Members 3GPP does not define: a typo there would silently widen a service area."""
    if not isinstance(value, dict):
        return []
    known = sorted(known)
    return [
        f"{where}{name!r} is not a member of 3GPP {schema_name}; use {', '.join(known)}."
        for name in value
        if name not in known
    ]


def area_member_errors(value: Any) -> list[str]:
    """Unknown members of a 3GPP LocationArea5G (ednTopoSrvArea, svcArea) and its
    nwAreaInfo; the schema itself (``clean``) checks the rest."""
    area_schema = schemas.schema_of(COMMON_29122, "LocationArea5G")
    messages = unknown_members(value, area_schema["properties"], "", "LocationArea5G")
    if isinstance(value, dict):
        network_schema = schemas.schema_of(NETWORK_AREA_FILE, "NetworkAreaInfo")
        messages += unknown_members(
            value.get("nwAreaInfo"), network_schema["properties"], "nwAreaInfo: ", "NetworkAreaInfo"
        )
    return messages


ENDPOINT_MEMBERS = ("uri", "fqdn", "ipv4Addrs", "ipv6Addrs")
ENDPOINT_EXAMPLE = '{"uri": "https://ees.example.org/eees"}'


def endpoint_shape_errors(value: Any) -> list[str]:
    """A 3GPP EndPoint is an object with exactly one of its members, and nothing else."""
    one_of = ", ".join(ENDPOINT_MEMBERS)
    if not isinstance(value, dict):
        return [
            f"An endpoint is a JSON object with exactly one of {one_of}, e.g. {ENDPOINT_EXAMPLE}."
        ]
    given = [m for m in ENDPOINT_MEMBERS if m in value]
    if len(given) != 1:
        found = " and ".join(given) if given else "none of them"
        return [f"Give exactly one of {one_of} (3GPP EndPoint); found {found}."]
    return unknown_members(value, ENDPOINT_MEMBERS, "", "EndPoint")


def endpoint_address_errors(value: Any) -> list[str]:
    """What 3GPP's schema lets through: a relative URI, IP addresses out of range."""
    messages: list[str] = []
    if not isinstance(value, dict):
        return messages
    uri = value.get("uri")
    if isinstance(uri, str):
        parts = urlsplit(uri)
        if not (parts.scheme and parts.netloc):
            messages.append(f'uri {json.dumps(uri)} is not an absolute URI like "https://host/".')
    for kind, parse, version in (
        ("ipv4Addrs", ipaddress.IPv4Address, "IPv4"),
        ("ipv6Addrs", ipaddress.IPv6Address, "IPv6"),
    ):
        addresses = value.get(kind)
        for index, address in enumerate(addresses if isinstance(addresses, list) else []):
            if not isinstance(address, str):
                continue  # the schema says what it must be
            try:
                parse(address)
            except ValueError:
                messages.append(
                    f"{kind}[{index}] {json.dumps(address)} is not an {version} address."
                )
    return messages


def validate_area(value: Any) -> None:
    messages = area_member_errors(value)
    if messages:
        raise ValidationError(messages, code="3gpp")


def validate_endpoint(value: Any) -> None:
    messages = endpoint_shape_errors(value) or endpoint_address_errors(value)
    if messages:
        raise ValidationError(messages, code="3gpp")


_MEMBER_TO_FIELD = {member: field for field, member in FIELD_TO_MEMBER.items()}


def ees_info_errors(info: Any) -> dict[str, list[str]]:
    """What 3GPP's EESInfo schema finds wrong with ``info``, by EES field.

    A message starts with the JSON pointer inside the member (``/nwAreaInfo/tais/0/tac:
    ...``), if any; problems with the object itself, or with a member that is no field, are
    under ``NON_FIELD_ERRORS`` (with their whole pointer).  ``EES.clean`` checks the EES
    this way; the configuration file checks each EESInfo it lists with it, as written.
    """
    validator = schemas.validator(EDGE4, "EESInfo")
    if validator.is_valid(info):
        return {}  # the common case, and cheaper than collecting errors
    errors: dict[str, list[str]] = {}
    for param in schemas.invalid_params(validator, info):
        pointer = "" if param["param"] == "/" else param["param"]
        member = pointer.split("/")[1] if pointer else ""
        field = _MEMBER_TO_FIELD.get(member)
        detail = pointer[len(member) + 1 :] if field else pointer
        message = f"{detail}: {param['reason']}" if detail else param["reason"]
        errors.setdefault(field or NON_FIELD_ERRORS, []).append(message)
    return errors


class ECSConfiguration(models.Model):
    """This ECS's own identity and provisioning defaults (a single row)."""

    ecs_id = models.CharField(
        "ECS id",
        max_length=255,
        default="ecs.example.org",
        help_text="This ECS's identity, as partner ECSs know it.",
    )
    ecsp = models.CharField(
        "ECSP", max_length=255, blank=True, help_text="The ECSP that operates this ECS."
    )
    home_plmns = models.JSONField(
        "home PLMNs",
        default=list,
        blank=True,
        validators=[validate_plmn_list],
        help_text='List of PlmnId, e.g. [{"mcc": "001", "mnc": "01"}].',
    )
    provisioning_lifetime = models.PositiveIntegerField(
        default=3600,
        validators=[MaxValueValidator(365 * 24 * 3600)],
        help_text="Seconds for which EECs may reuse provisioning information (lifeTime).",
    )
    updated = models.DateTimeField(auto_now=True)

    history = change_log()

    class Meta:
        verbose_name = "ECS configuration"
        verbose_name_plural = "ECS configuration"

    def __str__(self) -> str:
        return self.ecs_id

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1  # one row: the ECS has one identity
        with transaction.atomic():
            super().save(*args, **kwargs)
            signals.changed(ECSConfiguration, scope.EVERYTHING)  # home PLMNs, lifetime

    @classmethod
    def load(cls) -> ECSConfiguration:
        """The configuration row, or unsaved defaults before the operator set one."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)

    @classmethod
    def current(cls) -> ECSConfiguration:
        """``load()`` for the request path: a per-process copy, not to be modified or saved."""
        return _current_configuration.get()

    def home_plmn_keys(self) -> set[str]:
        return {k for k in (areas.plmn_key(p) for p in self.home_plmns or []) if k}


_current_configuration = TableMemo([ECSConfiguration], ECSConfiguration.load)


class EDN(models.Model):
    """An edge data network: DNN, S-NSSAI, topological service area, the PLMNs it serves."""

    edn_id = models.CharField(
        "EDN id",
        max_length=255,
        blank=True,
        default="",
        help_text="Optional name; without one the EDN is identified by its DNN and S-NSSAI.",
    )
    dnn = models.CharField("DNN", max_length=255, validators=[dnn_validator])
    snssai_sst = models.PositiveSmallIntegerField(
        "S-NSSAI SST", null=True, blank=True, validators=[MaxValueValidator(255)]
    )
    snssai_sd = models.CharField(
        "S-NSSAI SD", max_length=6, blank=True, default="", validators=[sd_validator]
    )
    edn_topo_srv_area = models.JSONField(
        "topological service area",
        null=True,
        blank=True,
        validators=[validate_area],
        help_text="3GPP LocationArea5G (ednTopoSrvArea): nwAreaInfo TAIs/cells, "
        "geographicAreas, civicAddresses.",
    )
    plmns = models.JSONField(
        "PLMNs",
        default=list,
        blank=True,
        validators=[validate_plmn_list],
        help_text="PLMNs served in addition to those of the TAIs and cells in its areas.",
    )
    # Derived on save (see reindex_edn): whether the area restricts, and whether the EDN
    # serves only the home PLMNs because nothing names a PLMN for it.
    has_area = models.BooleanField(default=False, editable=False)
    serves_home = models.BooleanField(default=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    history = change_log()

    class Meta:
        verbose_name = "EDN"
        verbose_name_plural = "EDNs"
        ordering = ["edn_id", "dnn", "snssai_sst", "snssai_sd"]
        constraints = [
            models.UniqueConstraint(
                fields=["edn_id"], condition=~models.Q(edn_id=""), name="edn_unique_id"
            ),
            models.CheckConstraint(
                condition=models.Q(snssai_sd="") | models.Q(snssai_sst__isnull=False),
                name="edn_sd_needs_sst",
            ),
        ]

    def __str__(self) -> str:
        return self.edn_id or f"{self.dnn} ({self.snssai_label or 'no S-NSSAI'})"

    @property
    def snssai(self) -> dict[str, Any] | None:
        if self.snssai_sst is None:
            return None
        value: dict[str, Any] = {"sst": self.snssai_sst}
        if self.snssai_sd:
            value["sd"] = self.snssai_sd.upper()
        return value

    @property
    def snssai_label(self) -> str:
        if self.snssai_sst is None:
            return ""
        return (
            f"{self.snssai_sst}-{self.snssai_sd.upper()}"
            if self.snssai_sd
            else str(self.snssai_sst)
        )

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.edn_topo_srv_area is not None:
            found = schema_errors(self.edn_topo_srv_area, COMMON_29122, "LocationArea5G")
            if found:
                errors["edn_topo_srv_area"] = found
        if self.snssai_sd and self.snssai_sst is None:
            errors["snssai_sst"] = ["An SD needs an SST."]
        if errors:
            raise ValidationError(errors)

    def validate_unique(self, exclude: Any = None) -> None:
        """Also: EDNs without an id are told apart by their DNN and S-NSSAI."""
        super().validate_unique(exclude)
        if self.edn_id or {"edn_id", "dnn", "snssai_sst", "snssai_sd"} & set(exclude or ()):
            return
        twins = EDN.objects.filter(
            edn_id="",
            dnn=self.dnn,
            snssai_sst=self.snssai_sst,
            snssai_sd__iexact=self.snssai_sd,
        ).exclude(pk=self.pk)
        if twins.exists():
            raise ValidationError(
                {
                    "edn_id": "Another EDN without an id has this DNN and S-NSSAI; "
                    "give one of them an id."
                }
            )

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.snssai_sd = (self.snssai_sd or "").upper()
        with transaction.atomic():
            before = (
                EDN.objects.filter(pk=self.pk).values_list("edn_topo_srv_area", flat=True).first()
                if self.pk
                else None
            )
            super().save(*args, **kwargs)
            reindex_edn(self)
            signals.changed(EDN, edn_reach(self.pk, [before, self.edn_topo_srv_area]))


class EES(models.Model):
    """An edge enabler server profile, in the shape of 3GPP EESInfo."""

    SOURCE_CONFIGURED = "configured"
    SOURCE_REGISTERED = "registered"
    SOURCES = [
        (SOURCE_CONFIGURED, "configured by the operator"),
        (SOURCE_REGISTERED, "registered by the EES (EDGE-6)"),
    ]

    edn = models.ForeignKey(EDN, on_delete=models.CASCADE, related_name="eess", verbose_name="EDN")
    ees_id = models.CharField("EES id", max_length=255, unique=True)
    end_pt = models.JSONField(
        "endpoint",
        null=True,
        blank=True,
        validators=[validate_endpoint],
        help_text='3GPP EndPoint: exactly one of {"uri"}, {"fqdn"}, {"ipv4Addrs"}, {"ipv6Addrs"}.',
    )
    eas_ids = models.JSONField(
        "EAS ids", default=list, blank=True, validators=[validate_string_list]
    )
    app_group_ids = models.JSONField(
        "application group ids", default=list, blank=True, validators=[validate_string_list]
    )
    ecsp_info = models.CharField(
        "ECSP",
        max_length=255,
        blank=True,
        default="",
        db_index=True,
        help_text="The ECSP that provides this EES (ecspInfo).",
    )
    svc_area = models.JSONField(
        "service area",
        null=True,
        blank=True,
        validators=[validate_area],
        help_text="3GPP LocationArea5G; without one the EES serves its EDN's area.",
    )
    dnais = models.JSONField("DNAIs", default=list, blank=True, validators=[validate_string_list])
    ees_svc_cont_supp = models.JSONField(
        "ACR scenarios",
        default=list,
        blank=True,
        validators=[validate_string_list],
        help_text="Supported ACR scenarios, e.g. EEC_INITIATED, SOURCE_EAS_DECIDED.",
    )
    eec_reg_conf = models.BooleanField(
        "EEC registration required",
        default=False,
        help_text="Whether EECs must register at this EES (eecRegConf).",
    )
    eas_inst_infos = models.JSONField(
        "EAS instantiation info",
        default=list,
        blank=True,
        help_text="List of 3GPP EASInstantiationInfo.",
    )
    ees_auth_methods = models.JSONField(
        "authentication methods",
        default=list,
        blank=True,
        validators=[validate_string_list],
        help_text="e.g. TLS_CLIENT_SERVER_CERTIFICATE, TLS_WITH_AKMA.",
    )
    eas_bundle_infos = models.JSONField(
        "EAS bundle info", default=list, blank=True, help_text="List of 3GPP EASBundleInfo."
    )
    has_area = models.BooleanField(default=False, editable=False)
    source = models.CharField(
        max_length=10, choices=SOURCES, default=SOURCE_CONFIGURED, editable=False, db_index=True
    )
    registration_id = models.CharField(
        max_length=64, blank=True, default="", editable=False, db_index=True
    )
    registered_profile = models.JSONField(
        null=True, blank=True, editable=False, help_text="The 3GPP EESProfile as registered."
    )
    expires_at = models.DateTimeField(
        "registration expires", null=True, blank=True, editable=False, db_index=True
    )
    registered_by = models.CharField(
        max_length=128,
        blank=True,
        default="",
        editable=False,
        help_text="Who registered it (the registrations-per-client quota): an API client, "
        "or the address of a caller without a token.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = EESManager()
    history = change_log()

    class Meta:
        verbose_name = "EES"
        verbose_name_plural = "EESs"
        ordering = ["ees_id"]
        # The per-client quota counts a caller's live registrations on this index.
        indexes = [models.Index(fields=["registered_by", "expires_at"], name="ees_registered_by")]

    def __str__(self) -> str:
        return self.ees_id

    def clean(self) -> None:
        errors = ees_info_errors(ees_info(self))
        if errors:
            raise ValidationError(errors)

    def save(self, *args: Any, **kwargs: Any) -> None:
        with transaction.atomic():
            previous = (
                EES.objects.filter(pk=self.pk).values(*FIELD_TO_MEMBER, "edn_id").first()
                if self.pk
                else None
            )
            previous_edn = previous["edn_id"] if previous else None
            # EDN rows first, in a fixed order, so that concurrent saves cannot deadlock.
            for edn_id in sorted({self.edn_id, previous_edn} - {None}):
                lock_edn(edn_id)
            super().save(*args, **kwargs)
            inventory.touched(ees_pks=[self.pk])  # the expiry too: answers check it
            if previous is not None and previous == {
                **{f: getattr(self, f) for f in FIELD_TO_MEMBER},
                "edn_id": self.edn_id,
            }:
                return  # nothing any answer shows changed (a refresh, a new expiry)
            reindex_ees(self)
            change = ees_reach(self.eas_ids, self.svc_area, self.edn_id)
            if reindex_edn(self.edn, own_area=False):
                change = change.merge(edn_reach(self.edn_id))
            if previous is not None:
                change = change.merge(
                    ees_reach(previous["eas_ids"], previous["svc_area"], previous_edn)
                )
            if previous_edn is not None and previous_edn != self.edn_id:
                # The EDN it left no longer serves this EES's PLMNs.
                old = EDN.objects.filter(pk=previous_edn).first()
                if old is not None and reindex_edn(old, own_area=False):
                    change = change.merge(edn_reach(previous_edn))
            signals.changed(EES, change)


class EESApplication(models.Model):
    """Index: an EAS id served by an EES (derived from EES.eas_ids)."""

    ees = models.ForeignKey(EES, on_delete=models.CASCADE, related_name="applications")
    eas_id = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["eas_id", "ees"], name="eesapplication_unique")
        ]

    def __str__(self) -> str:
        return f"{self.eas_id} at EES {self.ees_id}"


class AreaKey(models.Model):
    """Index: one TAI, cell or geographic bounding box of an EDN's or an EES's area."""

    KIND_NETWORK = "net"
    KIND_GEO = "geo"

    edn = models.ForeignKey(EDN, null=True, on_delete=models.CASCADE, related_name="area_keys")
    ees = models.ForeignKey(EES, null=True, on_delete=models.CASCADE, related_name="area_keys")
    kind = models.CharField(max_length=3, choices=[(KIND_NETWORK, "TAI/cell"), (KIND_GEO, "geo")])
    key = models.CharField(max_length=64, blank=True, default="")
    min_lat = models.FloatField(null=True)
    max_lat = models.FloatField(null=True)
    min_lon = models.FloatField(null=True)
    max_lon = models.FloatField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["key"], name="areakey_key"),
            models.Index(fields=["kind", "min_lat", "max_lat"], name="areakey_lat"),
        ]

    def __str__(self) -> str:
        return self.key or f"bbox {self.min_lat},{self.min_lon} - {self.max_lat},{self.max_lon}"


class EDNPlmn(models.Model):
    """Index: a PLMN an EDN serves (its own and its EESs' areas, plus the listed PLMNs)."""

    edn = models.ForeignKey(EDN, on_delete=models.CASCADE, related_name="served_plmns")
    plmn = models.CharField(max_length=7)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plmn", "edn"], name="ednplmn_unique")]

    def __str__(self) -> str:
        return self.plmn


def _area_rows(area: dict[str, Any] | None, **owner: Any) -> list[AreaKey]:
    rows = [AreaKey(kind=AreaKey.KIND_NETWORK, key=k, **owner) for k in areas.network_keys(area)]
    rows += [
        AreaKey(
            kind=AreaKey.KIND_GEO, min_lat=b[0], max_lat=b[1], min_lon=b[2], max_lon=b[3], **owner
        )
        for b in areas.bboxes(area)
    ]
    return rows


# The index rows as pure functions of a profile: reindex_ees / reindex_edn write them for one
# row (admin, API), provisioning.bulk for many at once (ecs_apply); both must agree.


def ees_has_area(ees: EES) -> bool:
    return areas.restricts(ees.svc_area)


def ees_index_rows(ees: EES) -> tuple[list[AreaKey], list[EESApplication]]:
    """An EES's area keys and EAS-id rows (the EES must have its primary key)."""
    applications = [
        EESApplication(ees=ees, eas_id=eas_id) for eas_id in sorted(set(ees.eas_ids or []))
    ]
    return _area_rows(ees.svc_area, ees=ees), applications


def edn_served_plmns(edn: EDN, ees_svc_areas: Iterable[Any]) -> set[str]:
    """The PLMNs an EDN serves: its area's, its listed ones and those of its EESs' areas."""
    served = areas.plmns_of(edn.edn_topo_srv_area)
    served |= {k for k in (areas.plmn_key(p) for p in edn.plmns or []) if k}
    for svc_area in ees_svc_areas:
        served |= areas.plmns_of(svc_area)
    return served


def edn_flags(edn: EDN, served: set[str]) -> tuple[bool, bool]:
    """``(has_area, serves_home)``: home PLMNs only when nothing names a PLMN for it."""
    return areas.restricts(edn.edn_topo_srv_area), not served


def edn_index_rows(edn: EDN, served: set[str]) -> tuple[list[AreaKey], list[EDNPlmn]]:
    """An EDN's area keys and served-PLMN rows (the EDN must have its primary key)."""
    return _area_rows(edn.edn_topo_srv_area, edn=edn), [
        EDNPlmn(edn=edn, plmn=p) for p in sorted(served)
    ]


def reindex_ees(ees: EES) -> None:
    """Rebuild an EES's index rows from its profile."""
    has_area = ees_has_area(ees)
    if has_area != ees.has_area:
        EES.objects.filter(pk=ees.pk).update(has_area=has_area)
        ees.has_area = has_area
    area_keys, applications = ees_index_rows(ees)
    AreaKey.objects.filter(ees=ees).delete()
    AreaKey.objects.bulk_create(area_keys)
    EESApplication.objects.filter(ees=ees).delete()
    EESApplication.objects.bulk_create(applications)


def lock_edn(edn_id: int | None) -> None:
    """Serialize changes to one EDN's index rows (concurrent EES registrations, say)."""
    if edn_id is not None:
        list(EDN.objects.select_for_update().filter(pk=edn_id).values_list("pk", flat=True))


def reindex_edn(edn: EDN, own_area: bool = True) -> bool:
    """Rebuild an EDN's index rows: its area keys and the PLMNs it serves. True when the
    PLMNs it serves changed.

    ``own_area=False`` is for a change to one of its EESs, which cannot change the EDN's own
    area keys: only the served PLMNs are recomputed, and written only when they changed.
    Registrations come and go far more often than EDNs change, and each write here is one
    more statement under the EDN's lock, which every registration into the EDN waits for.
    """
    # Locks the row, and reads the flags as they are, not as a possibly older ``edn`` has them.
    stored = (
        EDN.objects.select_for_update()
        .filter(pk=edn.pk)
        .values_list("has_area", "serves_home")
        .first()
    )
    # What decides the writes below is read from the database, never from cachalot: a
    # concurrent writer's result can reach the query cache after that writer's invalidation
    # (cachalot stamps a result when it stores it, not when it read it), and a stale "same"
    # here would leave served PLMNs behind for good.
    with cachalot_disabled():
        served = edn_served_plmns(
            edn, list(EES.objects.filter(edn=edn).values_list("svc_area", flat=True))
        )
        stored_plmns = set(EDNPlmn.objects.filter(edn=edn).values_list("plmn", flat=True))
    has_area, serves_home = edn_flags(edn, served)
    stored_has_area, stored_serves_home = stored or (edn.has_area, edn.serves_home)
    changed: dict[str, bool] = {}
    if serves_home != stored_serves_home:
        changed["serves_home"] = serves_home
    if own_area and has_area != stored_has_area:
        changed["has_area"] = has_area
    if changed:
        EDN.objects.filter(pk=edn.pk).update(**changed)
    edn.serves_home = serves_home
    if own_area:
        edn.has_area = has_area
    area_keys, plmns = edn_index_rows(edn, served)
    if own_area:
        AreaKey.objects.filter(edn=edn).delete()
        AreaKey.objects.bulk_create(area_keys)
    same = stored_plmns == served
    if not same:
        EDNPlmn.objects.filter(edn=edn).delete()
        EDNPlmn.objects.bulk_create(plmns)
    # The EDN itself changed (own_area), or what it serves: processes reload it.
    if own_area or changed or not same:
        inventory.touched(edn_pks=[edn.pk])
    # What the EDN serves changed: every EES in it may now answer other requests.
    return not same or "serves_home" in changed


class EECSubscription(models.Model):
    """An EEC's service provisioning subscription (EDGE-4 ECSServProvSubscription)."""

    subscription_id = models.CharField(max_length=64)
    eec_id = models.CharField("EEC id", max_length=255)
    ue_id = models.CharField("UE id", max_length=255, blank=True, default="")
    body = models.JSONField(help_text="The ECSServProvSubscription as the EEC sent it.")
    notification_destination = models.URLField(max_length=1000)
    expires_at = models.DateTimeField(db_index=True)
    digest = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Digest of the provisioning information last notified (or at creation).",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "EEC subscription"
        verbose_name_plural = "EEC subscriptions"
        ordering = ["-created"]
        # Plain b-tree indexes: on PostgreSQL, unique=True and db_index=True on a CharField add
        # a second (pattern) index each, which no query uses and every insert pays for.
        constraints = [
            models.UniqueConstraint(fields=["subscription_id"], name="eecsub_subscription_id")
        ]
        # The per-EEC quota counts an EEC's live subscriptions on this one.
        indexes = [models.Index(fields=["eec_id", "expires_at"], name="eecsub_eec_live")]

    def __str__(self) -> str:
        return f"{self.subscription_id} ({self.eec_id})"


def ees_reach(
    eas_ids: list[str], svc_area: dict[str, Any] | None, edn_id: int | None
) -> scope.ChangeScope:
    """The requests an EES in this state can answer (it takes its EDN's area when it has
    none of its own)."""
    edn_area = None
    if edn_id is not None and not areas.restricts(svc_area):
        edn_area = EDN.objects.filter(pk=edn_id).values_list("edn_topo_srv_area", flat=True).first()
    return scope.of_ees(eas_ids, svc_area, edn_area)


def edn_reach(edn_id: int | None, edn_areas: Iterable[Any] | None = None) -> scope.ChangeScope:
    """The requests any EES of an EDN can answer, with each of ``edn_areas`` as the EDN's
    area (default: its area now)."""
    if edn_id is None:
        return scope.NOTHING
    if edn_areas is None:
        edn_areas = [
            EDN.objects.filter(pk=edn_id).values_list("edn_topo_srv_area", flat=True).first()
        ]
    edn_areas = list(edn_areas)
    reach = scope.NOTHING
    for eas_ids, svc_area in EES.objects.filter(edn_id=edn_id).values_list("eas_ids", "svc_area"):
        for edn_area in edn_areas if not areas.restricts(svc_area) else [None]:
            reach = reach.merge(scope.of_ees(eas_ids, svc_area, edn_area))
    return reach


class InventoryChange(models.Model):
    """A change to what we provision, written in the change's own transaction; the worker
    evaluates the subscriptions it can affect (``provisioning.changes``), then deletes it."""

    created = models.DateTimeField(auto_now_add=True)
    scope = models.JSONField(help_text="The ChangeScope: the requests that may get another answer.")
    leased_until = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = InventoryChangeManager()

    class Meta:
        verbose_name = "inventory change"
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"change {self.pk}"


class IndexChange(models.Model):
    """An EES or EDN that changed (or, ``full_build``, the whole inventory; or a row of another
    app's ``topic``), written in the change's own transaction: each process's in-memory index
    (``provisioning.inventory``) reloads what these name. Pruned by the worker after
    ``inventory.PRUNE_SECONDS``."""

    id = models.BigAutoField(primary_key=True)
    ees_pk = models.BigIntegerField(null=True)
    edn_pk = models.BigIntegerField(null=True)
    full_build = models.BooleanField(default=False)
    # Another app's per-process view that this feed keeps current (``inventory.listen``):
    # ``topic`` names it, ``ref_pk`` the row that changed (partners' cached answers).
    topic = models.CharField(max_length=32, blank=True, default="")
    ref_pk = models.BigIntegerField(null=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "index change"

    def __str__(self) -> str:
        return f"index change {self.pk}"


class EECSubscriptionKey(models.Model):
    """Index: what an EEC subscription asks for (``scope.subscription_keys``), so that a
    change finds the subscriptions it can affect by lookup instead of by evaluating all."""

    subscription = models.ForeignKey(
        EECSubscription, on_delete=models.CASCADE, related_name="index_keys"
    )
    key = models.CharField(max_length=300)

    class Meta:
        indexes = [models.Index(fields=["key", "subscription"], name="eecsubkey_key")]

    def __str__(self) -> str:
        return self.key


# EDNs being deleted right now (their EESs go first, by cascade): not to be reindexed.
_edns_being_deleted: set[int] = set()


@receiver(pre_delete, sender=EDN)
def _edn_deleting(sender: Any, instance: EDN, **kwargs: Any) -> None:
    _edns_being_deleted.add(instance.pk)


@receiver(post_delete, sender=EDN)
def _edn_deleted(sender: Any, instance: EDN, **kwargs: Any) -> None:
    _edns_being_deleted.discard(instance.pk)
    inventory.touched(edn_pks=[instance.pk])
    # Its EESs went first (each with its own change); an EDN without EESs answers nothing.
    signals.changed(EDN, scope.NOTHING)


@receiver(post_delete, sender=EES)
def _ees_deleted(sender: Any, instance: EES, **kwargs: Any) -> None:
    """Any delete, one by one or in bulk: the EDN's served PLMNs follow, subscribers hear."""
    inventory.touched(ees_pks=[instance.pk])
    change = scope.of_ees(instance.eas_ids, instance.svc_area, None)
    if instance.edn_id not in _edns_being_deleted:
        edn = EDN.objects.filter(pk=instance.edn_id).first()
        if edn is not None:
            change = scope.of_ees(instance.eas_ids, instance.svc_area, edn.edn_topo_srv_area)
            if reindex_edn(edn, own_area=False):
                change = change.merge(edn_reach(edn.pk))
    signals.changed(EES, change)


class AreaCoordinates(models.Model):
    """Where the operator says a TAI or a cell lies: a centre and a radius, for the admin's
    map of service areas (``provisioning.areamap``).

    3GPP gives TAIs and cells no geography; only the operator knows it.  Matching never reads
    these rows: they place the TAIs and cells of service areas on the map, nothing else.  The
    file's ``areaCoordinates`` section fills them (``provisioning.coordsection``).
    """

    KIND_TAI, KIND_NCGI, KIND_ECGI = "tai", "ncgi", "ecgi"
    KINDS = [(KIND_TAI, "TAI"), (KIND_NCGI, "NR cell (NCGI)"), (KIND_ECGI, "E-UTRA cell (ECGI)")]
    # The 3GPP data type of each kind, in TS 29.571.
    SCHEMAS = {KIND_TAI: "Tai", KIND_NCGI: "Ncgi", KIND_ECGI: "Ecgi"}

    kind = models.CharField(max_length=4, choices=KINDS)
    area = models.JSONField(
        "TAI or cell", help_text='The 3GPP Tai, Ncgi or Ecgi, e.g. {"plmnId": ..., "tac": ...}.'
    )
    # The canonical key (areas.tai_key, ...), as the service areas' index rows hold it.
    key = models.CharField(max_length=64, unique=True, editable=False)
    name = models.CharField(max_length=255, blank=True, default="")
    lat = models.FloatField(
        "latitude", validators=[MinValueValidator(-90.0), MaxValueValidator(90.0)]
    )
    lon = models.FloatField(
        "longitude", validators=[MinValueValidator(-180.0), MaxValueValidator(180.0)]
    )
    radius_m = models.PositiveIntegerField(
        "radius (m)",
        default=1000,
        validators=[MinValueValidator(1), MaxValueValidator(1_000_000)],
        help_text="How far around the centre the TAI or cell reaches, roughly.",
    )

    history = change_log()

    class Meta:
        verbose_name = "TAI/cell coordinates"
        verbose_name_plural = "TAI/cell coordinates"
        ordering = ["key"]
        # The map asks for the TAIs and cells in its viewport.
        indexes = [models.Index(fields=["lat", "lon"], name="areacoords_latlon")]

    def __str__(self) -> str:
        return self.name or self.key

    def derived_key(self) -> str | None:
        """The TAI's or cell's canonical key, or None when ``area`` is not one."""
        to_key = {"tai": areas.tai_key, "ncgi": areas.ncgi_key, "ecgi": areas.ecgi_key}
        if self.kind not in to_key or not isinstance(self.area, dict):
            return None
        return to_key[self.kind](self.area)

    def clean(self) -> None:
        if self.kind not in self.SCHEMAS:
            return  # the field's choices say so
        found = schema_errors(self.area, COMMON_29571, self.SCHEMAS[self.kind])
        if found:
            raise ValidationError({"area": found})
        self.key = self.derived_key() or ""

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.key = self.derived_key() or self.key
        super().save(*args, **kwargs)
