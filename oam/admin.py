"""OAM API tokens in the admin: make one for a user and see its key, once."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from .models import OAMToken, hash_key, new_key


@admin.register(OAMToken)
class OAMTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "prefix", "description", "read_only", "expires", "last_used")
    list_filter = ("read_only",)
    search_fields = ("user__username", "prefix", "description")
    readonly_fields = ("prefix", "created", "last_used")
    raw_id_fields = ("user",)

    def get_fields(self, request: HttpRequest, obj: OAMToken | None = None) -> list[str]:
        fields = ["user", "description", "expires", "read_only"]
        return fields if obj is None else ["user", "prefix", *fields[1:], "created", "last_used"]

    def get_readonly_fields(self, request: HttpRequest, obj: OAMToken | None = None) -> Any:
        # A token's user does not change: a new user gets a new token.
        return (*self.readonly_fields, "user") if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: OAMToken, form: Any, change: bool) -> None:
        if not change:
            key = new_key()
            obj.key_hash, obj.prefix = hash_key(key), key[:8]
            request._new_oam_key = key
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: OAMToken, *args: Any) -> HttpResponse:
        default = super().response_add(request, obj, *args)
        key = getattr(request, "_new_oam_key", None)
        if key is None:
            return default
        return TemplateResponse(
            request,
            "admin/oam/key_once.html",
            {
                **self.admin_site.each_context(request),
                "token": obj,
                "key": key,
                "api_root": request.build_absolute_uri("/api/oam/v1/"),
                "continue_url": default.get("Location") or reverse("admin:oam_oamtoken_changelist"),
                "title": f"OAM API token for {obj.user}",
            },
            # The key must not stay in a cache on the way.
            headers={"Cache-Control": "no-store"},
        )
