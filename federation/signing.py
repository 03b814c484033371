"""The ECS-ER's signing keys and the federation tokens it signs (issue 17, part 3).

A member ECS asks the ECS-ER's ``/oauth2/token/`` for a token to call another member
(RFC 8707 ``resource`` = the target ECS id); the ECS-ER answers with a JWT signed ES256, whose
``kid`` names the key, and publishes every public key as a JWKS
(``GET /.well-known/jwks.json``) so targets verify it without any secret shared per pair.

Keys come from the ``repository`` section's ``signingKeys`` (``[{kid, privateKey}]``, where
``privateKey`` is ``env:NAME`` or ``file:PATH`` holding a PEM P-256 private key): the first
signs, all are published, so a new key is added in second place, published for longer than
a cached JWKS lives, and then moved to the front -- a rotation with no refused token.  With
none configured, one key is generated on first use and kept (mode 0600) in
``VAR_DIR/federation-signing-key.pem``, for development and demos.  Keys and tokens are never
logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from jwt.algorithms import ECAlgorithm

ALGORITHM = "ES256"
#: Seconds a federation token is valid: short, since it cannot be revoked.
TOKEN_SECONDS = 300
#: Seconds a member may cache the JWKS (Cache-Control: max-age).
JWKS_MAX_AGE = 300
GENERATED_KEY_FILE = "federation-signing-key.pem"
ENV_PREFIX = "env:"
FILE_PREFIX = "file:"


class KeyUnavailable(Exception):
    """A configured key cannot be read (its variable or file is missing or no P-256 key)."""


@dataclass(frozen=True, repr=False)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    def __repr__(self) -> str:  # never the key itself
        return f"SigningKey(kid={self.kid!r})"

    def public_jwk(self) -> dict[str, Any]:
        jwk = ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


def reference_problem(reference: Any) -> str:
    """Why a ``privateKey`` value is no reference we read, or ''."""
    if not isinstance(reference, str):
        return "must be env:NAME or file:PATH"
    for prefix in (ENV_PREFIX, FILE_PREFIX):
        if reference.startswith(prefix) and len(reference) > len(prefix):
            return ""
    return "must be env:NAME or file:PATH (the key itself does not belong in the file)"


def _pem(reference: str) -> bytes:
    if reference.startswith(ENV_PREFIX):
        value = os.environ.get(reference[len(ENV_PREFIX) :], "")
        if not value:
            raise KeyUnavailable(f"the environment variable of {reference} is not set")
        return value.encode()
    path = Path(reference[len(FILE_PREFIX) :])
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyUnavailable(f"{reference} cannot be read: {exc.strerror}") from None


def _load(pem: bytes, what: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise KeyUnavailable(f"{what} holds no PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise KeyUnavailable(f"{what} is no P-256 (ES256) key")
    return key


def thumbprint(key: ec.EllipticCurvePrivateKey) -> str:
    """The RFC 7638 thumbprint of the public key: the generated key's kid."""
    jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode())
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


_lock = threading.Lock()
_loaded: dict[tuple[str, str], SigningKey] = {}


def _generated() -> SigningKey:
    """The development key under VAR_DIR, created once (O_EXCL: two processes starting
    together end up with the same key)."""
    path = Path(settings.VAR_DIR) / GENERATED_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    key = _load(path.read_bytes(), str(path))
    return SigningKey(thumbprint(key), key)


def keys(configured: list[dict[str, str]]) -> list[SigningKey]:
    """The signing keys, the active one first (``configured``: the section's entries).

    Each is read once per process: rotating a key's contents under the same reference needs a
    restart, rotating by a new entry does not.
    """
    refs = [(str(k["kid"]), str(k["privateKey"])) for k in configured] or [("", "generated")]
    with _lock:
        out = []
        for kid, reference in refs:
            if (kid, reference) not in _loaded:
                if reference == "generated":
                    _loaded[(kid, reference)] = _generated()
                else:
                    key = _load(_pem(reference), reference)
                    _loaded[(kid, reference)] = SigningKey(kid, key)
            out.append(_loaded[(kid, reference)])
        return out


def jwks(configured: list[dict[str, str]]) -> dict[str, Any]:
    """The public keys as a JWK Set (RFC 7517); a key that cannot be read is left out."""
    published = []
    for entry in configured or [{}]:
        try:
            published.extend(k.public_jwk() for k in keys([entry] if entry else []))
        except KeyUnavailable:
            continue
    return {"keys": published}


def issue(
    configured: list[dict[str, str]],
    issuer: str,
    subject: str,
    audience: str,
    scope: str,
    ecsp_id: str = "",
) -> tuple[str, int]:
    """A signed federation token and its lifetime in seconds (``ecspId`` only when given)."""
    active = keys(configured)[0]
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "scope": scope,
        "iat": now,
        "exp": now + TOKEN_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    if ecsp_id:
        claims["ecspId"] = ecsp_id
    token = jwt.encode(claims, active.private_key, algorithm=ALGORITHM, headers={"kid": active.kid})
    return token, TOKEN_SECONDS
