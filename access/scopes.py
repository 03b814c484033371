"""One OAuth 2.0 scope per API, and the scopes a client may ask for (its own, nothing more)."""

from __future__ import annotations

from typing import Any

from oauth2_provider.scopes import SettingsScopes

API_SCOPES = {
    "eecs-serviceprovisioning": "EDGE-4 service provisioning and subscriptions (EECs)",
    "eecs-eesregistration": "EDGE-6 EES registration (EESs)",
    "eecs-targeteesdiscovery": "EDGE-6 T-EES discovery (EESs)",
    "eecs-ecsserviceprovisioning": "EDGE-10 provisioning retrieval (partner ECSs)",
}


class ClientScopes(SettingsScopes):
    """A client gets at most the scopes its APIClient lists."""

    def _allowed(self, application: Any) -> list[str]:
        client = getattr(application, "api_client", None) if application else None
        return [s for s in (client.scopes if client else []) if s in API_SCOPES]

    def get_available_scopes(self, application: Any = None, request: Any = None, *a, **k):
        return self._allowed(application)

    def get_default_scopes(self, application: Any = None, request: Any = None, *a, **k):
        return self._allowed(application)
