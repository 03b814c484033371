"""The map of service areas in a real browser (Debian chromium through Playwright), with no
tile server: two overlapping EDNs drawn as two translucent shapes, their pair listed beside
the map, and not one request leaving the portal."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from tests.builders import area, make_edn
from tests.provisioning.test_service_map import square

pytestmark = pytest.mark.browser

#: Where to write a screenshot of the map (unset: none), to check the layout by eye.
SCREENSHOT = os.environ.get("ECS_MAP_SCREENSHOT", "")


def test_the_map_draws_two_overlapping_edns_and_lists_their_overlap(admin_page: Page, live_server):
    make_edn("edn-harbour", area_=area(geo=[square(59.90, 10.70, 0.03)]))
    make_edn("edn-old-town", dnn="edge.town", area_=area(geo=[square(59.92, 10.72, 0.03)]))
    page = admin_page
    foreign: list[str] = []
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith(live_server.url) else foreign.append(request.url)
        ),
    )
    page.goto("/admin/")
    page.click("#service-map-link a")
    expect(page).to_have_title("Map of service areas | ECS Portal")
    overlaps = page.locator("#map-overlaps li.overlap")
    expect(overlaps).to_have_count(1)
    expect(overlaps).to_have_text("edn-harbour and edn-old-town (shapes meet)")
    shapes = page.locator("#service-map path.area-edn")
    expect(shapes).to_have_count(2)
    # Translucent fills: where the two meet, both colours show.
    for i in range(2):
        assert float(shapes.nth(i).get_attribute("fill-opacity")) < 0.5
    # Both inside the map's box (the page fitted the view to them).
    box = page.locator("#service-map").bounding_box()
    for i in range(2):
        shape = shapes.nth(i).bounding_box()
        assert box["x"] <= shape["x"] and shape["x"] + shape["width"] <= box["x"] + box["width"]
    expect(page.locator("#map-status")).to_have_text("2 EDN and 0 EES areas in view, 2 shapes.")
    expect(page.locator("#map-more")).to_be_hidden()
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT)
    assert foreign == []  # no tile server, no CDN
    # A shape's popup links to its EDN's page.
    shapes.first.click(force=True)
    link = page.locator(".leaflet-popup-content a")
    expect(link).to_contain_text("EDN edn-")
    expect(link).to_have_attribute("href", re.compile(r"^/admin/provisioning/edn/\d+/change/$"))
