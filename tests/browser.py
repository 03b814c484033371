"""Real-browser fixtures: Debian chromium, driven by Playwright, against the live server.

``browser`` is one headless chromium for the whole session; ``page`` is a fresh context (no
cookies, no storage) per test; ``admin_page`` is a ``page`` logged in through the real admin
login form as a new superuser (``admin_user_credentials``).

Playwright's sync API keeps an asyncio event loop running in the test thread for as long as it
lives, and Django then refuses ORM calls there (SynchronousOnlyOperation). Nothing async runs
in that thread, so the session fixture allows it while chromium is up and restores the
previous setting afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_USERNAME = "oam"
ADMIN_PASSWORD = "oam-password-for-tests"
#: Milliseconds Playwright waits for an element or a navigation before failing a test.
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def plain_static_files(settings):
    """Admin pages rendered without ``collectstatic``.

    With DEBUG off the settings pick WhiteNoise's manifest storage, whose ``{% static %}``
    needs the manifest that ``collectstatic`` writes; tests serve static files from the apps
    instead, so they use the plain storage. Django resets its cached storages on the change.
    """
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def page(browser, live_server, transactional_db, plain_static_files, monkeypatch):
    """A page in a fresh browser context, with the live server's URL as its base URL.

    The ORM query cache is off: the live server's request threads and the test's thread
    share it, and a read racing a write in another thread can leave cachalot holding the
    old rows (its result is stamped after the query), which made these tests flaky on
    PostgreSQL + Redis.  What they check is the admin, not the query cache.
    """
    from cachalot.settings import cachalot_settings

    # No database is cached (the per-query check, in every thread; the flag is only read at
    # startup).
    monkeypatch.setattr(cachalot_settings, "CACHALOT_DATABASES", frozenset())
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1400, "height": 1000}
    )
    context.set_default_timeout(TIMEOUT_MS)
    new_page = context.new_page()
    yield new_page
    context.close()


@pytest.fixture
def admin_user_credentials(transactional_db) -> tuple[str, str]:
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser(ADMIN_USERNAME, "oam@example.org", ADMIN_PASSWORD)
    return ADMIN_USERNAME, ADMIN_PASSWORD


@pytest.fixture
def admin_page(page, live_server, admin_user_credentials):
    """A page logged in to the admin through its login form."""
    username, password = admin_user_credentials
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(live_server.url + "/admin/")
    return page


# --- The admin's schema-driven editors (ecscore.editors, django-jsonform) -----------------


def editor(page, field: str):
    """The editor of one JSON member of an admin form."""
    return page.locator(f"#id_{field}_jsonform")


def control(page, field: str, *path: object):
    """The editor's input or select for one member, by its place in the 3GPP value."""
    name = "§".join(["rjf", *map(str, path)])
    return editor(page, field).locator(f"[name='{name}']")


def add_item(box) -> None:
    """Press the last "Add item" button inside ``box`` (an editor, or a list in it)."""
    box.get_by_role("button", name="Add item").last.click()


def editor_list(page, field: str, title: str):
    """A list inside an editor, by its title ("TAIs", "Geographic areas")."""
    return editor(page, field).locator(".rjf-form-group").filter(has_text=title).last


def add_plmn(page, field: str, mcc: str, mnc: str) -> None:
    """Add a PLMN to an editor's list of PLMNs and fill its MCC and MNC."""
    add_item(editor(page, field))
    index = editor(page, field).locator("input[name$='§mcc']").count() - 1
    control(page, field, index, "mcc").fill(mcc)
    control(page, field, index, "mnc").fill(mnc)
