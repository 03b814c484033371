"""How an interface package declares the 3GPP API it serves.

Each API package (``provisioning.eecs_serviceprovisioning``, ...) declares one ``ServedAPI``
named ``API`` in its ``__init__``, which imports nothing else, so settings can read it.
``ecsportal.apis`` lists the packages; the URL table, the OAuth 2.0 scopes, the schema bundle
and the OpenAPI document are derived from that list.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class ServedAPI:
    #: The API's name as 3GPP spells it in its path, e.g. ``eecs-serviceprovisioning``.
    name: str
    #: The version in the path: ``{apiRoot}/{name}/{version}/``.
    version: str
    #: The OpenAPI file whose schemas the bodies are validated against (3GPP's or ours).
    schema_file: str
    #: What a token with this API's scope may do (shown when a client asks for it).
    scope_description: str
    #: The module with ``urlpatterns`` and ``app_name`` (= ``name``).
    urls: str
    #: Our own OpenAPI file, for an API whose 3GPP file we could not obtain: a path relative
    #: to the package that declares the API; ``None`` when the schemas are 3GPP's.
    own_openapi: str | None = None

    @property
    def scope(self) -> str:
        """The OAuth 2.0 scope of the API: its name (TS 29.558 clause 7)."""
        return self.name

    @property
    def prefix(self) -> str:
        """Where the API is mounted, below ``{apiRoot}/``."""
        return f"{self.name}/{self.version}/"


def declared(package: str) -> ServedAPI:
    """The ``API`` an interface package declares."""
    api = import_module(package).API
    if not isinstance(api, ServedAPI):
        raise TypeError(f"{package}.API is not a ServedAPI")
    return api
