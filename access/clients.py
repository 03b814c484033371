"""Creating API clients and their secrets, for the admin and for ``ecs_api_client``.

The secret is returned once, in clear, to be handed to the client; the toolkit's model hashes
it on save, so the database never holds it.
"""

from __future__ import annotations

from django.db import transaction
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import Application

from .models import APIClient


def application_for(kind: str, identity: str) -> Application:
    """A new, unsaved OAuth application for a client credentials client of that identity."""
    return Application(
        name=f"{kind}:{identity}",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )


def new_secret(application: Application) -> str:
    """Give the application a fresh secret (hashed when saved); the clear one is returned."""
    secret = generate_client_secret()
    application.client_secret = secret
    return secret


@transaction.atomic
def create_api_client(kind: str, identity: str, scopes: list[str]) -> tuple[APIClient, str]:
    """Create the API client and its application; returns it and its secret in clear."""
    application = application_for(kind, identity)
    secret = new_secret(application)
    application.save()
    client = APIClient(application=application, kind=kind, identity=identity, scopes=scopes)
    client.full_clean(exclude=["application"])
    client.save()
    return client, secret
