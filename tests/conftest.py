"""Fixtures shared by every test package."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from provisioning import inventory
from tests.builders import EDGE4_FILE, EDGE4_REQUEST, post_json
from tests.openapi import assert_conforms


def clear_cache() -> None:
    """Empty this run's cache keys; on Redis only ours (the prefix), not the whole server."""
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache (cachalot's rows included) and no in-memory
    inventory index: a rolled-back test's rows must not outlive it there either."""
    clear_cache()
    inventory.index.reset()
    yield
    clear_cache()
    inventory.index.reset()


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def edge4(client):
    """POST an ECSServProvReq and check the answer against 3GPP's operation definition."""

    def call(body, **headers):
        response = post_json(client, EDGE4_REQUEST, body, **headers)
        assert_conforms(response, EDGE4_FILE, "/request", "post")
        return response

    return call


# Real-browser fixtures (browser, page, admin_page) for @pytest.mark.browser tests.
pytest_plugins = ["tests.browser"]
