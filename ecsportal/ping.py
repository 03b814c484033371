"""``GET /api/ping``: the smallest DRF answer the portal serves (a benchmark floor).

No authentication, no database, no cache: it measures what the web server, Django's
middleware and DRF cost by themselves, so that the real endpoints can be compared with it.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class PingView(APIView):
    """Answers ``{"status": "ok"}``; touches nothing else."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="ping",
        summary="Liveness of the web tier alone (no database, no cache).",
        responses={
            200: inline_serializer("Ping", fields={"status": serializers.CharField()}),
        },
        tags=["operations"],
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


# Included by ecsportal/urls.py at ``api/ping``.
urlpatterns = [path("", PingView.as_view(), name="ping")]
