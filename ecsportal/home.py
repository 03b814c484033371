"""``/``: where a person who opens the portal's address finds the admin, the API
description and the health endpoint (the admin's "View site" leads here)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "ecsportal/home.html")
