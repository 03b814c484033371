"""The NEF roaming resolver: asks the home network where a UE is when the request does not say.

Registered with ``provisioning.roaming`` when the partners app loads; it answers like the
``connInfo`` resolver unless a ``nef`` section is configured, the request names no PLMN in
``connInfo`` and carries a GPSI ``ueId``.  Then:

* a UE's report is cached (the Django cache, under a keyed hash of its GPSI) for the NEF's
  ``cacheSeconds``; subscription evaluation (``offline``) uses only that cache;
* of concurrent requests for one UE, one asks the NEF and the others wait for its report
  (``ecscore.singleflight``);
* the NEF is not called while its circuit is open (``partners.breaker``);
* the whole exchange -- token, subscription, waiting for the notification when the answer
  carries no report -- keeps to the NEF's ``timeout``; a NEF that is down, slow or answers
  garbage leaves the UE "as if at home", never an error to the EEC;
* every exchange is a ``RetrievalAudit`` row of direction ``nef``, naming the UE only by its
  keyed hash.

The GPSI itself goes to the NEF only: it is in no log line, cache key or audit row.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils.crypto import salted_hmac

from ecscore import singleflight
from ecscore.memo import TableMemo
from provisioning.areas import UELocation
from provisioning.roaming import AT_HOME, ConnectivityInfoResolver, RoamingStatus, names_plmn

from .. import audit, breaker
from ..models import NEFConfiguration, RetrievalAudit
from . import client, wire

# A notification later than the request's deadline still fills the UE's cache entry.
LATE_SECONDS = 60
POLL_SECONDS = 0.01
LABEL = "NEF"


def _load() -> NEFConfiguration | None:
    return NEFConfiguration.objects.filter(pk=1).first()


_configuration = TableMemo([NEFConfiguration], _load)


def configuration() -> NEFConfiguration | None:
    """The NEF in force (a per-process copy), or None without a ``nef`` section."""
    return _configuration.get()


def ue_hash(gpsi: str) -> str:
    """The UE as our cache and audit know it: an HMAC of its GPSI under SECRET_KEY."""
    return salted_hmac("partners.nef.gpsi", gpsi, algorithm="sha256").hexdigest()


def _entry_key(ue: str) -> str:
    return f"nef:ue:{ue}"


def _pending_key(token: str) -> str:
    return f"nef:pending:{token}"


def _reports_key(token: str) -> str:
    return f"nef:reports:{token}"


def _cached(ue: str, want_location: bool) -> RoamingStatus | None:
    entry = cache.get(_entry_key(ue))
    if not isinstance(entry, dict) or (want_location and not entry.get("askedLocation")):
        return None
    return RoamingStatus(entry.get("servingPlmn"), entry.get("locationInfo"))


def _store(config: NEFConfiguration, ue: str, asked: bool, found: wire.Findings) -> None:
    if config.cache_seconds > 0:
        entry = {
            "askedLocation": asked,
            "servingPlmn": found.serving_plmn,
            "locationInfo": found.location_info,
        }
        cache.set(_entry_key(ue), entry, config.cache_seconds)


def _complete(found: wire.Findings, want_location: bool) -> bool:
    return found.roaming_known and (found.location_info is not None or not want_location)


def _audit(ue: str, location: bool, reason: str, **fields: Any) -> None:
    types = [wire.ROAMING_STATUS] + ([wire.LOCATION_REPORTING] if location else [])
    query = {"ue": ue, "monitoringTypes": types}
    audit.write(
        [audit.entry(RetrievalAudit.NEF, None, query, partner_label=LABEL, reason=reason, **fields)]
    )


def _describe(found: wire.Findings) -> str:
    if found.serving_plmn:
        where = f"roaming in {found.serving_plmn['mcc']}-{found.serving_plmn['mnc']}"
    else:
        where = "at home"
    return where + (", location reported" if found.location_info else "")


def notification_url(token: str) -> str:
    base = settings.ECS_PUBLIC_URL
    return base + reverse("nef-notification", args=[token]) if base else ""


class NEFResolver:
    """``provisioning.roaming.RoamingResolver`` backed by the NEF's MonitoringEvent API."""

    def resolve(
        self, body: dict[str, Any], home_plmns: set[str], *, offline: bool = False
    ) -> RoamingStatus:
        gpsi = body.get("ueId")
        # The request's own checks first: most requests never need the NEF's row.
        if names_plmn(body) or not isinstance(gpsi, str) or wire.ue_member(gpsi) is None:
            return ConnectivityInfoResolver().resolve(body, home_plmns)
        config = configuration()
        if config is None:
            return AT_HOME
        want_location = not UELocation.from_location_info(body.get("locInf"))
        ue = ue_hash(gpsi)
        cached = _cached(ue, want_location)
        if cached is not None or offline:
            return cached or AT_HOME
        if not breaker.allow(config):
            _audit(ue, want_location, "circuit open: not called", cache=RetrievalAudit.MISS)
            return AT_HOME
        started = time.monotonic()
        deadline = started + config.timeout
        flight = singleflight.join(f"nef:{ue}", config.timeout)
        if not flight.leader:
            singleflight.wait(flight, deadline)
            return _cached(ue, want_location) or AT_HOME
        audit_row: dict[str, Any] = {}
        try:
            # Look again under the lock: an earlier flight may have cached its report.
            cached = _cached(ue, want_location)
            if cached is not None:
                return cached
            return self._ask(
                config, gpsi, ue, want_location, home_plmns, started, deadline, audit_row
            )
        finally:
            # Waiters read the cache entry, if any; they are told before the audit row is
            # written, so that the database's time is not theirs.
            singleflight.finish(flight, "cached")
            if audit_row:
                _audit(ue, want_location, **audit_row)

    def _ask(
        self,
        config: NEFConfiguration,
        gpsi: str,
        ue: str,
        want_location: bool,
        home_plmns: set[str],
        started: float,
        deadline: float,
        audit_row: dict[str, Any],
    ) -> RoamingStatus:
        """The NEF's report; ``audit_row`` gets what the audit row is to say."""

        def done(reason: str, **fields: Any) -> None:
            latency = (time.monotonic() - started) * 1000
            audit_row.update(reason=reason, cache=RetrievalAudit.MISS, latency_ms=latency)
            audit_row.update(fields)

        token = secrets.token_urlsafe(32)
        url = notification_url(token)
        if not url:
            done("not asked: ECS_PUBLIC_URL is unset, so the NEF could not notify us")
            return AT_HOME
        pending = {"ue": ue, "location": want_location, "home": sorted(home_plmns)}
        cache.set(_pending_key(token), pending, int(config.timeout) + LATE_SECONDS)
        member = wire.ue_member(gpsi) or {}
        request = wire.subscription(member, url, want_location)
        exchange = client.subscribe(config, request, deadline)
        if exchange.failed:
            breaker.record_failure(config)
            done(exchange.reason + "; as if at home", status=exchange.status)
            return AT_HOME
        found = wire.findings(exchange.reports, home_plmns)
        via = "answer"
        if not exchange.reports:
            # A NEF that answers with reports gives all it has at once; one that answers
            # without any sends them to our notification endpoint.
            via = "notification"
            found = self._await(token, deadline, want_location, home_plmns, found)
        if found.problems:
            breaker.record_failure(config)
            done("; ".join(found.problems)[:200] + "; as if at home", status=exchange.status)
            return AT_HOME
        breaker.record_success(config)
        if not found.roaming_known:
            waited = f"{config.timeout:g}"
            done(f"no report within {waited} s; as if at home", status=exchange.status)
            return AT_HOME
        _store(config, ue, want_location, found)
        done(f"{_describe(found)} (report in the {via})", status=exchange.status)
        return RoamingStatus(found.serving_plmn, found.location_info)

    def _await(
        self,
        token: str,
        deadline: float,
        want_location: bool,
        home_plmns: set[str],
        found: wire.Findings,
    ) -> wire.Findings:
        """The notification's reports (with the answer's), until complete or the deadline."""
        while time.monotonic() < deadline:
            reports = cache.get(_reports_key(token))
            if reports:
                found = wire.findings(reports, home_plmns)
                if _complete(found, want_location) or found.problems:
                    return found
            time.sleep(POLL_SECONDS)
        return found


def notified(token: str, body: Any) -> int:
    """A MonitoringNotification for the subscription of ``token``: the HTTP status to answer.

    404 for a token we did not hand out (or whose time is long past), 400 for a body that is
    not a notification; else the reports are kept for the waiting request, and a complete
    report fills the UE's cache entry -- even one that comes after the request gave up.
    """
    pending = cache.get(_pending_key(token))
    if not isinstance(pending, dict):
        return 404
    reports = wire.notification_reports(body)
    if reports is None:
        _audit(pending["ue"], pending["location"], "notification: not a MonitoringNotification")
        return 400
    reports = (cache.get(_reports_key(token)) or []) + reports
    cache.set(_reports_key(token), reports, LATE_SECONDS)
    found = wire.findings(reports, set(pending["home"]))
    config = configuration()
    if config is not None and not found.problems and _complete(found, pending["location"]):
        _store(config, pending["ue"], pending["location"], found)
    reason = "; ".join(found.problems) if found.problems else _describe(found)
    _audit(pending["ue"], pending["location"], f"notification: {reason}"[:255], status=204)
    return 204
