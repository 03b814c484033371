"""Federation models: ECS registrations at the ECS-ER and what members learn from it.

The ECS-ER side (TS 23.558 clauses 8.17.2.2, 8.17.2.3, 8.17.4.2):

* ``RepositoryConfiguration``: the ``repository`` section of the file (one row; no row, or
  ``enabled`` off, means this ECS is no ECS-ER);
* ``ECSRegistration``: an ECS profile registered by a member ECS, with its expiry, and its
  ``RegistrationKey`` rows (PLMN, ECSP) through which discovery finds it without a scan;
* ``DiscoverySubscription``: a member ECS watching the set of ECSs its filters match.

The member side: ``ECSERMembership``, the ``ecsEr`` section (which ECS-ER we trust, register
at and discover through), and ``DiscoveryCacheEntry``, a discovery answer kept for its
lifetime.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from ecscore.fields import HttpURLField
from ecscore.history import change_log
from ecscore.memo import TableMemo


class RepositoryConfiguration(models.Model):
    """The ECS-ER role (the file's ``repository`` section); a single row."""

    enabled = models.BooleanField(default=False, help_text="Serve ECS registration and discovery.")
    max_registration_seconds = models.PositiveIntegerField(
        default=86400,
        validators=[MaxValueValidator(365 * 24 * 3600)],
        help_text="The longest registration granted; 0 = a registration may never expire.",
    )
    discovery_lifetime = models.PositiveIntegerField(
        default=300,
        validators=[MaxValueValidator(86400)],
        help_text="Seconds a member may cache a discovery answer (lifetime).",
    )
    # [{"kid": ..., "privateKey": "env:NAME" | "file:PATH"}]: references, never key material.
    signing_keys = models.JSONField(default=list, blank=True)
    updated = models.DateTimeField(auto_now=True)

    history = change_log()

    class Meta:
        verbose_name = "repository (ECS-ER) configuration"
        verbose_name_plural = "repository (ECS-ER) configuration"

    def __str__(self) -> str:
        return "ECS-ER " + ("enabled" if self.enabled else "disabled")


class ECSRegistration(models.Model):
    """An ECS profile a member ECS registered here (one per ECS id)."""

    registration_id = models.CharField(max_length=64, unique=True)
    ecs_id = models.CharField("ECS id", max_length=255, unique=True)
    ecsp_id = models.CharField("ECSP id", max_length=255, blank=True, default="")
    api_root = models.CharField("address (apiRoot)", max_length=1000)
    # The ECSProfile as sent, returned verbatim by the APIs and discovery.
    profile = models.JSONField()
    # The profile's spatialValidity as a LocationArea5G (what matching reads); None: anywhere.
    area = models.JSONField(null=True, blank=True)
    supp_feat = models.TextField(blank=True, default="")
    # None: never expires (only when repository.maxRegistrationSeconds is 0).
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    registered_by = models.CharField(
        max_length=255, blank=True, default="", help_text="The API client that registered it."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    history = change_log()

    class Meta:
        verbose_name = "ECS registration"
        verbose_name_plural = "ECS registrations"
        ordering = ["ecs_id"]

    def __str__(self) -> str:
        return self.ecs_id


class RegistrationKey(models.Model):
    """What discovery narrows by: one row per supported PLMN (``ecsp`` empty), per ECSP id
    of a supported PLMN, and for the profile's own ECSP id (``plmn`` empty)."""

    registration = models.ForeignKey(ECSRegistration, on_delete=models.CASCADE, related_name="keys")
    plmn = models.CharField(max_length=16, blank=True, default="")
    ecsp = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["plmn", "ecsp"], name="ecsreg_key_plmn"),
            models.Index(fields=["ecsp"], name="ecsreg_key_ecsp"),
        ]

    def __str__(self) -> str:
        return f"{self.plmn or '*'}/{self.ecsp or '*'}"


class DiscoverySubscription(models.Model):
    """A member ECS subscribed to the ECSs its discovery filters match."""

    subscription_id = models.CharField(max_length=64, unique=True)
    requestor_id = models.CharField(max_length=255, db_index=True)
    notification_destination = models.URLField(max_length=1000)
    # The EcsInfoDiscSubscription as sent (expTime as granted is added on output).
    body = models.JSONField()
    # The filters' targetPlmn ("mcc-mnc"), empty for any: which changes can reach it.
    target_plmn = models.CharField(max_length=16, blank=True, default="", db_index=True)
    # The other filters, as the repository reads them back to evaluate the subscription.
    ecsp_ids = models.JSONField(default=list, blank=True)
    ue_location = models.JSONField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    # The matching set last notified (or found at creation), to notify changes only.
    digest = models.CharField(max_length=64, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "ECS discovery subscription"
        verbose_name_plural = "ECS discovery subscriptions"
        ordering = ["requestor_id", "subscription_id"]

    def __str__(self) -> str:
        return f"{self.requestor_id}: {self.subscription_id}"


class ECSERMembership(models.Model):
    """The member role (the file's ``ecsEr`` section): the ECS-ER this ECS trusts; one row.

    Its keys are the whole trust: the JWKS that verifies federation tokens is fetched from
    ``api_root`` and nowhere else, and the registration, discovery and tokens go to this
    ECS-ER only.  ``client_secret`` is a literal or ``env:NAME`` (read when a call needs it).
    """

    api_root = HttpURLField("ECS-ER apiRoot", max_length=1000)
    token_url = HttpURLField("token URL", max_length=1000)
    client_id = models.CharField(max_length=255)
    client_secret = models.CharField(
        max_length=1000, help_text="A literal or env:NAME; never shown once saved."
    )
    # The ``iss`` the ECS-ER signs with (its ECS id); blank: any issuer its keys sign.
    issuer = models.CharField(max_length=255, blank=True, default="")
    register = models.BooleanField(default=False, help_text="Register our ECS profile there.")
    discover = models.BooleanField(
        default=False, help_text="Discover partner ECSs there for PLMNs no partner serves."
    )
    updated = models.DateTimeField(auto_now=True)

    history = change_log(excluded_fields=["client_secret"])

    # The circuit breaker of partners.breaker, for discovery calls to the ECS-ER: fixed,
    # as for a partner's defaults (the ecsEr section names none).
    breaker_threshold = 5
    breaker_cooldown = 30.0
    breaker_id = "ecs-er"

    class Meta:
        verbose_name = "ECS-ER membership"
        verbose_name_plural = "ECS-ER membership"

    def __str__(self) -> str:
        return f"member of the ECS-ER at {self.api_root}"

    @classmethod
    def load(cls) -> ECSERMembership | None:
        """The ``ecsEr`` section's row, or None: this ECS is the member of no ECS-ER."""
        return cls.objects.filter(pk=1).first()

    @classmethod
    def current(cls) -> ECSERMembership | None:
        """``load()`` for the request path and the worker: a per-process copy, not to be
        modified or saved."""
        return _current_membership.get()


_current_membership = TableMemo([ECSERMembership], ECSERMembership.load)


class MemberRegistration(models.Model):
    """Our own registration at the ECS-ER (the member side of 8.17.4.2); one row, written
    by the worker's chore (``federation.member``) and read by /healthz, /metrics, the admin.

    The ECS-ER's address and our client credentials are kept as registered with: when the
    ``ecsEr`` section is removed, or names another ECS-ER, de-registering still knows where
    and as whom (``client_secret`` is the configured value, a literal or ``env:NAME``; cleared
    once de-registered, never shown).
    """

    registration_id = models.CharField(max_length=255, blank=True, default="")
    # As the ECS-ER granted it; None while registered means it never expires.
    expires_at = models.DateTimeField(null=True, blank=True)
    # The profile (and ECS-ER) last registered, to update only when it changes.
    digest = models.CharField(max_length=64, blank=True, default="")
    api_root = models.CharField("ECS-ER apiRoot", max_length=1000, blank=True, default="")
    token_url = models.CharField(max_length=1000, blank=True, default="")
    client_id = models.CharField(max_length=255, blank=True, default="")
    client_secret = models.CharField(max_length=1000, blank=True, default="")
    profile = models.JSONField(null=True, blank=True)
    last_attempt = models.DateTimeField(null=True, blank=True)
    last_success = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    # When the chore next calls the ECS-ER: a refresh, or a retry after a failure.
    next_attempt = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="Consecutive failures.")
    # Since the row was made: /metrics exports them as counters.
    attempts_total = models.PositiveBigIntegerField(default=0)
    failures_total = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = "our registration at the ECS-ER"
        verbose_name_plural = "our registration at the ECS-ER"

    def __str__(self) -> str:
        if self.registration_id:
            return f"registered at {self.api_root} ({self.registration_id})"
        return "not registered"


class DiscoveryCacheEntry(models.Model):
    """The ECS-ER's answer to one discovery request, kept until its lifetime ends.

    ``ecs_ids`` are the discovered ECSs we accepted (their PartnerECS rows, source
    "discovered"); a request whose entry is fresh asks those and nobody else.
    """

    key = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the request")
    request = models.JSONField(help_text="The EcsInfoDiscoveryReq sent (requestorId aside).")
    ecs_ids = models.JSONField("ECS ids", default=list)
    fetched_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "cached discovery answer"
        verbose_name_plural = "cached discovery answers"
        ordering = ["-fetched_at"]

    def __str__(self) -> str:
        return self.key[:12]
