"""Fixtures the partner tests share."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def partner_server():
    """Start real partner ECSs on loopback (``PartnerServer``), told how to answer."""
    from tests.partners.test_partner_faults import PartnerServer

    servers: list[PartnerServer] = []

    def start(behaviour: str = "valid", **options: Any) -> PartnerServer:
        server = PartnerServer(behaviour, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
