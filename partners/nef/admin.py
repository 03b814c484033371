"""The NEF configuration in the admin: one object, its client secret typed as a password.

The same record the configuration file's ``nef`` section writes (``partners.nef.configsection``);
absent, the UE's roaming status comes from ``connInfo`` alone. A secret is never shown back,
and a form left with it empty keeps the stored one.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from provisioning.admin import OAMAdmin

from .. import breaker
from ..credentials import ENV_PREFIX
from ..models import NEFConfiguration


class NEFConfigurationForm(forms.ModelForm):
    class Meta:
        model = NEFConfiguration
        fields = [
            "api_root",
            "af_id",
            "token_url",
            "client_id",
            "client_secret",
            "scope",
            "timeout",
            "cache_seconds",
            "breaker_threshold",
            "breaker_cooldown",
        ]
        widgets = {
            "client_secret": forms.PasswordInput(
                render_value=False, attrs={"autocomplete": "new-password"}
            )
        }
        help_texts = {
            "client_secret": "Our client secret at the NEF's token endpoint: a secret, or "
            "env:NAME to read it from the environment. Leave empty to keep the current one.",
        }

    def clean_client_secret(self) -> str:
        value = self.cleaned_data.get("client_secret", "")
        if not value and self.instance.pk:
            return self.instance.client_secret
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        oauth = [cleaned.get(n) for n in ("token_url", "client_id", "client_secret")]
        if any(oauth) and not all(oauth):
            raise forms.ValidationError(
                "OAuth 2.0 needs the token URL, the client id and the client secret together "
                "(or none of them, to call the NEF without a token)."
            )
        return cleaned


@admin.register(NEFConfiguration)
class NEFConfigurationAdmin(OAMAdmin):
    form = NEFConfigurationForm
    list_display = ("api_root", "af_id", "credential", "circuit", "updated")
    readonly_fields = ("credential", "circuit")
    fieldsets = (
        ("Status", {"fields": ("credential", "circuit")}),
        ("NEF", {"fields": ("api_root", "af_id", "timeout", "cache_seconds")}),
        ("OAuth 2.0", {"fields": ("token_url", "client_id", "client_secret", "scope")}),
        ("Circuit breaker", {"fields": ("breaker_threshold", "breaker_cooldown")}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One NEF: the resolver reads the record with id 1.
        return super().has_add_permission(request) and not NEFConfiguration.objects.exists()

    def save_model(self, request: HttpRequest, obj: NEFConfiguration, form: Any, change: bool):
        if not change:
            obj.pk = 1
        super().save_model(request, obj, form, change)

    @admin.display(description="what we present to the NEF")
    def credential(self, obj: NEFConfiguration) -> str:
        if not obj.token_url:
            return "no token (the NEF is called without one)"
        secret = obj.client_secret
        where = (
            f"read from the environment variable {secret.removeprefix(ENV_PREFIX)}"
            if secret.startswith(ENV_PREFIX)
            else "stored in the database"
        )
        return f"OAuth 2.0 access tokens from {obj.token_url} as {obj.client_id}; secret {where}"

    @admin.display(description="circuit")
    def circuit(self, obj: NEFConfiguration) -> str:
        return breaker.state(obj) if obj.pk else "-"
