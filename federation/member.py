"""The member ECS registers its own ECS profile at its ECS-ER (TS 23.558 clause 8.17.4.2).

With ``ecsEr.register: true`` the worker's chore ``tick`` keeps our registration at the
ECS-ER named by the ``ecsEr`` section in step with our configuration:

* registers (POST) at start, with the profile of clause 8.2.12 as our registration file
  names it: ``ecsId`` and ``ecspId`` (the ``ecs`` section), ``ecsAddr`` (``ECS_PUBLIC_URL``),
  ``supportedPlmns`` (the home PLMNs, each with our ECSP) and ``spatialValidity`` (the TAIs
  and cells of our EDNs' topological service areas, see ``served_area``);
* updates (PUT) when that profile changes -- a digest of what was last registered tells;
* refreshes (PUT) at ``REFRESH_FRACTION`` of the lifetime the ECS-ER granted;
* de-registers (DELETE) when ``register`` is switched off or the section removed, at the
  ECS-ER and as the client we registered with (kept in the state row for that);
* a failure is retried with capped exponential backoff; it never raises out of ``tick``.

The state is one row (``MemberRegistration``).  A tick with nothing due reads that row only:
the inputs of the profile come from table memos (``ecscore.memo``), reloaded only when their
tables were written.  Tokens are the partners' client credentials (``partners.tokens``) at
``ecsEr.tokenUrl`` with the scope ``eecs-ecsregistration``.  No secret is ever part of a
reason, a log line or the state shown.

The ECS-ER's apiRoot and token URL are the operator's configuration, so they are called
without the private-address check that guards URLs learned at run time (as partners' are:
``ecscore.outbound``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ecscore import outbound
from ecscore.datetimes import format_datetime, parse_datetime
from ecscore.memo import TableMemo
from partners import tokens
from partners.credentials import ClientCredentials
from provisioning.models import EDN, ECSConfiguration

from .eecs_ecsregistration import API
from .models import ECSERMembership, MemberRegistration

logger = logging.getLogger(__name__)

SCOPE = API.scope  # "eecs-ecsregistration"
#: How often the worker looks (seconds); a look with nothing due reads one row.
TICK_SECONDS = 5
#: Each call to the ECS-ER (token included) keeps within this many seconds.
CALL_SECONDS = 10.0
#: Refresh when this fraction of the granted lifetime has passed.
REFRESH_FRACTION = 2 / 3
#: Backoff after the n-th consecutive failure: FIRST_RETRY * 2**(n-1), at most MAX_RETRY.
FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 600.0
MAX_ANSWER_BYTES = 256 * 1024
REGISTRATIONS = "/eecs-ecsregistration/v1/registrations"


class RegistrationFailed(Exception):
    """A call to the ECS-ER did not do what it should; the reason is safe to show."""


def _load_served_area() -> dict[str, Any] | None:
    """Our served area as a ServiceArea (topServAr), from the EDNs' topological areas.

    The union of their TAIs, NCGIs and ECGIs.  ``None`` -- no spatialValidity, valid
    anywhere in our PLMNs -- when there is no EDN, or one EDN's area is not given by TAIs or
    cells (none at all: it serves anywhere; geographic or civic only: we do not turn shapes
    into TAIs), since a spatialValidity narrower than what we serve would hide us from
    discovery where we do serve.
    """
    found: dict[str, dict[str, str]] = {"tais": {}, "ncgis": {}, "ecgis": {}}
    edns = 0
    for area in EDN.objects.values_list("edn_topo_srv_area", flat=True).iterator():
        edns += 1
        network = (area or {}).get("nwAreaInfo") or {}
        members = [(k, v) for k in found for v in network.get(k) or []]
        if not members:
            return None
        for kind, value in members:
            found[kind].setdefault(json.dumps(value, sort_keys=True), value)
    if not edns:
        return None
    top = {k: [found[k][key] for key in sorted(found[k])] for k in found if found[k]}
    return {"topServAr": top}


# Computed when the inventory's EDNs change, never per tick or per request.
_served_area = TableMemo([EDN], _load_served_area)


def served_area() -> dict[str, Any] | None:
    return _served_area.get()


def profile() -> dict[str, Any]:
    """Our ECSProfile (clause 8.2.12) as ``ECSPortal_Eecs_ECSRegistration.yaml`` names it.

    Raises ``RegistrationFailed`` when ``ECS_PUBLIC_URL`` is unset: without an address no
    member could call us.
    """
    address = settings.ECS_PUBLIC_URL
    if not address:
        raise RegistrationFailed("ECS_PUBLIC_URL is unset: the ECS has no address to register")
    config = ECSConfiguration.current()
    body: dict[str, Any] = {"ecsId": config.ecs_id, "ecsAddr": {"uri": address}}
    if config.ecsp:
        body["ecspId"] = config.ecsp
    plmns = [
        {"plmnId": p, **({"ecspIds": [config.ecsp]} if config.ecsp else {})}
        for p in config.home_plmns or []
    ]
    if plmns:
        body["supportedPlmns"] = plmns
    area = served_area()
    if area:
        body["spatialValidity"] = area
    return body


def _digest(membership: ECSERMembership, document: dict[str, Any]) -> str:
    # The ECS-ER and the client are part of it: registering elsewhere, or as another client,
    # is a new registration.
    material = json.dumps(
        [membership.api_root, membership.client_id, document], sort_keys=True, default=str
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Target:
    """Where and as whom a registration is made (the section, or the copy in the state)."""

    api_root: str
    token_url: str
    client_id: str
    client_secret: str  # as configured: a literal or env:NAME

    def credentials(self) -> ClientCredentials:
        return ClientCredentials.configured(
            self.token_url, self.client_id, self.client_secret, SCOPE
        )

    def url(self, registration_id: str = "") -> str:
        base = self.api_root.rstrip("/") + REGISTRATIONS
        return f"{base}/{registration_id}" if registration_id else base


def _target_of(membership: ECSERMembership) -> _Target:
    return _Target(
        membership.api_root, membership.token_url, membership.client_id, membership.client_secret
    )


def _stored_target(state: MemberRegistration) -> _Target:
    return _Target(state.api_root, state.token_url, state.client_id, state.client_secret)


def _call(
    target: _Target, method: str, registration_id: str = "", body: Any = None
) -> outbound.Reply:
    deadline = time.monotonic() + CALL_SECONDS

    def send(headers: dict[str, str]) -> outbound.Reply:
        return outbound.post(
            target.url(registration_id),
            deadline,
            json_body=body,
            headers={"Accept": "application/json", **headers},
            limit=MAX_ANSWER_BYTES,
            method=method,
        )

    try:
        reply = tokens.send_authorized(
            target.credentials(), deadline, send, lambda r: r.status == 401
        )
    except tokens.TokenUnavailable as exc:
        raise RegistrationFailed(exc.reason) from None
    if reply.failure:
        raise RegistrationFailed(f"ECS-ER {reply.reason}")
    return reply


def _refusal(reply: outbound.Reply) -> RegistrationFailed:
    answer = reply.json()
    said = ""
    if isinstance(answer, dict):
        words = answer.get("cause") or answer.get("title") or answer.get("detail")
        if isinstance(words, str):
            said = f": {words[:200]}"
    return RegistrationFailed(f"ECS-ER answered HTTP {reply.status}{said}")


def _granted(reply: outbound.Reply) -> tuple[dict[str, Any], dt.datetime | None]:
    answer = reply.json()
    if not isinstance(answer, dict) or not isinstance(answer.get("ecsProfile"), dict):
        raise RegistrationFailed("ECS-ER answer is not an ECSRegistration")
    expires = answer.get("expTime")
    if expires is None:
        return answer, None
    parsed = parse_datetime(expires) if isinstance(expires, str) else None
    if parsed is None:
        raise RegistrationFailed("ECS-ER answer has an unreadable expTime")
    return answer, parsed


def _registration_id(reply: outbound.Reply) -> str:
    location = reply.headers.get("Location", "")
    registration_id = location.rstrip("/").rsplit("/", 1)[-1] if REGISTRATIONS in location else ""
    if not registration_id:
        raise RegistrationFailed("ECS-ER answer has no Location of the registration")
    return registration_id


def _register(
    state: MemberRegistration, target: _Target, document: dict[str, Any]
) -> tuple[str, dt.datetime | None]:
    """Update our registration (refresh included), or create it when there is none (or the
    ECS-ER no longer knows it).  No expTime is proposed: the ECS-ER grants its maximum,
    which the refresh keeps renewing."""
    body = {"ecsProfile": document}
    if state.registration_id and state.api_root == target.api_root:
        reply = _call(target, "PUT", state.registration_id, body)
        if reply.status == 200:
            return state.registration_id, _granted(reply)[1]
        if reply.status != 404:
            raise _refusal(reply)
        # 404: expired or deleted at the ECS-ER -- register anew.
    reply = _call(target, "POST", body=body)
    if reply.status != 201:
        raise _refusal(reply)
    expires = _granted(reply)[1]
    return _registration_id(reply), expires


def _deregister(state: MemberRegistration) -> None:
    reply = _call(_stored_target(state), "DELETE", state.registration_id)
    if reply.status not in (204, 404):  # 404: already gone, which is what we want
        raise _refusal(reply)


def _leave_former(state: MemberRegistration) -> None:
    """Moving to another ECS-ER: de-register from the former one, once.  Its failure does
    not hold the new registration back -- the former registration expires there."""
    try:
        _deregister(state)
    except RegistrationFailed as exc:
        logger.warning("de-registering from the former ECS-ER failed (%s); left to expire", exc)
    state.registration_id = ""


def _backoff(failures: int) -> float:
    return min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, failures - 1))


def _refresh_at(now: dt.datetime, expires: dt.datetime | None) -> dt.datetime | None:
    if expires is None:
        return None  # never expires: nothing to refresh
    return now + (expires - now) * REFRESH_FRACTION


def _forget(state: MemberRegistration) -> None:
    """Cleared after de-registration (the copied credentials with it)."""
    state.registration_id = state.digest = ""
    state.api_root = state.token_url = state.client_id = state.client_secret = ""
    state.expires_at = state.next_attempt = None
    state.profile = None


def tick() -> None:
    """One look at our registration (the worker calls it every ``TICK_SECONDS``)."""
    try:
        _tick()
    except Exception:  # the chore must never stop the worker; the state says what failed
        logger.exception("ECS-ER registration chore failed")


def _tick() -> None:
    now = timezone.now()
    state = MemberRegistration.objects.filter(pk=1).first()
    membership = ECSERMembership.current()
    wanted = membership is not None and membership.register
    registered = state is not None and bool(state.registration_id)
    if not wanted and not registered:
        return
    if state is None:
        state = MemberRegistration(pk=1)
    due = state.next_attempt is None or state.next_attempt <= now
    document: dict[str, Any] | None = None
    error = ""
    if wanted:
        assert membership is not None
        try:
            document = profile()
        except RegistrationFailed as exc:
            error = str(exc)
        if document is not None:
            changed = _digest(membership, document) != state.digest
            # A change goes out at once, unless we are backing off after a failure.
            if not (due or (changed and not state.failures)):
                return
        elif not due and state.last_error.endswith(error):
            return
    elif state.failures and not due:
        return  # de-registering, backing off
    _attempt(state, membership if wanted else None, document, error, now)


def _attempt(
    state: MemberRegistration,
    membership: ECSERMembership | None,
    document: dict[str, Any] | None,
    error: str,
    now: dt.datetime,
) -> None:
    state.last_attempt = now
    state.attempts_total += 1
    action = "register"
    try:
        if error:
            raise RegistrationFailed(error)
        if membership is None:
            action = "de-register"
            _deregister(state)
            _forget(state)
            logger.info("de-registered from the ECS-ER")
        else:
            assert document is not None
            target = _target_of(membership)
            if state.registration_id and state.api_root != target.api_root:
                _leave_former(state)
            registration_id, expires = _register(state, target, document)
            first = registration_id != state.registration_id
            state.registration_id, state.expires_at = registration_id, expires
            state.api_root, state.token_url = target.api_root, target.token_url
            state.client_id, state.client_secret = target.client_id, target.client_secret
            state.profile, state.digest = document, _digest(membership, document)
            state.next_attempt = _refresh_at(timezone.now(), expires)
            if first:
                logger.info("registered at the ECS-ER as %s", registration_id)
    except RegistrationFailed as exc:
        state.failures += 1
        state.failures_total += 1
        state.last_error = f"{action}: {exc}"[:500]
        delay = _backoff(state.failures)
        state.next_attempt = now + dt.timedelta(seconds=delay)
        if state.failures == 1:  # an outage is logged once, not once per retry
            logger.warning("ECS-ER %s failed (%s); retrying with backoff", action, exc)
    else:
        if state.failures:
            logger.info("ECS-ER registration recovered after %d failures", state.failures)
        state.failures = 0
        state.last_error = ""
        state.last_success = now
    with transaction.atomic():
        state.save()


def health() -> dict[str, Any] | None:
    """For ``/healthz``: our registration's state (``None`` when we are no member that
    registers).  Never a secret."""
    state = MemberRegistration.objects.filter(pk=1).first()
    membership = ECSERMembership.current()
    if state is None and (membership is None or not membership.register):
        return None
    entry: dict[str, Any] = {
        "register": bool(membership and membership.register),
        "registered": bool(state and state.registration_id),
    }
    if state is not None:
        if state.registration_id:
            entry["registrationId"] = state.registration_id
            entry["expires"] = state.expires_at and format_datetime(state.expires_at)
        if state.last_success:
            entry["lastSuccess"] = format_datetime(state.last_success)
        if state.last_error:
            entry["lastError"] = state.last_error
        if state.next_attempt:
            entry["nextAttempt"] = format_datetime(state.next_attempt)
    return entry


def metric_lines() -> list[str]:
    """For ``/metrics``: attempts and failures (counters), seconds until our registration
    expires (a gauge, present while registered with an expiry)."""
    state = MemberRegistration.objects.filter(pk=1).first()
    attempts = state.attempts_total if state else 0
    failures = state.failures_total if state else 0
    lines = [
        "# HELP ecs_er_registration_attempts_total Calls made to keep our ECS-ER registration.",
        "# TYPE ecs_er_registration_attempts_total counter",
        f"ecs_er_registration_attempts_total {attempts}",
        "# HELP ecs_er_registration_failures_total Those of them that failed.",
        "# TYPE ecs_er_registration_failures_total counter",
        f"ecs_er_registration_failures_total {failures}",
        "# HELP ecs_er_registered 1 while this ECS is registered at its ECS-ER.",
        "# TYPE ecs_er_registered gauge",
        f"ecs_er_registered {int(bool(state and state.registration_id))}",
        "# HELP ecs_er_registration_expiry_seconds Seconds until our registration expires.",
        "# TYPE ecs_er_registration_expiry_seconds gauge",
    ]
    if state is not None and state.registration_id and state.expires_at is not None:
        left = (state.expires_at - timezone.now()).total_seconds()
        lines.append(f"ecs_er_registration_expiry_seconds {max(0.0, left):.0f}")
    return lines
