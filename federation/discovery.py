"""Partner ECSs discovered at the ECS-ER we are a member of (TS 23.558 clause 8.17.2.3).

With ``ecsEr.discover`` on, an EEC's request for a roaming UE whose serving PLMN -- or one
of whose requested ECSP ids -- no enabled configured partner serves makes us ask the ECS-ER
(``EcsInfoDiscoveryReq``: target PLMN = the serving PLMN, the ECSP ids no partner serves,
the UE's location), with a token for scope eecs-ecsdiscovery.  The answer:

* is kept for its ``lifetime`` (``DiscoveryCacheEntry``, keyed by what was asked); identical
  misses share one call (single flight); the ECS-ER has a circuit breaker; every discovery
  is an audit row (direction "er");
* becomes ``PartnerECS`` rows with source "discovered" (created or updated here, never
  switched on again once an operator switched one off), which ``partners.retrieval`` then
  asks over EDGE-10 -- only while a fresh answer names them;
* is refused, ECS by ECS, where an address leads into our network (loopback, private,
  link-local ...), unless ``ECS_ALLOW_PRIVATE_CALLBACKS=1`` (the callback guard).

A discovery that fails or times out (``DISCOVERY_TIMEOUT``) leaves the EEC with the local
answer, or 503 with Retry-After when nothing local matches, as a failing partner does.
``partners`` may not import this app: ``register`` plugs it in (``federation.apps``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from ecscore import errors, outbound, schemas, singleflight
from ecscore.datetimes import format_datetime
from notifications import callbacks
from partners import audit, breaker, credentials, retrieval, tokens
from partners.eecs_ecsserviceprovisioning import API as EDGE10
from partners.models import PartnerECS, RetrievalAudit
from provisioning.areas import plmn_key
from provisioning.query import ProvisioningQuery
from provisioning.sources import SourceContext

from .eecs_ecsdiscovery import API as DISCOVERY
from .eecs_ecsdiscovery import wire
from .eecs_ecsregistration import wire as registration_wire
from .models import DiscoveryCacheEntry, ECSERMembership

#: Seconds a discovery call (token included) may take; the ecsEr section names none.
DISCOVERY_TIMEOUT = 2.0
#: The longest a discovery answer is kept, whatever lifetime the ECS-ER grants.
MAX_LIFETIME = 86400
RETRY_AFTER_SECONDS = 5
LABEL = "ECS-ER"


def membership() -> ECSERMembership | None:
    return ECSERMembership.current()


def _credentials(
    config: ECSERMembership, scope: str, partner_pk: int | None = None, resource: str = ""
) -> credentials.ClientCredentials:
    return credentials.ClientCredentials.configured(
        config.token_url, config.client_id, config.client_secret, scope, partner_pk, resource
    )


def federation_credential(
    partner_pk: int | None, partner_id: str
) -> str | credentials.ClientCredentials:
    """A discovered partner is called with the ECS-ER's token for its ECS id (RFC 8707)."""
    config = membership()
    if config is None:
        return ""  # no ECS-ER any more: nothing to present (the partner will refuse)
    return _credentials(config, EDGE10.scope, partner_pk, resource=partner_id)


def discovery_request(
    query: ProvisioningQuery, context: SourceContext, configured: list[PartnerECS]
) -> dict[str, Any] | None:
    """The EcsInfoDiscoveryReq to send (requestorId aside), or None: nothing to discover."""
    serving = plmn_key(context.serving_plmn)
    if not serving:
        return None  # not roaming: our own EDNs and configured partners are the answer
    served_plmns: set[str] = set()
    served_ecsps: set[str] = set()
    for partner in configured:
        served_plmns |= partner.plmn_keys()
        if partner.ecsp:
            served_ecsps.add(partner.ecsp)
    unserved_ecsps = sorted(set(query.ecsp_ids) - served_ecsps)
    if serving in served_plmns and not unserved_ecsps:
        return None
    request: dict[str, Any] = {"targetPlmn": dict(context.serving_plmn or {})}
    if unserved_ecsps:
        request["ecspIds"] = unserved_ecsps
    location = context.body.get("locInf")
    if isinstance(location, dict) and location:
        request["ueLocation"] = location
    return request


def _key(request: dict[str, Any]) -> str:
    text = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fresh(key: str) -> DiscoveryCacheEntry | None:
    return DiscoveryCacheEntry.objects.filter(key=key, expires_at__gt=timezone.now()).first()


def _partners(ecs_ids: list[str]) -> list[PartnerECS]:
    """The enabled discovered partners of an answer (an operator's switch-off holds)."""
    if not ecs_ids:
        return []
    return list(
        PartnerECS.objects.filter(
            partner_id__in=ecs_ids, source=PartnerECS.SOURCE_DISCOVERED, enabled=True
        )
    )


def _row(request: dict[str, Any], reason: str, **fields: Any) -> RetrievalAudit:
    return audit.entry(
        RetrievalAudit.ECS_ER, None, request, partner_label=LABEL, reason=reason, **fields
    )


def discover(
    query: ProvisioningQuery, context: SourceContext, configured: list[PartnerECS]
) -> retrieval.Discovered:
    """The hook ``partners.retrieval`` calls for every request (``set_discovery``)."""
    found = retrieval.Discovered()
    # What to discover first (no I/O): a request at home reads nothing more.
    request = discovery_request(query, context, configured)
    if request is None:
        return found
    config = membership()
    if config is None or not config.discover:
        return found
    key = _key(request)
    started = time.monotonic()
    entry = _fresh(key)
    if entry is not None:
        found.partners = _partners(entry.ecs_ids)
        found.rows.append(
            _row(
                request,
                f"fresh discovery answer: {len(entry.ecs_ids)} ECS(s)",
                cache=RetrievalAudit.HIT,
                latency_ms=(time.monotonic() - started) * 1000,
            )
        )
        return found
    if context.offline:
        return found  # no network here: what is not cached is not discovered
    if not breaker.allow(config):
        found.unavailable = True
        found.retry_after = math.ceil(config.breaker_cooldown)
        found.rows.append(
            _row(request, "circuit open: not called", cache=RetrievalAudit.MISS, failed=True)
        )
        return found
    deadline = started + DISCOVERY_TIMEOUT
    flight = singleflight.join(f"ecs-discovery:{key}", DISCOVERY_TIMEOUT)
    if not flight.leader:
        done = singleflight.wait(flight, deadline) or {}
        entry = _fresh(key)
        latency = (time.monotonic() - started) * 1000
        if entry is not None or done.get("outcome") == "uncached":
            ids = entry.ecs_ids if entry is not None else list(done.get("configs") or [])
            found.partners = _partners(ids)
            found.rows.append(
                _row(
                    request,
                    "answer of a concurrent identical discovery",
                    cache=RetrievalAudit.HIT,
                    latency_ms=latency,
                )
            )
            return found
        return _failed(
            found, request, f"concurrent identical discovery: {done.get('outcome')}", None, latency
        )
    entry = _fresh(key)  # again, under the lock: an earlier leader may just have stored it
    if entry is not None:
        singleflight.finish(flight, "cached")
        found.partners = _partners(entry.ecs_ids)
        found.rows.append(
            _row(
                request,
                "answer of a concurrent identical discovery",
                cache=RetrievalAudit.HIT,
                latency_ms=(time.monotonic() - started) * 1000,
            )
        )
        return found
    try:
        status, answer, problem = _ask(config, request, deadline)
    except Exception:
        singleflight.finish(flight, "failed")
        raise
    latency = (time.monotonic() - started) * 1000
    if problem:
        breaker.record_failure(config)
        singleflight.finish(flight, "failed")
        return _failed(found, request, problem, status, latency)
    breaker.record_success(config)
    accepted, refused = _accept(answer.get("ecsInfo") or [])
    lifetime = min(int(answer.get("lifetime") or 0), MAX_LIFETIME)
    expires = timezone.now() + dt.timedelta(seconds=lifetime)
    reason = f"{len(accepted)} ECS(s) discovered"
    if refused:
        reason += "; refused: " + "; ".join(refused)
    reason += f"; kept until {format_datetime(expires)}" if lifetime else "; not kept (lifetime 0)"
    row = _row(request, reason, status=status, cache=RetrievalAudit.MISS, latency_ms=latency)
    if lifetime:
        with transaction.atomic():
            DiscoveryCacheEntry.objects.update_or_create(
                key=key,
                defaults={
                    "request": request,
                    "ecs_ids": accepted,
                    "fetched_at": timezone.now(),
                    "expires_at": expires,
                },
            )
            audit.write([row])
        singleflight.finish(flight, "cached")
    else:
        found.rows.append(row)
        singleflight.finish(flight, "uncached", accepted)
    found.partners = _partners(accepted)
    return found


def _failed(
    found: retrieval.Discovered,
    request: dict[str, Any],
    reason: str,
    status: int | None,
    latency: float,
) -> retrieval.Discovered:
    found.unavailable = True
    found.retry_after = max(RETRY_AFTER_SECONDS, math.ceil(DISCOVERY_TIMEOUT))
    found.rows.append(
        _row(
            request,
            reason,
            status=status,
            cache=RetrievalAudit.MISS,
            latency_ms=latency,
            failed=True,
        )
    )
    return found


def _ask(
    config: ECSERMembership, request: dict[str, Any], deadline: float
) -> tuple[int | None, dict[str, Any], str]:
    """(status, answer, problem): the discovery request at the ECS-ER; never raises."""
    from provisioning.models import ECSConfiguration

    body = {"requestorId": ECSConfiguration.current().ecs_id, **request}
    url = config.api_root.rstrip("/") + f"/{DISCOVERY.name}/{DISCOVERY.version}/ecs-info/request"
    payload = json.dumps(body).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    def send(authorization: dict[str, str]) -> outbound.Reply:
        return outbound.post(url, deadline, data=payload, headers={**headers, **authorization})

    try:
        reply = tokens.send_authorized(
            _credentials(config, DISCOVERY.scope), deadline, send, lambda r: r.status == 401
        )
    except tokens.TokenUnavailable as exc:
        return exc.status, {}, exc.reason
    if not reply.ok:
        return reply.status, {}, reply.reason or "no answer"
    if reply.status != 200:
        return reply.status, {}, f"answered HTTP {reply.status}"
    answer = reply.json()
    problems = schemas.invalid_params(schemas.validator(*wire.RESPONSE_SCHEMA), answer)
    if problems:
        first = problems[0]
        return (
            reply.status,
            {},
            f"answer breaks the schema at {first['param']}: {first['reason']}"[:250],
        )
    return reply.status, answer, ""


def _accept(infos: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(ECS ids accepted, reasons for those refused); the accepted are stored as discovered
    partners.  An ECS id an operator configured stays the operator's."""
    accepted: list[str] = []
    refused: list[str] = []
    for info in infos:
        document = info.get("ecsProfile") or {}
        ecs_id = document.get("ecsId", "?")
        try:
            profile = registration_wire.profile(document)
        except errors.ECSError as exc:
            refused.append(f"{ecs_id}: {exc}")
            continue
        problem = callbacks.problem_with(profile.api_root)
        if problem:
            # Discovery must not become a way into our own network.
            refused.append(f"{ecs_id}: {problem}")
            continue
        if _store(profile.ecs_id, profile.ecsp_id, profile.api_root, document):
            accepted.append(profile.ecs_id)
        else:
            refused.append(f"{ecs_id}: a configured partner has this id")
    return accepted, refused


def _store(ecs_id: str, ecsp: str, api_root: str, document: dict[str, Any]) -> bool:
    """Create or update the discovered partner; False when the id is a configured one."""
    plmns: list[dict[str, Any]] = []
    for supported in document.get("supportedPlmns") or []:
        plmn = supported.get("plmnId")
        if isinstance(plmn, dict) and plmn not in plmns:
            plmns.append(plmn)
    values = {"ecsp": ecsp, "api_root": api_root, "plmns": plmns}
    partner = PartnerECS.objects.filter(partner_id=ecs_id).first()
    if partner is None:
        partner = PartnerECS(
            partner_id=ecs_id,
            source=PartnerECS.SOURCE_DISCOVERED,
            consult=PartnerECS.CONSULT_ROAMING_ONLY,
            **values,
        )
        partner._change_reason = "discovered at the ECS-ER"
        partner.save()
        return True
    if partner.source != PartnerECS.SOURCE_DISCOVERED:
        return False
    if any(getattr(partner, name) != value for name, value in values.items()):
        for name, value in values.items():
            setattr(partner, name, value)
        # ``enabled`` is left alone: an operator's switch-off holds.
        partner._change_reason = "updated by discovery at the ECS-ER"
        partner.save(update_fields=[*values, "updated"])
    return True


def register() -> None:
    """Plug discovery and federation tokens into partners (``federation.apps``)."""
    retrieval.set_discovery(discover)
    credentials.set_federation_credentials(federation_credential)
