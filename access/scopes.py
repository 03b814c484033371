"""The scopes a client may ask for: its own, nothing more.

The scopes themselves (one per API) are the settings' ``OAUTH2_PROVIDER["SCOPES"]``, derived
from the registry of served APIs (``ecsportal.apis``).
"""

from __future__ import annotations

from typing import Any

from oauth2_provider.scopes import SettingsScopes
from oauth2_provider.settings import oauth2_settings


def api_scopes() -> dict[str, str]:
    """Scope -> what it grants, for every API this ECS serves."""
    return dict(oauth2_settings.SCOPES)


class ClientScopes(SettingsScopes):
    """A client gets at most the scopes its APIClient lists."""

    def _allowed(self, application: Any) -> list[str]:
        client = getattr(application, "api_client", None) if application else None
        return [s for s in (client.scopes if client else []) if s in api_scopes()]

    def get_available_scopes(self, application: Any = None, request: Any = None, *a, **k):
        return self._allowed(application)

    def get_default_scopes(self, application: Any = None, request: Any = None, *a, **k):
        return self._allowed(application)
