"""The ECS-ER as its federation's authorization server: federation tokens at /oauth2/token/.

Registered with ``access.oauth.set_resource_issuer``; called for a client credentials request
carrying ``resource`` once ``access`` has authenticated the client and checked that it asks
only for scopes it was given.  A token is issued only when this ECS is an ECS-ER, to a
member ECS (API client kind ``ecs``), for the scope ``eecs-ecsserviceprovisioning`` alone, and
for a target ECS that is registered here now (else ``invalid_target``, RFC 8707).  The token
carries ``ecspId``, the ECSP of the caller's live registration here (omitted without one).
"""

from __future__ import annotations

import logging
from typing import Any

from access.models import APIClient
from access.oauth import ResourceTokenRequest, TokenRefused
from provisioning.models import ECSConfiguration

from . import repository, signing

logger = logging.getLogger(__name__)

#: The one scope a federation token carries: EDGE-10 at the target ECS.
FEDERATION_SCOPE = "eecs-ecsserviceprovisioning"


def issue(request: ResourceTokenRequest) -> dict[str, Any]:
    config = repository.configuration()
    if not config.enabled:
        raise TokenRefused("invalid_target", "This server issues no tokens for resources.")
    if request.client.kind != APIClient.KIND_ECS:
        raise TokenRefused("unauthorized_client", "Only member ECSs get federation tokens.")
    if request.scopes != (FEDERATION_SCOPE,):
        raise TokenRefused("invalid_scope", f"A federation token is for {FEDERATION_SCOPE} only.")
    target = request.resource
    if not repository.live_registrations().filter(ecs_id=target).exists():
        raise TokenRefused("invalid_target", "The resource is no ECS registered here.")
    # The ECSP of the caller's own live registration here: targets authorize by it (policies
    # naming requester ECSPs).  No live registration: no claim, never a guess.
    ecsp_id = (
        repository.live_registrations()
        .filter(ecs_id=request.client.identity)
        .values_list("ecsp_id", flat=True)
        .first()
    )
    try:
        token, seconds = signing.issue(
            config.signing_keys,
            issuer=ECSConfiguration.load().ecs_id,
            subject=request.client.identity,
            audience=target,
            scope=FEDERATION_SCOPE,
            ecsp_id=ecsp_id or "",
        )
    except signing.KeyUnavailable as exc:
        logger.error("No federation token: the signing key is unavailable: %s", exc)
        raise TokenRefused(
            "temporarily_unavailable", "The signing key is unavailable.", 503
        ) from None
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": seconds,
        "scope": FEDERATION_SCOPE,
    }
