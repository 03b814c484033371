"""Partner ECSs known only through the ECS-ER: the hook through which federation verifies
the federation tokens they present on EDGE-10 (issue 17).

``partners`` may not import ``federation``, so the federation app registers its verifier
here (``set_verifier``, in its ``ready()``).  The verifier is given every bearer token the
EDGE-10 API receives: it returns ``None`` for what is no JWT (a static partner token or one
of our OAuth 2.0 tokens, which the other authenticators check), the verified claims, or
raises ``TokenRejected`` (a JWT that fails a check: 401) or ``KeysUnavailable`` (the ECS-ER's
keys cannot be fetched, so nothing can be verified: 503).

A verified caller whose ECS id is a configured partner *is* that partner (``PartnerECS``);
any other is a ``FederatedECS``, which policies name by ECS id, or by ``"*"`` and the ECSP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .models import PartnerECS


@dataclass(frozen=True)
class FederationClaims:
    """What a verified federation token says about its bearer."""

    ecs_id: str  # sub
    ecsp_id: str = ""  # ecspId: the ECSP of its live registration at the ECS-ER, if any


@dataclass(frozen=True)
class FederatedECS:
    """A verified caller with no configured partner entry: who it is, and the partners row
    of that id when discovery made one (``row``, for the audit's link; never configured)."""

    ecs_id: str
    ecsp_id: str = ""
    row: PartnerECS | None = None

    def __str__(self) -> str:
        return self.ecs_id


#: Who asks over EDGE-10: a configured partner, or an ECS its federation token names.
Requester = PartnerECS | FederatedECS


class TokenRejected(Exception):
    """A federation token that fails a check; ``reason`` is safe to log (no token in it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeysUnavailable(Exception):
    """The ECS-ER's keys cannot be fetched now; try again after ``retry_after`` seconds."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


Verifier = Callable[[str], FederationClaims | None]

_verifier: Verifier | None = None


def set_verifier(verifier: Verifier | None) -> None:
    """Register the federation token verifier (the federation app does, once)."""
    global _verifier
    _verifier = verifier


def verify(token: str) -> FederationClaims | None:
    """The token's claims, ``None`` when it is no federation token (or none is verified
    here); raises ``TokenRejected`` or ``KeysUnavailable``."""
    if _verifier is None:
        return None
    return _verifier(token)


def requester_for(claims: FederationClaims) -> Requester:
    """The configured partner of that id, else a ``FederatedECS`` (one query)."""
    row = PartnerECS.objects.filter(partner_id=claims.ecs_id).first()
    if row is not None and row.source == PartnerECS.SOURCE_CONFIGURED:
        return row
    return FederatedECS(claims.ecs_id, claims.ecsp_id, row)


def requester_id(requester: Requester) -> str:
    return requester.partner_id if isinstance(requester, PartnerECS) else requester.ecs_id


def requester_row(requester: Requester) -> PartnerECS | None:
    """The partners row the audit links to (None: an ECS known only through the ECS-ER)."""
    return requester if isinstance(requester, PartnerECS) else requester.row
