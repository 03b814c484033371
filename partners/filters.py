"""The one definition of "filter the retrieval audit": by partner, direction, decision, time
and request id. The OAM API's ``audit/``, ``ecs_audit`` and the admin's list filters
(``list_filter``) all filter with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters
from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from ecscore.datetimes import parse_datetime

from .models import RetrievalAudit


class DateTimeField(forms.CharField):
    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        if not value:
            return None
        parsed = parse_datetime(value)
        if parsed is None:
            raise ValidationError("Give a date-time with a time zone, e.g. 2026-11-25T10:00:00Z.")
        return parsed


class DateTimeFilter(django_filters.Filter):
    """A 3GPP DateTime (RFC 3339, with a time zone), as the configuration file writes them."""

    field_class = DateTimeField


class RetrievalAuditFilterSet(django_filters.FilterSet):
    partner = django_filters.CharFilter(
        field_name="partner_label", help_text="The partner ECS's id (as it was at the time)."
    )
    direction = django_filters.ChoiceFilter(choices=RetrievalAudit.DIRECTIONS)
    decision = django_filters.ChoiceFilter(choices=RetrievalAudit.DECISIONS)
    since = DateTimeFilter(field_name="at", lookup_expr="gte", help_text="at or after")
    until = DateTimeFilter(field_name="at", lookup_expr="lt", help_text="before")
    request_id = django_filters.CharFilter(field_name="request_id")
    failed = django_filters.BooleanFilter(
        help_text="We needed the partner and got no usable answer (down, slow, invalid, "
        "circuit open)."
    )

    class Meta:
        model = RetrievalAudit
        fields: list[str] = []


def list_filter(
    filterset_class: type[django_filters.FilterSet],
    name: str,
    title: str = "",
    lookups: Callable[[], list[tuple[str, str]]] | None = None,
) -> type[admin.SimpleListFilter]:
    """An admin list filter that filters with ``filterset_class``'s filter ``name`` (its
    choices, or ``lookups()``), so the admin means what the API and the commands mean."""
    declared = filterset_class.base_filters[name]

    class FilterSetListFilter(admin.SimpleListFilter):
        parameter_name = name

        def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
            if lookups is not None:
                return lookups()
            return [(str(value), label) for value, label in declared.extra.get("choices", [])]

        def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
            if self.value() is None:
                return queryset
            filterset = filterset_class({name: self.value()}, queryset=queryset)
            # An invalid value (a hand-edited URL) filters nothing, as the admin's own do.
            return filterset.qs if filterset.is_valid() else queryset

    FilterSetListFilter.title = title or name.replace("_", " ")
    FilterSetListFilter.__name__ = f"{filterset_class.__name__}_{name}"
    return FilterSetListFilter
