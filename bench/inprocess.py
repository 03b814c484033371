"""Django set up inside a bench script, as production runs it (``DEBUG`` off, no Redis), for
the scripts that time the portal through Django's test client instead of over HTTP."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def setup_django(database_url: str | None = None) -> None:
    """Production settings on ``database_url`` (default: the environment's)."""
    if database_url is not None:
        os.environ["DATABASE_URL"] = database_url
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "ecsportal.settings",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "0",
            "DEBUG": "0",
        }
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
