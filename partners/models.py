"""Partner ECSs, what they may ask us, what they answered us, and every exchange.

* ``PartnerECS``: an ECS we federate with, in both roles -- we ask it (``apiRoot``, with
  a static ``outboundToken`` or OAuth 2.0 client credentials for its token endpoint) and it
  asks us (``inboundToken``, kept only as a SHA-256 hash).
* ``AuthorizationPolicy``: what a partner may ask us and what we disclose (deny by default).
* ``ProvisioningCacheEntry``: a partner's answer to one canonical query, reused until it
  expires (TS 23.558 clause 8.17.2.4.2.2 step 4).
* ``RetrievalAudit``: one row per retrieval, inbound or outbound, and per exchange with the
  NEF; never edited.
* ``NEFConfiguration``: the NEF we ask for a UE's roaming status and location (the ``nef``
  section of the configuration file; a single row, absent = no NEF).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from ecscore.fields import HttpURLField
from ecscore.history import change_log
from provisioning import signals
from provisioning.areas import plmn_key
from provisioning.models import (
    COMMON_29571,
    dnn_validator,
    schema_errors,
    unknown_members,
    validate_plmn_list,
    validate_string_list,
)

from .credentials import (
    ENV_PREFIX,
    ClientCredentials,
    federation_credential,
    hash_token,
    new_token,
    resolve_secret,
)
from .eecs_ecsserviceprovisioning import API as EDGE10
from .querysets import ProvisioningCacheEntryManager, RetrievalAuditManager

TOKEN_HASH_PREFIX = "sha256:"
# The EDGE-10 scope of TS 29.558 clause 7: what we ask a partner's token endpoint for.
DEFAULT_SCOPE = EDGE10.scope


def validate_snssai(value: Any) -> None:
    """A 3GPP Snssai (TS 29.571): ``{"sst": 0-255, "sd": 6 hex digits}``, nothing else."""
    if not isinstance(value, dict):
        raise ValidationError('Must be a 3GPP Snssai object, e.g. {"sst": 1, "sd": "000001"}.')
    errors = unknown_members(value, ("sst", "sd"), "", "Snssai")
    errors += schema_errors(value, COMMON_29571, "Snssai")
    if errors:
        raise ValidationError(errors)


class PartnerECS(models.Model):
    CONSULT_ALWAYS = "always"
    CONSULT_ROAMING_ONLY = "roaming_only"
    CONSULT_WHEN_NO_LOCAL_MATCH = "when_no_local_match"
    CONSULT_CHOICES = [
        (CONSULT_ALWAYS, "always"),
        (CONSULT_ROAMING_ONLY, "roaming only (UE's serving PLMN is one of the partner's)"),
        (CONSULT_WHEN_NO_LOCAL_MATCH, "when nothing local matches"),
    ]
    # TS 24.558 clause 7: a UE roaming in the partner's PLMNs is either answered with what we
    # retrieve from the partner (EDGE-10), or redirected to it (redirectedECS).
    ROAMING_RETRIEVE = "retrieve"
    ROAMING_REDIRECT = "redirect"
    ROAMING_CHOICES = [
        (ROAMING_RETRIEVE, "retrieve (we ask the partner over EDGE-10 and answer the EEC)"),
        (ROAMING_REDIRECT, "redirect (the EEC is sent to the partner ECS: redirectedECS)"),
    ]
    # Where the partner comes from: the operator (file, admin, OAM API), or ECS discovery at
    # the ECS-ER we are a member of (issue 17), which keeps such rows current itself.
    SOURCE_CONFIGURED = "configured"
    SOURCE_DISCOVERED = "discovered"
    SOURCE_CHOICES = [
        (SOURCE_CONFIGURED, "configured"),
        (SOURCE_DISCOVERED, "discovered at the ECS-ER"),
    ]

    partner_id = models.CharField(
        "partner ECS id",
        max_length=255,
        unique=True,
        help_text="The partner ECS's identity; it sends this as reqEcsId.",
    )
    ecsp = models.CharField("ECSP", max_length=255, blank=True, default="", db_index=True)
    source = models.CharField(
        max_length=16, choices=SOURCE_CHOICES, default=SOURCE_CONFIGURED, db_index=True
    )
    api_root = HttpURLField(
        "API root", max_length=500, help_text="e.g. https://ecs.partner.example"
    )
    plmns = models.JSONField(
        "PLMNs",
        default=list,
        blank=True,
        validators=[validate_plmn_list],
        help_text="PLMNs the partner serves (list of PlmnId).",
    )
    consult = models.CharField(
        max_length=24,
        choices=CONSULT_CHOICES,
        default=CONSULT_ROAMING_ONLY,
        help_text="When we ask this partner for provisioning information.",
    )
    roaming_mode = models.CharField(
        max_length=8,
        choices=ROAMING_CHOICES,
        default=ROAMING_RETRIEVE,
        help_text="What we do for an EEC whose UE roams in one of the partner's PLMNs.",
    )
    redirect_dnn = models.CharField(
        "redirect DNN",
        max_length=255,
        blank=True,
        default="",
        validators=[dnn_validator],
        help_text="DNN of the PDU session that reaches the partner ECS (redirect mode); "
        "empty = none given.",
    )
    redirect_snssai = models.JSONField(
        "redirect S-NSSAI",
        null=True,
        blank=True,
        default=None,
        validators=[validate_snssai],
        help_text='S-NSSAI of that PDU session (3GPP Snssai, e.g. {"sst": 1}); empty = none.',
    )
    outbound_token = models.CharField(
        "outbound token",
        max_length=500,
        blank=True,
        default="",
        help_text="Credential we present to the partner: a literal token, or env:NAME to "
        "read it from the environment variable NAME (preferred). Not used when a token URL "
        "is given.",
    )
    token_url = HttpURLField(
        "token URL",
        max_length=500,
        blank=True,
        default="",
        help_text="The partner's OAuth 2.0 token endpoint. When given, we obtain access "
        "tokens there (client credentials grant) instead of presenting the outbound token.",
    )
    client_id = models.CharField(
        "client id",
        max_length=255,
        blank=True,
        default="",
        help_text="Our client id at the partner's token endpoint.",
    )
    client_secret = models.CharField(
        "client secret",
        max_length=500,
        blank=True,
        default="",
        help_text="Our client secret there: a literal, or env:NAME to read it from the "
        "environment variable NAME (preferred).",
    )
    scope = models.CharField(
        max_length=255,
        blank=True,
        default=DEFAULT_SCOPE,
        help_text="The scope we ask the token endpoint for; empty = the partner's default.",
    )
    inbound_token_hash = models.CharField(
        "inbound token (SHA-256)",
        max_length=64,
        blank=True,
        default="",
        db_index=True,
        help_text="Hash of the credential the partner presents to us; the token itself "
        "is shown once when generated and never stored.",
    )
    default_lifetime = models.PositiveIntegerField(
        default=300, help_text="Seconds to cache an answer that carries no lifetime; 0 = don't."
    )
    max_lifetime = models.PositiveIntegerField(
        default=86400, help_text="Cap on any lifetime the partner sends; 0 = never cache."
    )
    timeout = models.FloatField(
        default=2.0,
        validators=[MinValueValidator(0.05), MaxValueValidator(60)],
        help_text="Seconds to wait for the partner's answer.",
    )
    enabled = models.BooleanField(default=True)
    breaker_threshold = models.PositiveIntegerField(
        "circuit breaker threshold",
        default=5,
        validators=[MinValueValidator(1)],
        help_text="Consecutive failures that open the circuit (no calls for the cool-down).",
    )
    breaker_cooldown = models.FloatField(
        "circuit breaker cool-down",
        default=30.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(86400)],
        help_text="Seconds the circuit stays open before one probe call is let through.",
    )
    share_ue_id = models.BooleanField(
        "share UE id", default=False, help_text="Send the UE's GPSI to this partner."
    )
    subscribe = models.BooleanField(
        default=False, help_text="Subscribe at the partner for the queries we cache."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    # Credentials are never copied into the change log.
    history = change_log(excluded_fields=["outbound_token", "client_secret"])

    class Meta:
        verbose_name = "partner ECS"
        verbose_name_plural = "partner ECSs"
        ordering = ["partner_id"]

    def __str__(self) -> str:
        return self.partner_id

    def clean(self) -> None:
        errors: dict[str, ValidationError] = {}
        for name in ("outbound_token", "client_secret"):
            if getattr(self, name) == ENV_PREFIX:
                errors[name] = ValidationError("env: needs a variable name.", code="env_name")
        if self.roaming_mode == self.ROAMING_REDIRECT and not self.plmn_keys():
            # Redirection applies to UEs roaming in the partner's PLMNs: without any, never.
            errors["plmns"] = ValidationError(
                "A partner in redirect mode needs the PLMNs whose roaming UEs it takes.",
                "required_with",
                {"field": "roaming_mode"},
            )
        if self.token_url:
            # code/params: the configuration file says "clientId: required with tokenUrl".
            needs = {"field": "token_url"}
            if not self.client_id:
                errors["client_id"] = ValidationError(
                    "A token URL needs the client id we have there.", "required_with", needs
                )
            if not self.client_secret:
                errors.setdefault(
                    "client_secret",
                    ValidationError(
                        "A token URL needs the client secret we have there.", "required_with", needs
                    ),
                )
        if errors:
            raise ValidationError(errors)

    @property
    def uses_oauth(self) -> bool:
        """We obtain tokens at the partner's token endpoint (else: the static token)."""
        return bool(self.token_url)

    def plmn_keys(self) -> set[str]:
        return {k for k in (plmn_key(p) for p in self.plmns or []) if k}

    @property
    def redirects(self) -> bool:
        return self.roaming_mode == self.ROAMING_REDIRECT

    def _redirect_state(self) -> tuple[Any, ...] | None:
        """What answers take from this partner without asking it: whom it redirects, where."""
        if not (self.enabled and self.redirects):
            return None
        return (self.redirect_info(), sorted(self.plmn_keys()))

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A redirect needs no call and no cache entry, so nothing else tells the EEC
        # subscriptions that one began, changed or ended: a change event does.
        stored = PartnerECS.objects.filter(pk=self.pk).first() if self.pk else None
        before = stored._redirect_state() if stored else None
        with transaction.atomic():
            super().save(*args, **kwargs)
            if self._redirect_state() != before:
                signals.changed(PartnerECS)

    def redirect_info(self) -> dict[str, Any]:
        """The ECSRedirectInfo (TS 24.558) that sends an EEC to this partner ECS: its API
        root as the EndPoint, and the PDU session's DNN and S-NSSAI when configured."""
        info: dict[str, Any] = {"ecsEndPt": {"uri": self.api_root}}
        if self.redirect_dnn:
            info["dnn"] = self.redirect_dnn
        if self.redirect_snssai:
            # A copy: the partner may be the per-process memo's, shared by every request.
            info["snssai"] = dict(self.redirect_snssai)
        return info

    def resolved_outbound_token(self) -> str:
        """The static token to present, read at call time (env:NAME reads the environment)."""
        return resolve_secret(self.outbound_token)

    @property
    def breaker_id(self) -> int | None:
        return self.pk

    def outbound_credential(self) -> str | ClientCredentials:
        """What our calls to the partner present: client credentials for its token endpoint
        when it has one (``partners.tokens`` turns them into an access token), else the
        static token.  A partner discovered at the ECS-ER gets a federation token (the
        ECS-ER's, for this partner's ECS id) whatever its own fields say."""
        if self.source == self.SOURCE_DISCOVERED:
            return federation_credential(self.pk, self.partner_id)
        if self.uses_oauth:
            return ClientCredentials.configured(
                self.token_url, self.client_id, self.client_secret, self.scope, self.pk
            )
        return self.resolved_outbound_token()

    def set_inbound_token(self, token: str) -> None:
        self.inbound_token_hash = hash_token(token)

    def rotate_inbound_token(self) -> str:
        token = new_token()
        self.set_inbound_token(token)
        return token


@receiver(post_delete, sender=PartnerECS)
def _redirect_deleted(sender: Any, instance: PartnerECS, **kwargs: Any) -> None:
    """A redirecting partner deleted (one by one, or the admin's bulk delete): as in save."""
    if instance._redirect_state() is not None:
        signals.changed(PartnerECS)


class AuthorizationPolicy(models.Model):
    """What one partner may ask us, and what we disclose to it. No policy, no answer."""

    policy_id = models.CharField(
        "policy id",
        max_length=255,
        blank=True,
        default="",
        help_text="Optional; without one a partner has at most one policy.",
    )
    # Whom it covers: a configured partner (``partner``), or an ECS known only through the
    # ECS-ER we are a member of (``partner_ecs_id``, its ECS id, or "*" with
    # ``requester_ecsps``: every ECS of those ECSPs), which a federation token identifies.
    partner = models.ForeignKey(
        PartnerECS, null=True, blank=True, on_delete=models.CASCADE, related_name="policies"
    )
    partner_ecs_id = models.CharField(
        "ECS id (no partner entry)",
        max_length=255,
        blank=True,
        default="",
        db_index=True,
        help_text='An ECS known only through the ECS-ER (its federation token\'s sub), or "*" '
        "for every ECS of the requester ECSPs; empty when the policy names a partner.",
    )
    requester_ecsps = models.JSONField(
        "requester ECSPs",
        null=True,
        blank=True,
        validators=[validate_string_list],
        help_text='With ECS id "*" (and only then, where it is required): the ECSPs whose '
        "ECSs are covered, by their federation token's ecspId.",
    )
    enabled = models.BooleanField(default=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    serving_plmns = models.JSONField(
        "serving PLMNs",
        null=True,
        blank=True,
        validators=[validate_plmn_list],
        help_text="Serving PLMNs the partner may ask about; empty = any.",
    )
    eas_ids = models.JSONField(
        "EAS ids",
        default=list,
        blank=True,
        validators=[validate_string_list],
        help_text='EAS ids the partner may ask for; ["*"] = any (and requests without EAS ids).',
    )
    ecsps = models.JSONField(
        "ECSPs disclosed",
        null=True,
        blank=True,
        validators=[validate_string_list],
        help_text="Which of our ECSPs' EESs may be disclosed; empty = all.",
    )
    dnns = models.JSONField(
        "DNNs disclosed",
        null=True,
        blank=True,
        validators=[validate_string_list],
        help_text="Which of our EDNs (by DNN) may be disclosed; empty = all.",
    )
    lifetime = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Seconds of lifetime we grant in answers; empty = our provisioning lifetime.",
    )
    rate_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per sliding minute; empty = unlimited."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    history = change_log()

    class Meta:
        verbose_name = "authorization policy"
        verbose_name_plural = "authorization policies"
        ordering = ["partner__partner_id", "policy_id", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy_id"], condition=~models.Q(policy_id=""), name="policy_unique_id"
            ),
            models.UniqueConstraint(
                fields=["partner"],
                condition=models.Q(policy_id=""),
                name="policy_one_unnamed_per_partner",
            ),
            models.UniqueConstraint(
                fields=["partner_ecs_id"],
                condition=models.Q(policy_id="") & ~models.Q(partner_ecs_id=""),
                name="policy_one_unnamed_per_ecs_id",
            ),
            # Exactly one of the two ways to name whom it covers.
            models.CheckConstraint(
                condition=(models.Q(partner__isnull=False) & models.Q(partner_ecs_id=""))
                | (models.Q(partner__isnull=True) & ~models.Q(partner_ecs_id="")),
                name="policy_partner_or_ecs_id",
            ),
        ]

    def __str__(self) -> str:
        return self.policy_id or f"policy of {self.requester_label}"

    @property
    def requester_label(self) -> str:
        """Whom it covers, as the file's ``partner`` names it."""
        if self.partner_id is not None:
            return self.partner.partner_id
        return self.partner_ecs_id

    def clean(self) -> None:
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValidationError({"valid_until": "Must be after valid from."})
        if self.partner_id is None and not self.partner_ecs_id:
            raise ValidationError({"partner": 'Name a partner, or an ECS id (or "*").'})
        if self.partner_id is not None and self.partner_ecs_id:
            raise ValidationError({"partner_ecs_id": "Name a partner or an ECS id, not both."})
        if self.partner_ecs_id == "*" and not self.requester_ecsps:
            raise ValidationError(
                {"requester_ecsps": 'Required with "*": the ECSPs whose ECSs it covers.'}
            )
        if self.partner_ecs_id != "*" and self.requester_ecsps:
            raise ValidationError({"requester_ecsps": 'Only with the ECS id "*".'})

    def in_force(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return (
            self.enabled
            and (self.valid_from is None or self.valid_from <= now)
            and (self.valid_until is None or now < self.valid_until)
        )


class ProvisioningCacheEntry(models.Model):
    """A partner's answer to one canonical query, reused until ``expires_at``."""

    partner = models.ForeignKey(PartnerECS, on_delete=models.CASCADE, related_name="cache")
    key = models.CharField(max_length=64, help_text="SHA-256 of the canonical query")
    query = models.JSONField(help_text="The canonical query this answer is for.")
    request = models.JSONField(
        default=dict, help_text="The ServProvReq we sent (what 'refresh now' sends again)."
    )
    answer = models.JSONField(help_text="EDNConfigInfo objects as the partner sent them.")
    fetched_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    hits = models.PositiveIntegerField(default=0)
    last_hit_at = models.DateTimeField(null=True, blank=True)
    partner_subscription_id = models.CharField(
        "partner subscription id",
        max_length=255,
        blank=True,
        default="",
        db_index=True,
        help_text="Our subscription at the partner for this query (partners that subscribe).",
    )
    partner_subscription_expires = models.DateTimeField(
        "partner subscription expires",
        null=True,
        blank=True,
        help_text="When that subscription ends; without one, when to try subscribing again.",
    )

    objects = ProvisioningCacheEntryManager()

    class Meta:
        verbose_name = "cached partner answer"
        verbose_name_plural = "cached partner answers"
        ordering = ["-fetched_at"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "key"], name="cacheentry_unique_key")
        ]
        # The dashboard counts each partner's fresh and expired entries from this index alone.
        indexes = [models.Index(fields=["partner", "expires_at"], name="cacheentry_expiry")]

    def __str__(self) -> str:
        return f"{self.partner} {self.key[:12]}"

    @property
    def fresh(self) -> bool:
        return self.expires_at > timezone.now()


class PartnerSubscription(models.Model):
    """A partner ECS's subscription to the answer of one query (clause 8.17.2.4.2.3)."""

    partner = models.ForeignKey(PartnerECS, on_delete=models.CASCADE, related_name="subscriptions")
    subscription_id = models.CharField(max_length=64, unique=True)
    body = models.JSONField(help_text="The ServProvSubsc as the partner sent it.")
    notification_destination = models.URLField(max_length=1000)
    expires_at = models.DateTimeField(db_index=True)
    digest = models.CharField(
        max_length=64, blank=True, default="", help_text="SHA-256 of the last answer."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "partner subscription"
        verbose_name_plural = "partner subscriptions"
        ordering = ["partner__partner_id", "pk"]
        # The per-partner quota counts a partner's live subscriptions on this index.
        indexes = [models.Index(fields=["partner", "expires_at"], name="partnersub_live")]

    def __str__(self) -> str:
        return f"{self.partner} {self.subscription_id}"


class PartnerSubscriptionKey(models.Model):
    """Index: what a partner subscription asks for (``provisioning.subscription_index``)."""

    subscription = models.ForeignKey(
        PartnerSubscription, on_delete=models.CASCADE, related_name="index_keys"
    )
    key = models.CharField(max_length=300)

    class Meta:
        indexes = [models.Index(fields=["key", "subscription"], name="partnersubkey_key")]

    def __str__(self) -> str:
        return self.key


#: An outbound call the partner answered usably (2xx, not failed): its partner page and
#: list say when the last one was, through the partial index of that name.
SUCCESSFUL_CALL = models.Q(
    direction="out", cache="miss", failed=False, status__gte=200, status__lt=300
)


class RetrievalAudit(models.Model):
    """One service provisioning information retrieval, in either direction."""

    INBOUND = "in"
    OUTBOUND = "out"
    NEF = "nef"
    ECS_ER = "er"
    DIRECTIONS = [
        (INBOUND, "inbound (partner asked us)"),
        (OUTBOUND, "outbound (we asked)"),
        (NEF, "NEF (we asked the home network about a UE)"),
        (ECS_ER, "ECS-ER (we discovered partner ECSs)"),
    ]
    ALLOWED = "allowed"
    DENIED = "denied"
    # The EEC was sent to the partner (redirectedECS) instead of our asking it.
    REDIRECTED = "redirect"
    DECISIONS = [(ALLOWED, "allowed"), (DENIED, "denied"), (REDIRECTED, "redirected")]
    HIT = "hit"
    MISS = "miss"
    CACHE_CHOICES = [(HIT, "hit"), (MISS, "miss"), ("", "-")]

    at = models.DateTimeField(default=timezone.now, db_index=True)
    direction = models.CharField(max_length=3, choices=DIRECTIONS)
    partner = models.ForeignKey(
        PartnerECS, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit"
    )
    partner_label = models.CharField(
        max_length=255, help_text="The partner id as seen at the time (kept if deleted)."
    )
    request_id = models.CharField(max_length=128, db_index=True)
    query = models.JSONField(default=dict)
    decision = models.CharField(max_length=8, choices=DECISIONS, default=ALLOWED)
    reason = models.CharField(max_length=255, blank=True, default="")
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    edn_count = models.PositiveIntegerField(default=0)
    cache = models.CharField(max_length=4, choices=CACHE_CHOICES, blank=True, default="")
    latency_ms = models.FloatField(default=0)
    failed = models.BooleanField(
        default=False,
        help_text="We needed the partner and got no usable answer: down, slow, invalid, or "
        "not called (circuit open). A refusal is an answer, as for the circuit breaker.",
    )
    dry_run = models.BooleanField(
        "dry run",
        default=False,
        help_text='Asked for an explanation ("why this answer"), not for an EEC: the answer '
        "was neither cached nor handed out, and the row counts as neither hit nor miss.",
    )

    objects = RetrievalAuditManager()

    class Meta:
        verbose_name = "retrieval audit record"
        verbose_name_plural = "retrieval audit log"
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["partner", "direction", "at"], name="audit_lookup"),
            # A partner's last success, without reading past its cache hits and failures.
            models.Index(
                fields=["partner", "at"], name="audit_last_success", condition=SUCCESSFUL_CALL
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.direction} {self.partner_label}"


class NEFConfiguration(models.Model):
    """The NEF (TS 29.122 MonitoringEvent) that tells us a UE's serving PLMN and location."""

    api_root = HttpURLField("API root", max_length=500, help_text="e.g. https://nef.example")
    af_id = models.CharField(
        "AF id", max_length=255, help_text="Our SCS/AS identifier at the NEF ({scsAsId})."
    )
    token_url = HttpURLField("token URL", max_length=500, blank=True, default="")
    client_id = models.CharField("client id", max_length=255, blank=True, default="")
    client_secret = models.CharField(
        "client secret",
        max_length=500,
        blank=True,
        default="",
        help_text="A literal, or env:NAME to read it from the environment (preferred).",
    )
    scope = models.CharField(max_length=255, blank=True, default="")
    timeout = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.05), MaxValueValidator(30)],
        help_text="Seconds an EDGE-4 request waits for the NEF's report (token included).",
    )
    cache_seconds = models.PositiveIntegerField(
        default=300,
        validators=[MaxValueValidator(86400)],
        help_text="Seconds a UE's report is reused; 0 = ask every time.",
    )
    breaker_threshold = models.PositiveIntegerField(default=5, validators=[MinValueValidator(1)])
    breaker_cooldown = models.FloatField(
        default=30.0, validators=[MinValueValidator(0.1), MaxValueValidator(86400)]
    )
    updated = models.DateTimeField(auto_now=True)

    history = change_log(excluded_fields=["client_secret"])

    class Meta:
        verbose_name = "NEF configuration"
        verbose_name_plural = "NEF configuration"

    def __str__(self) -> str:
        return self.api_root

    def clean(self) -> None:
        errors: dict[str, ValidationError] = {}
        if self.client_secret == ENV_PREFIX:
            errors["client_secret"] = ValidationError("env: needs a variable name.", "env_name")
        if self.token_url:
            needs = {"field": "token_url"}
            for name in ("client_id", "client_secret"):
                if not getattr(self, name):
                    errors.setdefault(
                        name,
                        ValidationError(
                            "A token URL needs our client id and secret there.",
                            "required_with",
                            needs,
                        ),
                    )
        if errors:
            raise ValidationError(errors)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1  # one NEF: the home network's
        super().save(*args, **kwargs)

    @property
    def breaker_id(self) -> str:
        return "nef"

    def credential(self) -> str | ClientCredentials:
        """Client credentials for the NEF's token endpoint, or "" (no Authorization)."""
        if not self.token_url:
            return ""
        return ClientCredentials.configured(
            self.token_url, self.client_id, self.client_secret, self.scope
        )
