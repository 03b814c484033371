"""Who may call our APIs: an OAuth 2.0 client (client credentials grant) and whom it speaks for.

django-oauth-toolkit keeps the OAuth application (client id, hashed secret) and the tokens;
``APIClient`` adds what 3GPP's EDGE APIs need: which APIs (scopes) the client may use, and the
EEC, EES or partner ECS identity its tokens carry, which each API checks against the request
(an EES cannot update another EES's registration).
"""

from __future__ import annotations

from django.db import models
from oauth2_provider.models import Application

from .scopes import api_scopes


class APIClient(models.Model):
    KIND_EEC = "eec"
    KIND_EES = "ees"
    KIND_PARTNER = "partner"
    # A member ECS of the federation whose ECS-ER we are: it registers and discovers here.
    KIND_ECS = "ecs"
    KINDS = [
        (KIND_EEC, "EEC"),
        (KIND_EES, "EES"),
        (KIND_PARTNER, "partner ECS"),
        (KIND_ECS, "member ECS (ECS-ER)"),
    ]

    application = models.OneToOneField(
        Application, on_delete=models.CASCADE, related_name="api_client"
    )
    kind = models.CharField(max_length=8, choices=KINDS)
    identity = models.CharField(
        max_length=255,
        help_text="The EEC id, EES id or (partner or member) ECS id this client acts as.",
    )
    scopes = models.JSONField(
        default=list,
        help_text="APIs the client may use: " + ", ".join(api_scopes()),
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API client"
        verbose_name_plural = "API clients"
        ordering = ["kind", "identity"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "identity"], name="apiclient_unique_identity")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.identity}"
