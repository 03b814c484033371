"""``changes/``: the change log (``ecscore.history``) of every tracked model, as one list.

Each tracked model has its own change-log table; the list merges them newest first. A page
reads at most ``limit + 1`` rows of each table, through the cursor's position (time, model,
row), and one more query per table for the rows each is compared with (the diff): the cost of
a page does not grow with the log. ``model`` narrows the tables; a user sees the tables of the
models it may view (the operator all, an auditor none).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from django.db.models import OuterRef, Q, Subquery
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from ecscore import configfile, errors
from ecscore.datetimes import format_datetime
from partners.models import AuthorizationPolicy, PartnerECS
from provisioning.models import EDN, EES, ECSConfiguration

from . import filters, serializers
from .views import PAGING_PARAMETERS, OAMViewSet

ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def _ecs_label(row: Any) -> str:
    return "ecs"


#: API name -> (model, how a row names its object as the configuration file does).
TRACKED: dict[str, tuple[Any, Any]] = {
    "ecs": (ECSConfiguration, _ecs_label),
    "edn": (EDN, lambda row: row.edn_id or f"{row.dnn}"),
    "ees": (EES, lambda row: row.ees_id),
    "partner": (PartnerECS, lambda row: row.partner_id),
    "policy": (
        AuthorizationPolicy,
        lambda row: row.policy_id or f"partner:{row.partner_id or row.partner_ecs_id}",
    ),
}
ORDER = sorted(TRACKED)  # ties in time go by model name, then row, all descending
#: Bookkeeping that is no change of the object.
_NOT_DIFFED = {"created", "updated", "has_area", "serves_home"}


def _encode(position: tuple[str, str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def _decode(cursor: str) -> tuple[Any, str, int]:
    from ecscore.datetimes import parse_datetime

    try:
        at, model, row = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        parsed = parse_datetime(at)
        if parsed is None or model not in TRACKED or not isinstance(row, int):
            raise ValueError
        return parsed, model, row
    except (ValueError, TypeError) as exc:
        raise errors.InvalidRequest(
            "The cursor is not one this API gave.",
            invalid_params=[{"param": "cursor", "reason": "not a cursor of changes/"}],
        ) from exc


def _fields(history_model: Any) -> list[str]:
    return [
        f.attname
        for f in history_model.instance_type._meta.concrete_fields
        if f.attname not in _NOT_DIFFED
        and not f.attname.startswith("history_")
        and hasattr(history_model, f.attname)
    ]


def _value(value: Any) -> Any:
    return format_datetime(value) if hasattr(value, "tzinfo") else configfile.canonical(value)


class ChangeViewSet(OAMViewSet):
    """``changes/``: object, action, user, request id, time and diff of every write."""

    serializer_class = serializers.ChangeSerializer
    filterset_class = filters.ChangeFilterSet
    pagination_class = None
    filter_backends: list[Any] = []
    #: The page is ChangePageSerializer's, made here (see OAMAutoSchema).
    pages_itself = True

    def permission_model(self) -> Any:
        return None

    def check_permissions(self, request: Request) -> None:
        user = request.user
        if not user or not user.is_authenticated:
            raise exceptions.NotAuthenticated("An OAM API token is required.")
        if not self.visible_models():
            raise exceptions.PermissionDenied("Your user may view no model's change log.")

    def visible_models(self) -> list[str]:
        user = self.request.user
        return [
            name
            for name in ORDER
            if user.has_perm(
                f"{TRACKED[name][0]._meta.app_label}.view_{TRACKED[name][0]._meta.model_name}"
            )
        ]

    @extend_schema(
        parameters=[
            OpenApiParameter("model", str, enum=ORDER, description="Only this model's changes."),
            OpenApiParameter("user", str, description="The acting user's username."),
            OpenApiParameter("request_id", str, description="The X-Request-ID of the write."),
            OpenApiParameter("since", str, description="At or after this date-time."),
            OpenApiParameter("cursor", str, description="The page (from next)."),
            OpenApiParameter("limit", int, description="Rows per page (at most 1000)."),
        ],
        responses={200: serializers.ChangePageSerializer},
    )
    def list(self, request: Request) -> Response:
        params = request.query_params
        allowed = PAGING_PARAMETERS | {"model"} | set(filters.ChangeFilterSet.base_filters)
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise errors.InvalidRequest(
                "Unknown query parameters.",
                invalid_params=[{"param": name, "reason": "unknown"} for name in unknown],
            )
        models = self.visible_models()
        if params.get("model"):
            if params["model"] not in TRACKED:
                raise errors.InvalidRequest(
                    "Unknown model.",
                    invalid_params=[{"param": "model", "reason": f"one of {', '.join(ORDER)}"}],
                )
            if params["model"] not in models:
                raise exceptions.PermissionDenied("Your user may not view this model.")
            models = [params["model"]]
        try:
            limit = min(max(int(params.get("limit", 50)), 1), 1000)
        except ValueError as exc:
            raise errors.InvalidRequest(
                "limit must be a whole number.",
                invalid_params=[{"param": "limit", "reason": "a whole number"}],
            ) from exc
        cursor = _decode(params["cursor"]) if params.get("cursor") else None
        rows: list[tuple[Any, str, Any]] = []
        for name in models:
            history = TRACKED[name][0].history.model
            queryset = history.objects.select_related("history_user")
            filterset = filters.ChangeFilterSet(params, queryset=queryset)
            if not filterset.is_valid():
                raise exceptions.ValidationError(filterset.errors)
            queryset = filterset.qs
            if cursor is not None:
                queryset = queryset.filter(self._after(cursor, name))
            page = queryset.order_by("-history_date", "-history_id")[: limit + 1]
            rows += [(row.history_date, name, row) for row in page]
        rows.sort(key=lambda r: (r[0], ORDER.index(r[1]), r[2].history_id), reverse=True)
        more = len(rows) > limit
        rows = rows[:limit]
        previous = self._previous_rows(rows)
        results = [
            self._entry(name, row, previous.get((name, row.history_id))) for _, name, row in rows
        ]
        next_url = None
        if more and rows:
            at, name, row = rows[-1]
            # Microseconds kept: a 3GPP DateTime has whole seconds, and the rows of one
            # second on either side of the cursor would be skipped or repeated.
            exact = at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
            position = _encode((exact, name, row.history_id))
            next_url = replace_query_param(request.build_absolute_uri(), "cursor", position)
        return Response({"next": next_url, "results": results})

    @staticmethod
    def _after(cursor: tuple[Any, str, int], name: str) -> Q:
        at, model, row = cursor
        rank, cursor_rank = ORDER.index(name), ORDER.index(model)
        if rank < cursor_rank:
            return Q(history_date__lte=at)
        if rank > cursor_rank:
            return Q(history_date__lt=at)
        return Q(history_date__lt=at) | Q(history_date=at, history_id__lt=row)

    @staticmethod
    def _previous_rows(rows: list[tuple[Any, str, Any]]) -> dict[tuple[str, int], Any]:
        """The row before each (same object), one query per table."""
        found: dict[tuple[str, int], Any] = {}
        for name in {n for _, n, _ in rows}:
            history = TRACKED[name][0].history.model
            ids = [row.history_id for _, n, row in rows if n == name]
            before = history.objects.filter(
                id=OuterRef("id"), history_id__lt=OuterRef("history_id")
            ).order_by("-history_id")
            links = dict(
                history.objects.filter(history_id__in=ids)
                .annotate(prev=Subquery(before.values("history_id")[:1]))
                .values_list("history_id", "prev")
            )
            prev_rows = history.objects.in_bulk([p for p in links.values() if p is not None])
            for row_id, prev in links.items():
                if prev is not None:
                    found[(name, row_id)] = prev_rows[prev]
        return found

    @staticmethod
    def _entry(name: str, row: Any, previous: Any) -> dict[str, Any]:
        diff: dict[str, Any] = {}
        if previous is not None and row.history_type != "-":
            for field in _fields(type(row)):
                old, new = getattr(previous, field), getattr(row, field)
                if old != new:
                    diff[field] = {"old": _value(old), "new": _value(new)}
        user = row.history_user
        return {
            "id": f"{name}:{row.history_id}",
            "model": name,
            "object": TRACKED[name][1](row),
            "action": ACTIONS.get(row.history_type, row.history_type),
            "user": user.get_username() if user is not None else None,
            "actor": row.actor,
            "requestId": row.request_id,
            "reason": row.history_change_reason,
            "at": format_datetime(row.history_date),
            "diff": diff,
        }
