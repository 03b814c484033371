"""API clients in the admin: create one, get its client id and secret (shown once)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from .clients import application_for, new_secret
from .models import APIClient
from .scopes import api_scopes


class APIClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=sorted(api_scopes().items()), widget=forms.CheckboxSelectMultiple, required=True
    )
    new_secret = forms.BooleanField(
        required=False,
        label="Generate a new client secret",
        help_text="A new client always gets one. It is shown once; only its hash is stored.",
    )

    class Meta:
        model = APIClient
        fields = ["kind", "identity", "scopes"]


@admin.register(APIClient)
class APIClientAdmin(admin.ModelAdmin):
    form = APIClientForm
    list_display = ("identity", "kind", "client_id", "scope_list", "created")
    list_filter = ("kind",)
    search_fields = ("identity", "application__client_id")

    @admin.display(description="client id")
    def client_id(self, obj: APIClient) -> str:
        return obj.application.client_id

    @admin.display(description="scopes")
    def scope_list(self, obj: APIClient) -> str:
        return ", ".join(obj.scopes)

    def save_model(self, request: HttpRequest, obj: APIClient, form: Any, change: bool) -> None:
        if not change:
            obj.application = application_for(obj.kind, obj.identity)
        if not change or form.cleaned_data.get("new_secret"):
            request._new_client_secret = new_secret(obj.application)
        obj.application.name = f"{obj.kind}:{obj.identity}"
        obj.application.save()
        obj.application_id = obj.application.pk
        super().save_model(request, obj, form, change)

    def _secret_page(self, request: HttpRequest, obj: APIClient, default: HttpResponse):
        secret = getattr(request, "_new_client_secret", None)
        if secret is None:
            return default
        return TemplateResponse(
            request,
            "admin/access/secret_once.html",
            {
                **self.admin_site.each_context(request),
                "client": obj,
                "client_id": obj.application.client_id,
                "secret": secret,
                "token_url": request.build_absolute_uri(reverse("oauth2-token")),
                "continue_url": default.get("Location")
                or reverse("admin:access_apiclient_changelist"),
                "title": f"Credentials for {obj}",
            },
            headers={"Cache-Control": "no-store"},
        )

    def response_add(self, request: HttpRequest, obj: APIClient, *args: Any) -> HttpResponse:
        return self._secret_page(request, obj, super().response_add(request, obj, *args))

    def response_change(self, request: HttpRequest, obj: APIClient) -> HttpResponse:
        return self._secret_page(request, obj, super().response_change(request, obj))
