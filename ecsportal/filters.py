"""Strict filtering for list endpoints: an unknown query parameter is a 400, not ignored.

A typo in a filter name must never return the whole unfiltered list to a script that
believes it filtered.
"""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend

from .api import ProblemException

# Parameters that pagination, ordering and rendering own rather than the filterset.
RESERVED_PARAMS = frozenset({"limit", "offset", "ordering", "format", "q"})


class StrictDjangoFilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request: Any, queryset: Any, view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        known = set(RESERVED_PARAMS)
        if filterset_class is not None:
            for name, flt in filterset_class.base_filters.items():
                known.add(name)
                widget = getattr(flt.field_class, "widget", None)
                suffixes = getattr(widget, "suffixes", None)
                if suffixes:
                    known.update(f"{name}_{suffix}" for suffix in suffixes)
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            reason = f"unknown query parameter; known: {', '.join(sorted(known))}"
            raise ProblemException(
                400,
                "The request has query parameters this list does not know.",
                "INVALID_QUERY_PARAM",
                [{"param": param, "reason": reason} for param in unknown],
            )
        return super().filter_queryset(request, queryset, view)
