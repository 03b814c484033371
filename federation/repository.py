"""The ECS-ER's repository: ECS registrations and ECS discovery (TS 23.558 8.17.2.2-8.17.2.3).

Plain domain logic, called by the two API packages (``eecs_ecsregistration``,
``eecs_ecsdiscovery``), the admin and the worker; errors are ``ecscore.errors``.

* A registration holds one ECS's profile (one per ECS id: registering again replaces it),
  expires at the granted time (the proposal capped at ``maxRegistrationSeconds``; no
  proposal: that cap; a cap of 0 grants what is proposed, or no expiry at all), and an
  expired one is never discovered; the worker deletes it (``expire``).
* Discovery narrows by the ``RegistrationKey`` index (target PLMN, else ECSP ids) and then
  applies the exact rules of ``matches`` to those candidates only.
* A discovery subscription keeps a digest of its matching set.  Every write of a
  registration (and every expiry) re-evaluates, in the same transaction, the subscriptions
  it can reach (``target_plmn`` one of the registration's PLMNs, before or after, or any):
  where the set changed, an ``EcsInfoDiscNotif`` goes into the outbox.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ecscore import errors, ids
from ecscore.datetimes import granted_expiry, parse_datetime
from notifications import callbacks, worker
from provisioning.areas import restricts

from .models import (
    DiscoverySubscription,
    ECSRegistration,
    RegistrationKey,
    RepositoryConfiguration,
)
from .records import Filters, Profile, Subscription

#: The outbox ``kind`` of discovery notifications.
KIND = "ecs-discovery"


# --- the role ----------------------------------------------------------------------------


def configuration() -> RepositoryConfiguration:
    """The repository section's row, or (unsaved) the defaults: disabled."""
    return RepositoryConfiguration.objects.filter(pk=1).first() or RepositoryConfiguration(pk=1)


def enabled_configuration() -> RepositoryConfiguration:
    """The configuration when this ECS is an ECS-ER; else the APIs do not exist (404)."""
    config = configuration()
    if not config.enabled:
        raise errors.NotFound("This ECS has no repository function (ECS-ER).")
    return config


# --- registrations -----------------------------------------------------------------------


def _expiry(proposed: str | None, config: RepositoryConfiguration) -> dt.datetime | None:
    if config.max_registration_seconds:
        return granted_expiry(proposed, config.max_registration_seconds)
    if not proposed:
        return None  # no cap and no proposal: it never expires (8.17.4.2)
    when = parse_datetime(proposed)
    if when is None or when <= timezone.now():
        return granted_expiry(proposed, 0)  # raises, naming /expTime
    return when


def live_registrations() -> QuerySet:
    """The registrations that have not expired."""
    return _live()


def _live(queryset: QuerySet | None = None) -> QuerySet:
    queryset = ECSRegistration.objects.all() if queryset is None else queryset
    return queryset.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))


def _keys(registration: ECSRegistration, profile: Profile) -> None:
    registration.keys.all().delete()
    rows = []
    for plmn, ecsps in sorted(profile.plmns.items()):
        rows.append(RegistrationKey(registration=registration, plmn=plmn))
        rows.extend(RegistrationKey(registration=registration, plmn=plmn, ecsp=e) for e in ecsps)
    if profile.ecsp_id:
        rows.append(RegistrationKey(registration=registration, ecsp=profile.ecsp_id))
    RegistrationKey.objects.bulk_create(rows)


def _set(registration: ECSRegistration, profile: Profile, supp_feat: str) -> None:
    registration.ecsp_id = profile.ecsp_id
    registration.api_root = profile.api_root
    registration.profile = profile.document
    registration.area = profile.area
    registration.supp_feat = supp_feat


@transaction.atomic
def register(
    profile: Profile, proposed_expiry: str | None, supp_feat: str = "", caller: str = ""
) -> ECSRegistration:
    """Register an ECS profile; an earlier registration of the same ECS is replaced (an ECS
    that restarted and lost its registration id registers again)."""
    config = enabled_configuration()
    expires_at = _expiry(proposed_expiry, config)
    before: set[str] = set()
    earlier = ECSRegistration.objects.select_for_update().filter(ecs_id=profile.ecs_id).first()
    if earlier is not None:
        before = _plmns_of(earlier)
        earlier._change_reason = "ECS registration replaced"
        earlier.delete()
    registration = ECSRegistration(
        registration_id=ids.time_ordered(),
        ecs_id=profile.ecs_id,
        expires_at=expires_at,
        registered_by=caller,
    )
    _set(registration, profile, supp_feat)
    registration._change_reason = "ECS registration"
    try:
        with transaction.atomic():
            registration.save()
    except IntegrityError as exc:  # the same ECS registering at this very moment
        raise errors.Unavailable(
            f"A registration of ECS {profile.ecs_id!r} is being written; try again.",
            retry_after=1,
        ) from exc
    _keys(registration, profile)
    _changed(before | set(profile.plmns), profile.ecs_id)
    return registration


def get(registration_id: str) -> ECSRegistration:
    """A live registration; an expired one is as gone as a deleted one."""
    enabled_configuration()
    registration = _live(ECSRegistration.objects.filter(registration_id=registration_id)).first()
    if registration is None:
        raise errors.NotFound("No such ECS registration.")
    return registration


@transaction.atomic
def update(
    registration_id: str, profile: Profile, proposed_expiry: str | None, supp_feat: str = ""
) -> ECSRegistration:
    """Replace a registration's profile and refresh its expiry (PUT, or a merged PATCH)."""
    config = enabled_configuration()
    registration = get(registration_id)
    if profile.ecs_id != registration.ecs_id:
        raise errors.InvalidRequest(
            "ecsId cannot change in an update.",
            "INVALID_MSG_FORMAT",
            [{"param": "/ecsProfile/ecsId", "reason": f"must stay {registration.ecs_id!r}"}],
        )
    before = _plmns_of(registration)
    registration.expires_at = _expiry(proposed_expiry, config)
    _set(registration, profile, supp_feat)
    registration._change_reason = "ECS registration update"
    registration.save()
    _keys(registration, profile)
    _changed(before | set(profile.plmns), registration.ecs_id)
    return registration


@transaction.atomic
def deregister(registration: ECSRegistration, reason: str = "ECS de-registration") -> None:
    """Delete a registration and tell the subscriptions it was in (API, admin, expiry)."""
    plmns = _plmns_of(registration)
    registration._change_reason = reason
    registration.delete()
    _changed(plmns, registration.ecs_id)


def expire() -> int:
    """The worker's chore: delete the registrations and subscriptions whose expiry passed,
    touching only those (the ``expires_at`` indexes); returns how many registrations."""
    now = timezone.now()
    count = 0
    for registration in ECSRegistration.objects.filter(expires_at__lte=now).order_by("pk")[:500]:
        deregister(registration, "ECS registration expired")
        count += 1
    with transaction.atomic():
        gone = DiscoverySubscription.objects.filter(expires_at__lte=now)
        worker.cancel(gone.values_list("subscription_id", flat=True), "subscription expired")
        gone.delete()
    return count


def _plmns_of(registration: ECSRegistration) -> set[str]:
    return set(
        RegistrationKey.objects.filter(registration=registration)
        .exclude(plmn="")
        .values_list("plmn", flat=True)
    )


# --- discovery ---------------------------------------------------------------------------


def matches(registration: ECSRegistration, filters: Filters) -> bool:
    """The discovery rule: PLMN, then ECSP (the profile's own, or the matched PLMNs'), then
    location (only when both the request and the profile say one)."""
    keys = list(registration.keys.all())
    plmns = {k.plmn for k in keys if k.plmn}
    if filters.target_plmn is not None and filters.target_plmn not in plmns:
        return False
    if filters.ecsp_ids:
        matched = {filters.target_plmn} if filters.target_plmn is not None else plmns
        offered = {registration.ecsp_id} | {k.ecsp for k in keys if k.plmn in matched}
        if not (offered - {""}) & filters.ecsp_ids:
            return False
    if filters.location and restricts(registration.area):
        return filters.location.served_by(registration.area)
    return True


def _candidates(filters: Filters) -> QuerySet:
    """Live registrations the index says may match (a superset of the answer)."""
    queryset = _live()
    if filters.target_plmn is not None:
        keyed = RegistrationKey.objects.filter(plmn=filters.target_plmn)
        queryset = queryset.filter(pk__in=keyed.values("registration_id"))
    elif filters.ecsp_ids:
        keyed = RegistrationKey.objects.filter(ecsp__in=sorted(filters.ecsp_ids))
        queryset = queryset.filter(pk__in=keyed.values("registration_id"))
    return queryset.prefetch_related("keys").order_by("ecs_id")


def discover(filters: Filters, requestor_id: str) -> list[ECSRegistration]:
    """The live registrations matching the filters, the requester's own left out."""
    candidates = _candidates(filters).exclude(ecs_id=requestor_id)
    return [r for r in candidates if matches(r, filters)]


# --- subscriptions -----------------------------------------------------------------------


def digest(registrations: Iterable[ECSRegistration]) -> str:
    """What a subscriber sees of a matching set: the profiles, in ECS id order."""
    text = json.dumps(
        [r.profile for r in sorted(registrations, key=lambda r: r.ecs_id)], sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()


#: The longest callback URL kept (the outbox's destination column).
MAX_DESTINATION_LENGTH = 1000


def _destination(url: str) -> str:
    problem = callbacks.problem_with(url)
    if not problem and len(url) > MAX_DESTINATION_LENGTH:
        problem = f"is longer than {MAX_DESTINATION_LENGTH} characters"
    if problem:
        raise errors.InvalidRequest(
            f"notificationDestination {problem}.",
            "INVALID_MSG_FORMAT",
            [{"param": "/notificationDestination", "reason": problem}],
        )
    return url


#: (subscription id, matching registrations) -> the notification body: the discovery API's
#: wire format, which registers itself (``set_notification_format``) when the app is ready.
NotificationFormat = Callable[[str, list[ECSRegistration]], dict[str, Any]]
_notification_format: NotificationFormat | None = None


def set_notification_format(build: NotificationFormat) -> None:
    global _notification_format
    _notification_format = build


def _notify(sub: DiscoverySubscription, found: list[ECSRegistration]) -> None:
    assert _notification_format is not None, "the discovery API registers its format"
    worker.enqueue(
        KIND,
        sub.subscription_id,
        sub.notification_destination,
        _notification_format(sub.subscription_id, found),
    )


def stored_filters(sub: DiscoverySubscription) -> Filters:
    return Filters.of(sub.target_plmn or None, sub.ecsp_ids, sub.ue_location)


def _save_subscription(sub: DiscoverySubscription, request: Subscription) -> None:
    sub.requestor_id = request.requestor_id
    sub.notification_destination = _destination(request.destination)
    sub.body = request.document
    sub.target_plmn = request.filters.target_plmn or ""
    sub.ecsp_ids = sorted(request.filters.ecsp_ids)
    sub.ue_location = request.filters.location_info
    sub.expires_at = granted_expiry(request.proposed_expiry, settings.ECS_SUBSCRIPTION_MAX_SECONDS)
    found = discover(request.filters, request.requestor_id)
    sub.digest = digest(found)
    sub.save()
    if request.test_notification:
        _notify(sub, found)


@transaction.atomic
def subscribe(request: Subscription) -> DiscoverySubscription:
    enabled_configuration()
    limit = settings.ECS_MAX_SUBSCRIPTIONS_PER_PARTNER
    live = DiscoverySubscription.objects.filter(
        requestor_id=request.requestor_id, expires_at__gt=timezone.now()
    )
    if limit and live.count() >= limit:
        raise errors.Forbidden(
            f"ECS {request.requestor_id!r} already holds {limit} discovery subscriptions, the "
            "most this ECS-ER allows; delete one first.",
            "SUBSCRIPTION_QUOTA_EXCEEDED",
        )
    sub = DiscoverySubscription(subscription_id=ids.time_ordered())
    _save_subscription(sub, request)
    return sub


def subscription(subscription_id: str) -> DiscoverySubscription:
    enabled_configuration()
    sub = DiscoverySubscription.objects.filter(
        subscription_id=subscription_id, expires_at__gt=timezone.now()
    ).first()
    if sub is None:
        raise errors.NotFound("No such ECS discovery subscription.")
    return sub


@transaction.atomic
def resubscribe(sub: DiscoverySubscription, request: Subscription) -> DiscoverySubscription:
    """Replace a subscription (PUT, or a merged PATCH); requestorId may not change."""
    if request.requestor_id != sub.requestor_id:
        raise errors.InvalidRequest(
            "requestorId cannot change in an update.",
            "INVALID_MSG_FORMAT",
            [{"param": "/requestorId", "reason": f"must stay {sub.requestor_id!r}"}],
        )
    _save_subscription(sub, request)
    return sub


@transaction.atomic
def unsubscribe(sub: DiscoverySubscription) -> None:
    sub.delete()
    worker.cancel([sub.subscription_id], "subscription deleted")


def _changed(plmns: set[str], ecs_id: str) -> None:
    """Re-evaluate the subscriptions a change of ``ecs_id``'s registration can reach."""
    reach = DiscoverySubscription.objects.filter(
        target_plmn__in=sorted(plmns | {""}), expires_at__gt=timezone.now()
    ).exclude(requestor_id=ecs_id)  # the requester is never in its own answer
    for sub in reach.select_for_update().order_by("pk"):
        found = discover(stored_filters(sub), sub.requestor_id)
        new_digest = digest(found)
        if new_digest == sub.digest:
            continue
        sub.digest = new_digest
        sub.save(update_fields=["digest", "updated"])
        _notify(sub, found)
