"""One representation: each OAM resource reads and writes the keys of its configuration-file
entry, through the file's own validation.

A serializer here does not validate field by field. ``to_internal_value`` hands the body to
the section's per-entry check (``provisioning.configsection``, ``partners.configsection``:
the file's keys, its types, then the model's ``full_clean``, shared with the admin), and adds
what an entry of the file cannot know: uniqueness against the stored rows. Problems are raised
as ``ecscore.errors.InvalidRequest`` naming each member by JSON pointer (``oam.api.problems``).
``to_representation`` is the section's export of one entry. The declared fields document the
keys for drf-spectacular (generated from the ``ModelKeys`` mapping, so a new option is still
one line in the section).

PUT is the entry as the file would give it (absent keys take their defaults, credentials
left out keep the stored ones); PATCH is the current entry with the body's keys replaced.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema_field
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import Application
from rest_framework import serializers
from rest_framework.utils.field_mapping import ClassLookupDict, get_field_kwargs

from access.models import APIClient
from access.scopes import api_scopes
from ecscore import apidoc, configfile, errors, schemas
from federation.eecs_ecsregistration import API as ECS_REGISTRATION
from federation.models import ECSRegistration
from notifications.models import DeliveryAttempt, Notification
from partners import configsection as partner_file
from partners.management.commands.ecs_audit import as_json as audit_json
from partners.models import (
    AuthorizationPolicy,
    NEFConfiguration,
    PartnerECS,
    ProvisioningCacheEntry,
    RetrievalAudit,
)
from partners.nef import configsection as nef_file
from provisioning import configsection as inventory_file
from provisioning import datamodel
from provisioning.models import EDGE4, EDN, EES, ECSConfiguration

from .problems import invalid, invalid_params

CHANGE_REASON = "oam-api"
_PLMN = apidoc.schema("TS29571_CommonData.yaml", "PlmnId")


def _schema_field(schema: dict[str, Any], **kwargs: Any) -> serializers.Field:
    """A JSON member documented by a (3GPP) schema; the file's validation checks it."""

    @extend_schema_field(schema)
    class Documented(serializers.JSONField):
        pass

    return Documented(**kwargs)


def plmn_list(**kwargs: Any) -> serializers.Field:
    return _schema_field({"type": "array", "items": _PLMN}, **kwargs)


_FIELD_CLASSES = ClassLookupDict(serializers.ModelSerializer.serializer_field_mapping)
_CHOICE_KWARGS = frozenset(
    {"required", "default", "initial", "label", "help_text", "allow_blank", "choices"}
)


def key_fields(
    keys: configfile.ModelKeys, overrides: dict[str, serializers.Field] | None = None
) -> dict[str, serializers.Field]:
    """A documentation field per file key, from its model field (type, help text, choices)."""
    overrides = overrides or {}
    fields: dict[str, serializers.Field] = {}
    for key, name in keys.keys.items():
        if key in overrides:
            fields[key] = overrides[key]
            continue
        model_field = keys.model._meta.get_field(name)
        if model_field.is_relation:
            fields[key] = serializers.CharField(help_text=f"The {key}'s id.")
            continue
        kwargs = get_field_kwargs(name, model_field)
        for unused in ("validators", "model_field", "read_only"):
            kwargs.pop(unused, None)
        kwargs.setdefault("required", False)
        if "choices" in kwargs:
            field_class: type = serializers.ChoiceField
            # What DRF's ModelSerializer leaves a choice field (no max_length and the like).
            kwargs = {k: v for k, v in kwargs.items() if k in _CHOICE_KWARGS}
        else:
            field_class = _FIELD_CLASSES[model_field]
            kwargs.pop("choices", None)
        if field_class is serializers.ModelField:
            field_class = serializers.JSONField
        fields[key] = field_class(**kwargs)
    return fields


def unique_messages(instance: Any, keys: dict[str, str]) -> list[str]:
    """Uniqueness of ``instance`` against the stored rows, as label-less file messages."""
    try:
        instance.validate_unique()
        instance.validate_constraints()
    except ValidationError as error:
        return configfile.model_messages(error, "", keys, type(instance))
    return []


class EntrySerializer(serializers.Serializer):
    """Base: an entry of the configuration file, validated as the file validates it."""

    #: Keys a read gives but a write ignores (derived, or another resource's to write).
    read_only_keys: tuple[str, ...] = ()

    def export(self, instance: Any) -> dict[str, Any]:
        raise NotImplementedError

    def prepare(self, entry: dict[str, Any], instance: Any) -> tuple[Any, list[str]]:
        """The instance (``instance`` or a new one) with the entry's values set, and the
        file's messages about the entry (label-less)."""
        raise NotImplementedError

    def field_keys(self) -> dict[str, str]:
        """Model field -> key, for uniqueness messages."""
        return {}

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return self.export(instance)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise invalid([": must be a JSON object"])
        entry = dict(data)
        if self.partial and self.instance is not None:
            entry = {**self.export(self.instance), **entry}
        for key in self.read_only_keys:
            entry.pop(key, None)
        instance, messages = self.prepare(entry, self.instance)
        if not messages:
            messages = unique_messages(instance, self.field_keys())
        if messages:
            raise invalid(messages)
        return {"instance": instance, "entry": entry}

    def create(self, validated_data: dict[str, Any]) -> Any:
        return self._save(validated_data["instance"])

    def update(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        return self._save(validated_data["instance"])

    def _save(self, instance: Any) -> Any:
        instance._change_reason = CHANGE_REASON
        instance.save()
        return instance


def _require_id(entry: dict[str, Any], what: str) -> list[str]:
    value = entry.get("id")
    if not isinstance(value, str) or not value:
        return [f".id: required, a non-empty string (it names the {what} in URLs)"]
    return []


# --- ecs/ ---------------------------------------------------------------------------------


class ECSSerializer(EntrySerializer):
    """The ECS identity: the ``ecs`` section."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return key_fields(inventory_file.ECS_KEYS, {"homePlmns": plmn_list(required=False)})

    def export(self, instance: ECSConfiguration) -> dict[str, Any]:
        return inventory_file.ECS_KEYS.export(instance)

    def prepare(self, entry: dict[str, Any], instance: Any) -> tuple[Any, list[str]]:
        # The section checks the entry on the stored configuration, labelled "ecs".
        messages = inventory_file.ECSSection().validate(entry, {})
        messages = [m[len("ecs") :] if m.startswith("ecs") else m for m in messages]
        config = instance or ECSConfiguration.load()
        if not messages:
            for name, value in inventory_file.ECS_KEYS.values(entry).items():
                setattr(config, name, value)
        return config, messages


# --- nef/ ---------------------------------------------------------------------------------


class NEFSerializer(EntrySerializer):
    """The NEF: the ``nef`` section. ``clientSecret`` is written, never read back unless it
    names an environment variable; a PUT without it keeps the stored one."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = key_fields(nef_file.NEF_KEYS)
        fields["clientSecret"] = serializers.CharField(
            required=False,
            help_text="A literal (write-only) or env:NAME; left out, the stored one is kept.",
        )
        return fields

    def export(self, instance: NEFConfiguration) -> dict[str, Any]:
        return nef_file.export_entry(instance)

    def prepare(self, entry: dict[str, Any], instance: Any) -> tuple[Any, list[str]]:
        messages = nef_file.NEFSection().validate(entry, {})
        messages = [m[len("nef") :] if m.startswith("nef") else m for m in messages]
        config = instance or NEFConfiguration(pk=1)
        if not messages:
            for name, value in nef_file.NEF_KEYS.values(entry, keep=nef_file.KEPT).items():
                setattr(config, name, value)
        return config, messages


# --- edns/ and eess/ ------------------------------------------------------------------------


class EDNSerializer(EntrySerializer):
    """An ``edns`` entry: ``id``, ``ednConInfo`` (3GPP EDNConInfo), ``plmns``; ``eess`` (its
    configured EESs as EESInfo) is read-only here: EESs are written through ``eess/``."""

    read_only_keys = ("eess", "lifeTime")

    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "id": serializers.CharField(help_text="The EDN's id (required by the API)."),
            "ednConInfo": _schema_field(apidoc.schema(EDGE4, "EDNConInfo")),
            "plmns": plmn_list(required=False, help_text="PLMNs served besides its areas'."),
            "eess": _schema_field(
                {"type": "array", "items": apidoc.schema(EDGE4, "EESInfo")}, read_only=True
            ),
        }

    def field_keys(self) -> dict[str, str]:
        return inventory_file.EDN_FIELD_KEYS

    def export(self, instance: EDN) -> dict[str, Any]:
        configured = [e for e in instance.eess.all() if e.source == EES.SOURCE_CONFIGURED]
        return inventory_file.export_edn(instance, sorted(configured, key=lambda e: e.ees_id))

    def prepare(self, entry: dict[str, Any], instance: Any) -> tuple[Any, list[str]]:
        messages = _require_id(entry, "EDN")
        messages += [f".{k}: unknown key" for k in entry if k not in inventory_file.EDN_KEYS]
        messages += inventory_file.EDNSection.edn_entry_errors("", entry)
        edn = instance or EDN()
        if not messages:
            for name, value in inventory_file.edn_values(entry).items():
                setattr(edn, name, value)
        return edn, messages


def _in_file(node: Any, file_name: str) -> Any:
    """A schema of ``file_name`` with its local references made to name the file."""
    if isinstance(node, list):
        return [_in_file(item, file_name) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: (
            file_name + value
            if key == "$ref" and value.startswith("#")
            else _in_file(value, file_name)
        )
        for key, value in node.items()
    }


def _ees_info_members() -> dict[str, Any]:
    properties = schemas.schema_of(EDGE4, "EESInfo")["properties"]
    return {
        member: _in_file(properties[member], EDGE4)
        for member in datamodel.FIELD_TO_MEMBER.values()
        if member in properties
    }


class EESSerializer(EntrySerializer):
    """An EES as 3GPP EESInfo (the file's ``eess`` entry), plus ``edn`` (the id of the EDN it
    is listed under) and ``source`` (read-only: ``registered`` EESs are EDGE-6's)."""

    read_only_keys = ("source",)

    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "edn": serializers.CharField(help_text="The id of the EDN the EES belongs to."),
            "source": serializers.ChoiceField(EES.SOURCES, read_only=True),
            **{
                member: _schema_field(schema, required=member == "eesId")
                for member, schema in _ees_info_members().items()
            },
        }

    def export(self, instance: EES) -> dict[str, Any]:
        return {
            "edn": instance.edn.edn_id,
            "source": instance.source,
            **inventory_file.canonical_ees(instance),
        }

    def field_keys(self) -> dict[str, str]:
        return datamodel.FIELD_TO_MEMBER

    def prepare(self, entry: dict[str, Any], instance: Any) -> tuple[Any, list[str]]:
        info = {k: v for k, v in entry.items() if k != "edn"}
        messages = inventory_file.ees_entry_errors("", info)
        edn_id = entry.get("edn")
        edn = EDN.objects.filter(edn_id=edn_id).first() if isinstance(edn_id, str) else None
        if edn is None or not edn_id:
            messages.append(f".edn: {edn_id!r} is not the id of an EDN")
        ees = instance or EES()
        if not messages:
            for name, value in datamodel.ees_fields(info).items():
                setattr(ees, name, value)
            ees.edn = edn
        return ees, messages


# --- partners/ and policies/ ----------------------------------------------------------------


class PartnerSerializer(EntrySerializer):
    """A ``partners`` entry. ``inboundToken``: given literally or as ``sha256:<hex>``; when a
    new partner has none, one is generated and returned in the create response only; reads
    give ``sha256:<hex>``. ``outboundToken`` and ``clientSecret`` are returned only as
    ``env:NAME`` references, never literally."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return key_fields(
            partner_file.PARTNER_KEYS,
            {
                "plmns": plmn_list(required=False),
                "redirectSnssai": _schema_field(
                    apidoc.schema("TS29571_CommonData.yaml", "Snssai"),
                    required=False,
                    allow_null=True,
                    help_text="S-NSSAI of the PDU session that reaches the partner ECS "
                    "(roamingMode redirect).",
                ),
                "inboundToken": serializers.CharField(
                    required=False,
                    help_text="The token the partner presents to us: literal or sha256:<hex>. "
                    "Generated when a new partner has none, and returned once, in the create "
                    "response; reads give sha256:<hex>.",
                ),
                "outboundToken": serializers.CharField(
                    required=False,
                    help_text="What we present to the partner: a literal (never returned) or "
                    "env:NAME.",
                ),
                "clientSecret": serializers.CharField(
                    required=False,
                    help_text="Our client secret at the partner's token endpoint: a literal "
                    "(never returned) or env:NAME.",
                ),
            },
        )

    def field_keys(self) -> dict[str, str]:
        return partner_file.PARTNER_KEYS.fields

    def export(self, instance: PartnerECS) -> dict[str, Any]:
        entry = partner_file.export_partner(instance)
        token = getattr(instance, "_new_inbound_token", None)
        if token:
            entry["inboundToken"] = token
        return entry

    def prepare(self, entry: dict[str, Any], instance: Any) -> tuple[Any, list[str]]:
        partner = instance or PartnerECS()
        messages, _ = partner_file.partner_entry_errors("", entry, partner)
        if not messages and partner._state.adding and "inboundToken" not in entry:
            partner._new_inbound_token = partner.rotate_inbound_token()
        return partner, messages


class PolicySerializer(EntrySerializer):
    """A ``policies`` entry; ``partner`` is the partner's id."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return key_fields(
            partner_file.POLICY_KEYS,
            {
                "id": serializers.CharField(help_text="The policy's id (required by the API)."),
                "partner": serializers.CharField(
                    help_text="A configured partner ECS's id, the ECS id of an ECS known only "
                    'through the ECS-ER, or "*" (with requesterEcsps).'
                ),
                "servingPlmns": plmn_list(required=False, allow_null=True),
            },
        )

    def field_keys(self) -> dict[str, str]:
        return partner_file.POLICY_KEYS.fields

    def export(self, instance: AuthorizationPolicy) -> dict[str, Any]:
        return partner_file.export_policy(instance)

    def prepare(self, entry: dict[str, Any], instance: Any) -> tuple[Any, list[str]]:
        messages = _require_id(entry, "policy")
        partner_id = entry.get("partner")
        partner_pk = (
            PartnerECS.objects.filter(partner_id=partner_id, source=PartnerECS.SOURCE_CONFIGURED)
            .values_list("pk", flat=True)
            .first()
            if isinstance(partner_id, str)
            else None
        )
        # No configured partner of that id: the policy names an ECS known only through the
        # ECS-ER (or "*").
        ecs_id = partner_id if isinstance(partner_id, str) and partner_id.strip() else ""
        if partner_pk is None and not ecs_id:
            messages.append(f".partner: {partner_id!r} is no partner or ECS id")
        policy = instance or AuthorizationPolicy()
        messages += partner_file.policy_entry_errors("", entry, policy, partner_pk, ecs_id)
        return policy, messages


# --- Read-only resources ------------------------------------------------------------------


class CacheEntrySerializer(serializers.ModelSerializer):
    """A partner's cached answer: the canonical query, the answer, expiry and hits."""

    id = serializers.IntegerField(source="pk", read_only=True)
    partner = serializers.CharField(source="partner.partner_id", read_only=True)
    fresh = serializers.BooleanField(read_only=True)
    fetchedAt = serializers.DateTimeField(source="fetched_at", read_only=True)
    expiresAt = serializers.DateTimeField(source="expires_at", read_only=True)
    lastHitAt = serializers.DateTimeField(source="last_hit_at", read_only=True, allow_null=True)
    answer = _schema_field(
        {"type": "array", "items": apidoc.schema(EDGE4, "EDNConfigInfo")}, read_only=True
    )

    class Meta:
        model = ProvisioningCacheEntry
        fields = [
            "id",
            "partner",
            "key",
            "query",
            "answer",
            "fresh",
            "fetchedAt",
            "expiresAt",
            "hits",
            "lastHitAt",
        ]
        read_only_fields = fields


class ECSRegistrationSerializer(serializers.ModelSerializer):
    """An ECS registered at this ECS-ER, read-only: members write it through the ECS
    registration API; ``expTime`` absent (null) means it never expires."""

    id = serializers.CharField(source="registration_id", read_only=True)
    ecsId = serializers.CharField(source="ecs_id", read_only=True)
    ecspId = serializers.CharField(source="ecsp_id", read_only=True)
    apiRoot = serializers.CharField(source="api_root", read_only=True)
    ecsProfile = _schema_field(
        apidoc.schema(ECS_REGISTRATION.schema_file, "ECSProfile"), source="profile", read_only=True
    )
    expTime = serializers.DateTimeField(source="expires_at", read_only=True, allow_null=True)
    registeredBy = serializers.CharField(source="registered_by", read_only=True)

    class Meta:
        model = ECSRegistration
        fields = [
            "id",
            "ecsId",
            "ecspId",
            "apiRoot",
            "ecsProfile",
            "expTime",
            "registeredBy",
            "created",
            "updated",
        ]
        read_only_fields = fields


class AuditSerializer(serializers.Serializer):
    """A retrieval audit record, with the keys ``ecs_audit --json`` prints."""

    id = serializers.IntegerField(read_only=True)
    at = serializers.DateTimeField(read_only=True)
    direction = serializers.ChoiceField(RetrievalAudit.DIRECTIONS, read_only=True)
    partner = serializers.CharField(read_only=True)
    requestId = serializers.CharField(read_only=True)
    query = serializers.JSONField(read_only=True)
    decision = serializers.ChoiceField(RetrievalAudit.DECISIONS, read_only=True)
    reason = serializers.CharField(read_only=True)
    status = serializers.IntegerField(read_only=True, allow_null=True)
    ednCount = serializers.IntegerField(read_only=True)
    cache = serializers.CharField(read_only=True, allow_null=True)
    latencyMs = serializers.FloatField(read_only=True)
    failed = serializers.BooleanField(read_only=True)
    # An explanation's call ("why this answer"), not traffic: neither hit nor miss.
    dryRun = serializers.BooleanField(read_only=True)

    def to_representation(self, instance: RetrievalAudit) -> dict[str, Any]:
        return {"id": instance.pk, **audit_json(instance)}


class AttemptSerializer(serializers.ModelSerializer):
    durationMs = serializers.FloatField(source="duration_ms", read_only=True)

    class Meta:
        model = DeliveryAttempt
        fields = ["at", "status", "error", "durationMs"]
        read_only_fields = fields


class NotificationSerializer(serializers.ModelSerializer):
    """A notification of the outbox, with every attempt to deliver it (newest first)."""

    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", read_only=True)
    deliveredAt = serializers.DateTimeField(source="delivered_at", read_only=True, allow_null=True)
    lastError = serializers.CharField(source="last_error", read_only=True)
    attemptLog = AttemptSerializer(source="attempt_log", many=True, read_only=True)

    class Meta:
        model = Notification
        # headers are left out: they may hold a resolved reference to a credential.
        fields = [
            "id",
            "kind",
            "subscription",
            "destination",
            "payload",
            "state",
            "created",
            "nextAttemptAt",
            "attempts",
            "deliveredAt",
            "lastError",
            "attemptLog",
        ]
        read_only_fields = fields


class APIClientSerializer(serializers.ModelSerializer):
    """An OAuth 2.0 API client of the 3GPP APIs. ``clientSecret`` appears once: in the create
    response (only its hash is stored)."""

    clientId = serializers.CharField(source="application.client_id", read_only=True)
    clientSecret = serializers.CharField(read_only=True, required=False)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(sorted(api_scopes())), allow_empty=False
    )

    class Meta:
        model = APIClient
        fields = ["id", "kind", "identity", "scopes", "clientId", "clientSecret", "created"]
        read_only_fields = ["id", "clientId", "clientSecret", "created"]
        # The (kind, identity) uniqueness is checked in validate(), to name the member.
        validators: list[Any] = []

    def to_representation(self, instance: APIClient) -> dict[str, Any]:
        data = super().to_representation(instance)
        secret = getattr(instance, "_new_client_secret", None)
        if secret:
            data["clientSecret"] = secret
        else:
            data.pop("clientSecret", None)
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        clash = APIClient.objects.filter(kind=attrs["kind"], identity=attrs["identity"])
        if clash.exists():
            raise errors.InvalidRequest(
                "The request is not valid.",
                invalid_params=invalid_params(
                    [".identity: an API client of this kind has this identity already"]
                ),
            )
        return attrs

    def create(self, validated_data: dict[str, Any]) -> APIClient:
        secret = generate_client_secret()
        application = Application.objects.create(
            name=f"{validated_data['kind']}:{validated_data['identity']}",
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            client_secret=secret,  # hashed by the model on save
        )
        client = APIClient.objects.create(application=application, **validated_data)
        client._new_client_secret = secret
        return client


class ChangeSerializer(serializers.Serializer):
    """One entry of the change log (every write path: admin, API, ecs_apply, EDGE-6)."""

    id = serializers.CharField(help_text="<model>:<change-log row>, e.g. partner:12.")
    model = serializers.CharField()
    object = serializers.CharField(help_text="The object's id as the configuration file has it.")
    action = serializers.ChoiceField(["created", "changed", "deleted"])
    user = serializers.CharField(allow_null=True, help_text="The username, if a user acted.")
    actor = serializers.CharField(help_text="Who acted: a user, an API client, a command.")
    requestId = serializers.CharField()
    reason = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField()
    diff = serializers.DictField(
        child=serializers.DictField(), help_text="field -> {old, new}; empty when created."
    )

    def to_representation(self, instance: dict[str, Any]) -> dict[str, Any]:
        return instance


class ChangePageSerializer(serializers.Serializer):
    """A page of the change log: ``next`` is the URL of the next page, or null."""

    next = serializers.URLField(allow_null=True)
    results = ChangeSerializer(many=True)
