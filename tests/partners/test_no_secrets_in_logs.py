"""No credential ever reaches a log line, an audit row, a cache entry or the change log.

A full federation exchange runs in-process with every logger at DEBUG: the operator adds a
partner ECS in the admin (its inbound token is generated and shown once) with an outdated
outbound token; the partner -- a real HTTP server on 127.0.0.1 that checks the Bearer token --
refuses our first request with 401; the operator enters the right token in the admin, and
the partner answers the next request, which is cached.  The partner asks us too (EDGE-10),
once with its token and once with a wrong one; an EEC obtains an OAuth 2.0 access token with
its client secret and uses it for its EDGE-4 requests; the operator logs in to the admin,
once with a mistyped password.  Then no token, secret or password may appear anywhere an
operator or an attacker reading logs and records would look.

The same holds when we obtain tokens at a partner's OAuth 2.0 token endpoint: for the client
secret we present there (a wrong one first, then the right one), and for every access token
the partner issues us -- including one it revoked, which we replace after its 401.
"""

from __future__ import annotations

import base64
import logging
import re
from html.parser import HTMLParser
from urllib.parse import unquote_plus

import pytest
from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core import serializers
from django.test import Client

from partners.models import PartnerECS, ProvisioningCacheEntry, RetrievalAudit
from tests.access.test_oauth import get_token, make_client
from tests.builders import (
    EDGE4_REQUEST,
    EDGE10_REQUEST,
    configure_ecs,
    edge4_request,
    edn_config_json,
    ees_ids,
    ees_info_json,
    make_policy,
    post_json,
)
from tests.loopback import LoopbackServer, Received, Reply

pytestmark = pytest.mark.django_db

PARTNER_ID = "ecs.partner.secrets"
OLD_OUTBOUND = "old-outbound-token-4c1d9a7f0e2b48d6a5f3"
GOOD_OUTBOUND = "good-outbound-token-9e8f7a6b5c4d3e2f1a0b"
WRONG_INBOUND = "wrong-inbound-token-a1b2c3d4e5f60718293a"
ADMIN_PASSWORD = "Adm1n-pass-phrase-7f3e9b2c"
MISTYPED_PASSWORD = "Adm1n-pass-phrase-7f3e9b2X"
EEC_ID = "eec-test-1"


class Partner:
    """A partner ECS on 127.0.0.1: answers EDGE-10 requests that carry ``GOOD_OUTBOUND``,
    refuses others with 401, and records the Authorization header of each request."""

    def __init__(self) -> None:
        self.authorizations: list[str] = []
        self.server = LoopbackServer(self._respond)
        self.api_root = self.server.url

    def _respond(self, request: Received) -> Reply:
        authorization = request.headers.get("Authorization", "")
        self.authorizations.append(authorization)
        if authorization == f"Bearer {GOOD_OUTBOUND}":
            edn = edn_config_json("partner.edge", ees_info_json("ees.partner.1"))
            return Reply(200, {"ednCnfgInfo": [edn]})
        unauthorized = {"title": "Unauthorized", "status": 401, "cause": "UNAUTHORIZED"}
        return Reply(401, unauthorized, content_type="application/problem+json")

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def partner_server():
    server = Partner()
    yield server
    server.close()


class _FormFields(HTMLParser):
    """The fields of an admin form with the values it shows (what a browser would submit)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.fields[name] = a.get("value", "on" if a.get("type") == "checkbox" else "")
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select:
            if "selected" in a or self._select not in self.fields:
                self.fields[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data


def admin_form(client: Client, url: str) -> dict[str, str]:
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    parser = _FormFields()
    parser.feed(response.content.decode())
    parser.fields.pop("csrfmiddlewaretoken", None)
    return parser.fields


def test_no_credential_reaches_logs_audit_cache_or_change_log(caplog, partner_server):
    # As with LOG_LEVEL=DEBUG, plus Django's request and database loggers at DEBUG (the
    # levels the project's LOGGING gives other loggers stand).
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.request")
    caplog.set_level(logging.DEBUG, logger="django.db")

    configure_ecs()
    get_user_model().objects.create_superuser("oam", "oam@example.org", ADMIN_PASSWORD)
    admin = Client()

    # The operator logs in (mistyping the password first) and adds the partner.
    assert (
        admin.post("/admin/login/", {"username": "oam", "password": MISTYPED_PASSWORD}).status_code
        == 200
    )
    login = admin.post(
        "/admin/login/?next=/admin/", {"username": "oam", "password": ADMIN_PASSWORD}
    )
    assert login.status_code == 302, login.content[:500]
    form = admin_form(admin, "/admin/partners/partnerecs/add/")
    form.update(
        partner_id=PARTNER_ID,
        api_root=partner_server.api_root,
        plmns="[]",
        consult="always",
        outbound_token=OLD_OUTBOUND,
        timeout="5",
    )
    form.pop("generate_inbound_token", None)  # a new partner always gets one
    shown = admin.post("/admin/partners/partnerecs/add/", form)
    assert shown.status_code == 200, shown.content[:500]
    inbound_token = re.search(r'id="inbound-token"[^>]*value="([^"]+)"', shown.content.decode())
    assert inbound_token, shown.content[:1000]
    inbound_token = inbound_token.group(1)
    partner = PartnerECS.objects.get(partner_id=PARTNER_ID)
    make_policy(partner)

    # An EEC gets an access token with its client secret.
    eec = Client()
    client_id, client_secret = make_client("eec", EEC_ID, ["eecs-serviceprovisioning"])
    token = get_token(eec, client_id, client_secret)
    assert token["status"] == 200, token
    access_token = token["access_token"]
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {access_token}"}

    # The partner refuses our outdated token: nothing to answer.
    refused = post_json(eec, EDGE4_REQUEST, edge4_request(eas_ids=["app.one"]), **bearer)
    assert refused.status_code == 204, refused.content[:500]

    # The operator enters the right token; the partner answers, and we cache its answer.
    url = f"/admin/partners/partnerecs/{partner.pk}/change/"
    form = admin_form(admin, url)
    form.update(outbound_token=GOOD_OUTBOUND)
    assert admin.post(url, form).status_code == 302
    answered = post_json(eec, EDGE4_REQUEST, edge4_request(eas_ids=["app.one"]), **bearer)
    assert ees_ids(answered) == ["ees.partner.1"]
    assert partner_server.authorizations == [f"Bearer {OLD_OUTBOUND}", f"Bearer {GOOD_OUTBOUND}"]
    assert ProvisioningCacheEntry.objects.filter(partner=partner).count() == 1

    # The partner asks us, once with its token and once with a wrong one.
    ask = {"reqEcsId": PARTNER_ID}
    ok = post_json(Client(), EDGE10_REQUEST, ask, HTTP_AUTHORIZATION=f"Bearer {inbound_token}")
    assert ok.status_code in (200, 204), ok.content[:500]
    wrong = post_json(Client(), EDGE10_REQUEST, ask, HTTP_AUTHORIZATION=f"Bearer {WRONG_INBOUND}")
    assert wrong.status_code == 401

    secrets = {
        "the outbound token refused": OLD_OUTBOUND,
        "the outbound token": GOOD_OUTBOUND,
        "the partner's inbound token": inbound_token,
        "a wrong inbound token": WRONG_INBOUND,
        "the OAuth client secret": client_secret,
        "the OAuth access token": access_token,
        "the admin password": ADMIN_PASSWORD,
        "a mistyped admin password": MISTYPED_PASSWORD,
    }

    assert len(caplog.records) > 5  # the capture works: requests were logged
    assert RetrievalAudit.objects.filter(direction=RetrievalAudit.INBOUND).count() >= 2
    assert RetrievalAudit.objects.filter(direction=RetrievalAudit.OUTBOUND).count() >= 2
    assert_nowhere(secrets, caplog)


def assert_nowhere(secrets: dict[str, str], caplog) -> None:
    """None of ``secrets`` (what it is: value) in a log record or anything stored."""
    # Logs: every record, its arguments, its traceback, and the formatted text.
    texts = [caplog.text]
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.args), record.exc_text or ""]
    leaks = [(what, text) for what, secret in secrets.items() for text in texts if secret in text]
    assert not leaks, f"in a log record: {leaks[:3]}"

    # Audit rows, cache entries and every change-log table (the admin's log included).
    history_models = [m for m in apps.get_models() if m.__name__.startswith("Historical")]
    assert any(m.objects.exists() for m in history_models)
    stored = {
        "audit": RetrievalAudit.objects.all(),
        "cache": ProvisioningCacheEntry.objects.all(),
        "admin log": LogEntry.objects.all(),
        **{model._meta.label: model.objects.all() for model in history_models},
    }
    for where, rows in stored.items():
        text = serializers.serialize("json", rows)
        found = [what for what, secret in secrets.items() if secret in text]
        assert not found, f"{', '.join(found)} in {where}"


CLIENT_ID = "our-client-at-the-partner"
WRONG_CLIENT_SECRET = "wrong-client-secret-5d4c3b2a19087f6e"
GOOD_CLIENT_SECRET = "good-client-secret-f0e1d2c3b4a59687"


class OAuthPartner:
    """A partner ECS on 127.0.0.1 with an OAuth 2.0 token endpoint: issues a token for
    ``GOOD_CLIENT_SECRET`` and answers EDGE-10 requests that carry the latest one."""

    def __init__(self) -> None:
        self.issued: list[str] = []
        self.server = LoopbackServer(self._respond)
        self.api_root = self.server.url

    def _respond(self, request: Received) -> Reply:
        authorization = request.headers.get("Authorization", "")
        if request.path == "/oauth2/token/":
            encoded = authorization.removeprefix("Basic ")
            user, _, password = base64.b64decode(encoded).decode().partition(":")
            if (unquote_plus(user), unquote_plus(password)) != (CLIENT_ID, GOOD_CLIENT_SECRET):
                return Reply(401, {"error": "invalid_client"})
            token = f"issued-access-token-{len(self.issued)}-9c8b7a6f5e4d3c2b"
            self.issued.append(token)
            return Reply(200, {"access_token": token, "token_type": "Bearer"})
        if self.issued and authorization == f"Bearer {self.issued[-1]}":
            edn = edn_config_json("partner.edge", ees_info_json("ees.partner.1"))
            return Reply(200, {"ednCnfgInfo": [edn]})
        return Reply(401, {"title": "Unauthorized", "status": 401})

    def revoke(self) -> None:
        """Forget every token issued so far (the next one issued is valid)."""
        self.issued.append("revoked-placeholder")

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def oauth_partner():
    server = OAuthPartner()
    yield server
    server.close()


def test_no_client_secret_or_obtained_token_reaches_logs_audit_cache_or_change_log(
    caplog, oauth_partner
):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.request")
    caplog.set_level(logging.DEBUG, logger="django.db")
    configure_ecs()
    get_user_model().objects.create_superuser("oam", "oam@example.org", ADMIN_PASSWORD)
    admin = Client()
    admin.post("/admin/login/?next=/admin/", {"username": "oam", "password": ADMIN_PASSWORD})

    # The operator adds the partner with its token endpoint and a mistyped client secret.
    form = admin_form(admin, "/admin/partners/partnerecs/add/")
    form.update(
        partner_id=PARTNER_ID,
        api_root=oauth_partner.api_root,
        plmns="[]",
        consult="always",
        token_url=oauth_partner.api_root + "/oauth2/token/",
        client_id=CLIENT_ID,
        client_secret=WRONG_CLIENT_SECRET,
        timeout="5",
    )
    form.pop("generate_inbound_token", None)
    assert admin.post("/admin/partners/partnerecs/add/", form).status_code == 200
    partner = PartnerECS.objects.get(partner_id=PARTNER_ID)
    make_policy(partner)
    eec = Client()

    # The token endpoint refuses the wrong secret: nothing to answer.
    refused = post_json(eec, EDGE4_REQUEST, edge4_request(eas_ids=["app.one"]))
    assert refused.status_code == 204, refused.content[:500]
    assert oauth_partner.issued == []

    # The operator enters the right secret; the admin never shows it back.
    url = f"/admin/partners/partnerecs/{partner.pk}/change/"
    form = admin_form(admin, url)
    assert form["client_secret"] == ""
    form.update(client_secret=GOOD_CLIENT_SECRET)
    assert admin.post(url, form).status_code == 302
    page = admin.get(url).content.decode()
    assert GOOD_CLIENT_SECRET not in page and WRONG_CLIENT_SECRET not in page
    answered = post_json(eec, EDGE4_REQUEST, edge4_request(eas_ids=["app.one"]))
    assert ees_ids(answered) == ["ees.partner.1"]

    # The partner revokes that token: the next call gets a 401, and a fresh token.
    oauth_partner.revoke()
    again = post_json(eec, EDGE4_REQUEST, edge4_request(eas_ids=["app.two"]))
    assert ees_ids(again) == ["ees.partner.1"]
    issued = [t for t in oauth_partner.issued if t.startswith("issued-")]
    assert len(issued) == 2
    assert ProvisioningCacheEntry.objects.filter(partner=partner).count() == 2

    secrets = {
        "a wrong client secret": WRONG_CLIENT_SECRET,
        "the client secret": GOOD_CLIENT_SECRET,
        "the admin password": ADMIN_PASSWORD,
        **{f"access token {i} the partner issued": token for i, token in enumerate(issued)},
    }
    assert RetrievalAudit.objects.filter(direction=RetrievalAudit.OUTBOUND).count() >= 3
    assert_nowhere(secrets, caplog)
