"""Where the NEF posts its MonitoringNotification (the ``notificationDestination`` we give).

The NEF holds none of our API tokens: the URL's last segment is an unguessable
per-subscription token (``secrets.token_urlsafe(32)``) that only this NEF subscription knows,
and it is accepted only while the subscription it was made for can still use the report.
Everything else is the 3GPP API base's: body limits, JSON checks, the per-address rate,
ProblemDetails.
"""

from __future__ import annotations

from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from ecscore.problems import ProblemException
from ecscore.views import ThreeGPPAPIView

from . import resolver


class NotificationView(ThreeGPPAPIView):
    """``POST {ECS_PUBLIC_URL}/nef-notifications/v1/{token}`` (MonitoringNotification)."""

    authentication_classes: list = []  # the token in the path is the credential
    permission_classes = [AllowAny]
    schema = None  # not one of our APIs: the NEF's callback (TS 29.122)

    def post(self, request: Request, token: str) -> Response:
        body = self.validated_body(request)
        status = resolver.notified(token, body)
        if status == 404:
            raise ProblemException(404, "No such monitoring subscription.", "RESOURCE_NOT_FOUND")
        if status == 400:
            raise ProblemException(
                400, "The body is not a MonitoringNotification.", "INVALID_MSG_FORMAT"
            )
        return Response(status=204)
