"""EES registration (EDGE-6, TS 29.558 clause 8.4.4): registered EESs in the inventory.

A registered EES sits beside the configured ones: same table, ``source = registered``, its
3GPP ``EESProfile`` kept as sent so GET/PUT/PATCH return exactly it.  The API package
(``eecs_eesregistration.wire``) reads a request into a ``Registration``: the profile mapped to
our EESInfo-shaped fields, so matching treats both kinds alike.

A registration expires at the granted ``expTime`` (the proposed one, capped by
``ECS_REGISTRATION_MAX_SECONDS``; without a proposal, that maximum): an expired EES is no
longer provisioned, and ``expire_registrations`` deletes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ecscore import errors
from ecscore.datetimes import granted_expiry

from .models import EDN, EES


def default_max_seconds() -> int:
    return int(getattr(settings, "ECS_REGISTRATION_MAX_SECONDS", 86400))


@dataclass(frozen=True)
class Registration:
    """What an EES registers (or replaces its registration with)."""

    #: EES model field values (EESInfo form), ``ees_id`` among them.
    fields: dict[str, Any]
    #: The EESProfile as sent, returned verbatim by GET.
    profile: dict[str, Any]
    #: The DNN of the EDN the profile names, if any.
    dnn: str | None
    #: The expiry the EES proposes (a 3GPP DateTime), if any.
    proposed_expiry: str | None

    @property
    def ees_id(self) -> str:
        return self.fields["ees_id"]


def _edn_for(dnn: str | None) -> EDN:
    if dnn:
        edn = EDN.objects.filter(dnn=dnn).order_by("edn_id", "pk").first()
        if edn is None:
            edn = EDN.objects.create(edn_id=f"registered:{dnn}", dnn=dnn)
        return edn
    edns = list(EDN.objects.all()[:2])
    if len(edns) == 1:
        return edns[0]
    raise errors.InvalidRequest(
        "This ECS has several EDNs: the profile must name its EDN in ednInfoSets.dnn.",
        "MANDATORY_IE_MISSING",
        [{"param": "/eesProf/ednInfoSets", "reason": "needed to place the EES in an EDN"}],
    )


def _check_ees_id(ees_id: str, registration_id: str | None) -> None:
    others = EES.objects.filter(ees_id=ees_id)
    if registration_id:
        others = others.exclude(registration_id=registration_id)
    if others.filter(source=EES.SOURCE_CONFIGURED).exists():
        raise errors.Forbidden(
            f"EES {ees_id!r} is configured by the operator and cannot be registered.",
            "EES_ID_CONFIGURED",
        )
    now = timezone.now()
    live = others.filter(source=EES.SOURCE_REGISTERED).exclude(expires_at__lte=now)
    if live.exists():
        raise errors.Forbidden(
            f"EES {ees_id!r} is already registered under another registration.",
            "EES_ALREADY_REGISTERED",
        )
    # An expired registration the worker has not deleted yet does not hold on to its eesId.
    for stale in others.filter(source=EES.SOURCE_REGISTERED, expires_at__lte=now):
        stale._change_reason = "EES registration expired"
        stale.delete()


def _check_quota(caller: str) -> None:
    """At most ECS_MAX_REGISTRATIONS_PER_CLIENT live registrations per caller (0 = no limit),
    counted on the (registered_by, expires_at) index: that caller's rows only."""
    limit = settings.ECS_MAX_REGISTRATIONS_PER_CLIENT
    if not limit or not caller:
        return
    live = EES.objects.filter(
        source=EES.SOURCE_REGISTERED, registered_by=caller, expires_at__gt=timezone.now()
    )
    if live.count() >= limit:
        raise errors.Forbidden(
            f"This client already holds {limit} EES registrations, the most this ECS allows; "
            "deregister one first.",
            "REGISTRATION_QUOTA_EXCEEDED",
        )


@transaction.atomic
def create(registration: Registration, caller: str = "") -> EES:
    """Register an EES. ``caller`` names who registers it (``access.authentication.caller``),
    for the per-client quota; empty (a command, a test) counts against none."""
    _check_ees_id(registration.ees_id, None)
    _check_quota(caller)
    ees = EES(
        edn=_edn_for(registration.dnn),
        source=EES.SOURCE_REGISTERED,
        registration_id=uuid.uuid4().hex,
        registered_profile=registration.profile,
        expires_at=granted_expiry(registration.proposed_expiry, default_max_seconds()),
        registered_by=caller,
        **registration.fields,
    )
    ees._change_reason = "EES registration"
    try:
        with transaction.atomic():
            ees.save()
    except IntegrityError as exc:  # the same eesId, configured or registered meanwhile
        raise errors.Forbidden(
            f"EES {registration.ees_id!r} is already known to this ECS.",
            "EES_ALREADY_REGISTERED",
        ) from exc
    return ees


def get(registration_id: str) -> EES:
    ees = (
        EES.objects.filter(source=EES.SOURCE_REGISTERED, registration_id=registration_id)
        .select_related("edn")
        .first()
    )
    if ees is None or (ees.expires_at is not None and ees.expires_at <= timezone.now()):
        raise errors.NotFound("No such EES registration.", "RESOURCE_NOT_FOUND")
    return ees


@transaction.atomic
def update(registration_id: str, build: Callable[[EES], Registration]) -> EES:
    """Replace a registration with ``build(current EES)`` (a PUT, or a PATCH merged onto it)."""
    ees = get(registration_id)
    registration = build(ees)
    if registration.ees_id != ees.ees_id:
        raise errors.InvalidRequest(
            "eesId cannot change in an update.",
            "INVALID_MSG_FORMAT",
            [{"param": "/eesProf/eesId", "reason": f"must stay {ees.ees_id!r}"}],
        )
    for field, value in registration.fields.items():
        setattr(ees, field, value)
    ees.edn = _edn_for(registration.dnn)
    ees.registered_profile = registration.profile
    ees.expires_at = granted_expiry(registration.proposed_expiry, default_max_seconds())
    ees._change_reason = "EES registration update"
    ees.save()
    return ees


@transaction.atomic
def delete(registration_id: str) -> None:
    ees = get(registration_id)
    ees._change_reason = "EES deregistration"
    ees.delete()


def expire_registrations() -> int:
    """Delete registrations whose expiry has passed; returns how many."""
    count = 0
    expired = EES.objects.filter(source=EES.SOURCE_REGISTERED, expires_at__lte=timezone.now())
    for ees in expired.select_related("edn"):
        ees._change_reason = "EES registration expired"
        ees.delete()
        count += 1
    return count
