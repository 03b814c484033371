"""Cursor pagination for every OAM list: a page costs one indexed range scan however deep it
is, and no COUNT(*) of the table is ever made (the audit log has millions of rows)."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination

from ecscore import errors


class OAMCursorPagination(CursorPagination):
    ordering = "pk"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 1000

    def decode_cursor(self, request: Any) -> Cursor | None:
        # DRF answers a cursor it cannot read with 404; it is a bad parameter, not a
        # missing resource.
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            raise errors.InvalidRequest(
                "The cursor is not one this API gave.",
                invalid_params=[{"param": "cursor", "reason": "not a cursor of this list"}],
            ) from exc


class NewestFirstPagination(OAMCursorPagination):
    """Logs: newest first (the primary key grows with time)."""

    ordering = "-pk"
