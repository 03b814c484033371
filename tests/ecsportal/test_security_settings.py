"""Production-mode security: `check --deploy` passes with the defaults, HTTPS is required,
and /metrics is closed unless a token or an allowed network opens it."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def _manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECURE_", "SESSION_", "CSRF_", "ECS_METRICS"))
        and k not in {"DEBUG", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"}
    }
    environ.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="ecs.example.net",
        ECS_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="ecsportal.settings",
        **env,
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _check_ids(result: subprocess.CompletedProcess) -> set[str]:
    return set(re.findall(r"\(([a-z_0-9]+\.[EW]\d+)\)", result.stdout + result.stderr))


def test_check_deploy_passes_in_production_mode_with_the_defaults(tmp_path):
    result = _manage(tmp_path, "check", "--deploy")
    found = _check_ids(result)
    assert not {i for i in found if i.startswith("security.")}, result.stderr
    # No plaintext tokens, no password or implicit grant: the OAuth toolkit has nothing to say.
    assert not {i for i in found if i.startswith("oauth2_provider.")}, result.stderr


def test_turning_https_off_is_reported_by_check_deploy(tmp_path):
    result = _manage(
        tmp_path, "check", "--deploy", SECURE_SSL_REDIRECT="0", SESSION_COOKIE_SECURE="0"
    )
    assert {"security.W008", "security.W012"} <= _check_ids(result)


def _settings(tmp_path: Path, **env: str) -> list[str]:
    code = (
        "import ecsportal.settings as s; print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE,"
        " s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER)"
    )
    environ = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    environ.update(ALLOWED_HOSTS="ecs.example.net", ECS_VAR_DIR=str(tmp_path / "var"), **env)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=environ, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_debug_mode_keeps_plain_http_for_the_demo(tmp_path):
    assert _settings(tmp_path, DEBUG="1") == "False False False 0 None"
    production = _settings(tmp_path, SECRET_KEY=secrets.token_urlsafe(50))
    assert production == "True True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https')"


@override_settings(SECURE_SSL_REDIRECT=True)
def test_production_mode_redirects_plain_http_but_not_probes_and_scrapers(client):
    response = client.get("/api/schema/")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    # Behind the TLS proxy, which says so in X-Forwarded-Proto: no redirect.
    forwarded = client.get("/api/ping", HTTP_X_FORWARDED_PROTO="https")
    assert forwarded.status_code == 200
    assert client.get("/healthz").status_code == 200


# --- /metrics -------------------------------------------------------------------------------


def test_metrics_are_closed_by_default_in_production_mode(client):
    response = client.get("/metrics")
    assert response.status_code == 403
    assert "ecs_" not in response.content.decode()


@override_settings(DEBUG=True)
def test_metrics_are_open_on_a_debug_server_with_nothing_configured(client):
    assert client.get("/metrics").status_code == 200


@override_settings(ECS_METRICS_TOKEN="s3cret-scrape-token")
def test_metrics_need_the_token_when_one_is_set(client):
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    granted = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert granted.status_code == 200
    assert "ecs_notifications" in granted.content.decode()
    with override_settings(DEBUG=True):  # debug mode opens nothing once a token is set
        assert client.get("/metrics").status_code == 401


@override_settings(ECS_METRICS_ALLOW=["10.0.0.0/8", "2001:db8::/32"])
def test_metrics_are_open_to_the_allowed_networks_only(client):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 403
    with override_settings(ECS_METRICS_TOKEN="tok"):  # either way in
        allowed = client.get("/metrics", REMOTE_ADDR="192.0.2.1", HTTP_AUTHORIZATION="Bearer tok")
        assert allowed.status_code == 200


def test_a_malformed_metrics_network_stops_the_settings(tmp_path):
    result = _manage(tmp_path, "check", ECS_METRICS_ALLOW="10.0.0.0/33")
    assert result.returncode != 0
    assert "ECS_METRICS_ALLOW" in result.stderr
