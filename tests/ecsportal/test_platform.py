"""The platform around the APIs: health, OpenAPI, request ids, checks, settings, schemas."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core import checks
from django.test import override_settings

from ecscore.middleware import RequestIDLogFilter
from ecscore.schemas import BUNDLE_PATH, build_bundle
from ecsportal import apis
from ecsportal.checks import cachalot_needs_shared_cache
from provisioning import inventory
from tests.builders import EDGE4_REQUEST, make_edn, make_ees, post_json

REPO = Path(__file__).resolve().parents[2]
SHARED_OPENAPI = Path(__file__).resolve().parents[3] / "shared" / "3gpp-openapi"
MINTED_ID = re.compile(r"^[0-9a-f]{32}$")
STRONG_SECRET = secrets.token_urlsafe(50)

# Both aliases the settings name: cachalot's is "cachalot" when REDIS_URL is set, else "default".
_LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
LOCMEM = {"default": _LOCMEM, "cachalot": _LOCMEM}
_REDIS = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:6379/2"}
REDIS = {"default": _REDIS, "cachalot": _REDIS}


# --- /healthz --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_reports_database_and_cache_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("status", "checks")} == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok"},
    }
    # Inside the test's transaction the index is never consulted, so it is not built.
    assert body["inventoryIndex"]["state"] == "none"
    assert body["inventoryIndex"]["pid"] == os.getpid()


@pytest.mark.django_db(transaction=True)
def test_healthz_shows_the_inventory_index_once_built(client):
    edn = make_edn("edn-h")
    make_ees(edn, "ees-h")
    assert inventory.index.wait_built() is not None
    index = client.get("/healthz").json()["inventoryIndex"]
    assert index["state"] == "ready"
    assert (index["eess"], index["edns"]) == (1, 1)
    assert index["builtSeconds"] >= 0


@pytest.mark.django_db
def test_healthz_answers_head_for_load_balancers(client):
    assert client.head("/healthz").status_code == 200


@pytest.mark.django_db
def test_healthz_fails_when_the_cache_does_not_keep_values(client):
    dummy = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    with override_settings(CACHES=dummy):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "failing"
    assert response.json()["checks"] == {"database": "ok", "cache": "failing"}


# --- OpenAPI ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_openapi_document_describes_the_edge4_request(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "post" in document["paths"]["/eecs-serviceprovisioning/v1/request"]
    yaml_response = client.get("/api/schema/")
    assert yaml_response.status_code == 200
    assert b"/eecs-serviceprovisioning/v1/request:" in yaml_response.content


@pytest.mark.django_db
def test_swagger_ui_page_uses_only_local_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert 'id="swagger-ui"' in page
    assert "/api/schema/" in page
    for cdn in ("jsdelivr", "unpkg", "cdnjs", "googleapis"):
        assert cdn not in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    static_url = settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/static/"
    for asset in assets:
        assert asset.startswith(static_url), asset
        # ... and this server serves it.
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert int(served["Content-Length"]) > 0, asset
        served.close()


# --- X-Request-ID ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/healthz"),
        ("get", "/api/schema/"),
        ("get", "/admin/"),  # redirect to the login page
        ("get", "/no-such-page"),
        ("get", "/eecs-serviceprovisioning/v1/no-such-resource"),
        ("get", EDGE4_REQUEST),  # 405
        ("post", EDGE4_REQUEST),  # 400, invalid body
    ],
)
def test_every_response_carries_a_request_id(client, method, path):
    if method == "post":
        response = post_json(client, path, {"eecId": 7})
        assert response.status_code == 400
    else:
        response = client.get(path)
    assert MINTED_ID.match(response["X-Request-ID"])


@pytest.mark.django_db
def test_each_request_gets_its_own_id(client):
    ids = {client.get("/healthz")["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", ["abc-123", "partner.ecs:4711_x", "A" * 128])
def test_safe_incoming_request_id_is_echoed(client, incoming):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)
    assert response.status_code == 200
    assert response["X-Request-ID"] == incoming


@pytest.mark.django_db
@pytest.mark.parametrize(
    "incoming",
    ["has spaces", "A" * 129, "", "semi;colon", "<script>", "trailing-newline\n", "ünicode"],
)
def test_unsafe_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)
    assert response.status_code == 200
    assert MINTED_ID.match(response["X-Request-ID"])


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RequestIDLogFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records():
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler.records
    root.removeHandler(handler)


@pytest.mark.django_db
def test_log_lines_of_a_request_carry_its_id(client, log_records):
    dummy = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    with override_settings(CACHES=dummy):
        client.get("/healthz", HTTP_X_REQUEST_ID="trace-health")  # logs "cache failed"
    client.get("/eecs-serviceprovisioning/v1/none", HTTP_X_REQUEST_ID="trace-404")

    by_logger = {(r.name, r.request_id) for r in log_records}
    assert ("ecsportal.health", "trace-health") in by_logger
    # Django's own "Not Found" line is written after the middleware returned.
    assert ("django.request", "trace-404") in by_logger
    assert all(r.request_id != "-" for r in log_records if r.name.startswith("django.request"))


# --- system check ----------------------------------------------------------------------------


def _check_ids(**overrides) -> list[str]:
    with override_settings(**overrides):
        return [m.id for m in cachalot_needs_shared_cache(None)]


def test_w001_warns_about_a_per_process_cache_in_production():
    assert _check_ids(DEBUG=False, CACHALOT_ENABLED=True, CACHES=LOCMEM) == ["ecsportal.W001"]
    with override_settings(DEBUG=False, CACHALOT_ENABLED=True, CACHES=LOCMEM):
        (warning,) = cachalot_needs_shared_cache(None)
    assert warning.level == checks.WARNING
    assert "REDIS_URL" in warning.hint


def test_w001_is_silent_with_redis_in_debug_and_without_cachalot():
    assert _check_ids(DEBUG=False, CACHALOT_ENABLED=True, CACHES=REDIS) == []
    assert _check_ids(DEBUG=True, CACHALOT_ENABLED=True, CACHES=LOCMEM) == []
    assert _check_ids(DEBUG=False, CACHALOT_ENABLED=False, CACHES=LOCMEM) == []


def test_w001_is_registered_with_the_system_checks():
    with override_settings(DEBUG=False, CACHALOT_ENABLED=True, CACHES=LOCMEM):
        found = [m.id for m in checks.run_checks()]
    assert "ecsportal.W001" in found
    with override_settings(DEBUG=False, CACHALOT_ENABLED=True, CACHES=REDIS):
        found = [m.id for m in checks.run_checks()]
    assert "ecsportal.W001" not in found


# --- settings from the environment -----------------------------------------------------------


def _import_settings(tmp_path, code: str = "import ecsportal.settings", **env: str):
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    environ["ECS_VAR_DIR"] = str(tmp_path / "var")
    environ["ALLOWED_HOSTS"] = "ecs.example.net"
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_refuse_to_load_without_secret_key(tmp_path):
    result = _import_settings(tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_settings_refuse_an_empty_secret_key_with_debug_off(tmp_path):
    result = _import_settings(tmp_path, SECRET_KEY="", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_settings_load_in_debug_mode_without_secret_key(tmp_path):
    result = _import_settings(
        tmp_path,
        "import ecsportal.settings as s; print(s.DEBUG, bool(s.SECRET_KEY))",
        DEBUG="1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


PRINT_DATABASE = (
    "import json, ecsportal.settings as s; "
    "print(json.dumps({'db': s.DATABASES['default'], 'cache': s.CACHES['default']}, default=str))"
)


def test_database_url_sqlite(tmp_path):
    db_file = tmp_path / "data" / "ecs.sqlite3"
    result = _import_settings(
        tmp_path, PRINT_DATABASE, SECRET_KEY=STRONG_SECRET, DATABASE_URL=f"sqlite:///{db_file}"
    )
    assert result.returncode == 0, result.stderr
    db = json.loads(result.stdout)["db"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(db_file)
    assert db_file.parent.is_dir()  # created, so the first migrate does not fail


def test_database_url_default_is_sqlite_in_the_var_dir(tmp_path):
    result = _import_settings(tmp_path, PRINT_DATABASE, SECRET_KEY=STRONG_SECRET)
    assert result.returncode == 0, result.stderr
    db = json.loads(result.stdout)["db"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "var" / "ecsportal.sqlite3")


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_database_url_postgres(tmp_path, scheme):
    result = _import_settings(
        tmp_path,
        PRINT_DATABASE,
        SECRET_KEY=STRONG_SECRET,
        DATABASE_URL=f"{scheme}://ecs:pw@db.example:5433/ecsportal",
        REDIS_URL="redis://cache.example:6379/1",
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    db = printed["db"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "ecsportal",
        "ecs",
        "pw",
        "db.example",
        5433,
    )
    assert printed["cache"]["BACKEND"] == "ecscore.cache.ResilientRedisCache"
    assert printed["cache"]["LOCATION"] == "redis://cache.example:6379/1"


# --- errors under API paths ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/eecs-serviceprovisioning/v1/no-such-resource", "/eecs-unknown/v1/x", "/api/nope"]
)
def test_404_under_an_api_path_is_problem_details(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["cause"] == "RESOURCE_NOT_FOUND"


@pytest.mark.django_db
def test_404_elsewhere_is_an_html_page(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_wrong_method_on_an_api_is_problem_details(client):
    response = client.get(EDGE4_REQUEST)
    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["cause"] == "METHOD_NOT_ALLOWED"


# --- the 3GPP schema bundle ------------------------------------------------------------------


def test_committed_bundle_is_what_the_3gpp_files_give():
    assert SHARED_OPENAPI.is_dir(), f"3GPP OpenAPI files expected at {SHARED_OPENAPI}"
    rebuilt = (
        json.dumps(
            build_bundle(SHARED_OPENAPI, apis.bundled_schema_files()), indent=1, sort_keys=True
        )
        + "\n"
    )
    committed = BUNDLE_PATH.read_text(encoding="utf-8")
    assert rebuilt == committed, "run scripts/bundle_3gpp_schemas.py and commit the result"
