"""The partner and policy pages of the admin as an OAM engineer meets them (Django test
client): a policy that would refuse everything says so, a typed secret is never silently
dropped, the partner page says what credential is set and links to its rows, and PLMN
mistakes are explained in words."""

from __future__ import annotations

import re

import pytest

from partners.models import AuthorizationPolicy, PartnerECS, RetrievalAudit
from tests.builders import make_partner, make_policy
from tests.partners.test_partner_config import PARTNER_ADD, POLICY_ADD, partner_form

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]


@pytest.fixture
def admin_client(client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("oam", "o@example.org", "pw"))
    return client


def policy_form(partner: PartnerECS, **changes: str) -> dict[str, str]:
    form = {
        "policy_id": "",
        "partner": str(partner.pk),
        "enabled": "on",
        "serving_plmns": "",
        "eas_ids": "",
        "ecsps": "",
        "dnns": "",
        "lifetime": "",
        "rate_per_minute": "",
    }
    form.update(changes)
    return form


def warnings(response) -> list[str]:
    """The warnings the page after a post shows (the post followed to its redirect)."""
    return [str(m) for m in response.context["messages"] if m.level_tag == "warning"]


def test_a_new_policy_offers_any_eas_id_and_one_allowing_none_is_saved_with_a_warning(
    admin_client,
):
    partner = make_partner()
    page = admin_client.get(POLICY_ADD).content.decode()
    assert "[\n  &quot;*&quot;\n]" in page or "[&quot;*&quot;]" in page  # the box holds ["*"]

    response = admin_client.post(POLICY_ADD, policy_form(partner, eas_ids=""), follow=True)
    assert response.redirect_chain
    assert AuthorizationPolicy.objects.get().eas_ids == []
    [warning] = warnings(response)
    assert "allows no EAS id" in warning and "403" in warning

    AuthorizationPolicy.objects.all().delete()
    response = admin_client.post(POLICY_ADD, policy_form(partner, eas_ids='["*"]'), follow=True)
    assert response.redirect_chain
    assert AuthorizationPolicy.objects.get().eas_ids == ["*"]
    assert warnings(response) == []


def test_a_secret_typed_in_a_form_with_errors_is_asked_for_again(admin_client):
    partner = make_partner("ecs.new.example", outbound_token="old-token")
    change = f"/admin/partners/partnerecs/{partner.pk}/change/"
    form = partner_form(plmns='[{"mcc": "1", "mnc": "01"}]', outbound_token="new-token")

    response = admin_client.post(change, form)
    assert response.status_code == 200  # shown again with the PLMN error
    page = response.content.decode()
    assert "new-token" not in page  # never shown back...
    assert "The outbound token you typed was not saved" in page  # ...but asked for again
    partner.refresh_from_db()
    assert partner.outbound_token == "old-token"

    # A form without errors: no such warning.
    response = admin_client.post(change, partner_form(outbound_token="new-token"))
    assert response.status_code == 302
    partner.refresh_from_db()
    assert partner.outbound_token == "new-token"


def test_plmn_mistakes_on_the_partner_and_policy_forms_are_explained_in_words(admin_client):
    response = admin_client.post(PARTNER_ADD, partner_form(plmns='[{"mcc": "1", "mnc": "01"}]'))
    errors = response.context["adminform"].form.errors
    assert errors["plmns"] == ['[0].mcc "1" is not valid: an MCC is 3 digits.']
    assert "pattern" not in response.content.decode()
    assert not PartnerECS.objects.exists()

    partner = make_partner()
    response = admin_client.post(
        POLICY_ADD, policy_form(partner, serving_plmns='[{"mcc": "001", "mnc": "1"}]')
    )
    errors = response.context["adminform"].form.errors
    assert errors["serving_plmns"] == ['[0].mnc "1" is not valid: an MNC is 2 or 3 digits.']


def test_the_partner_page_says_what_credential_is_set_and_links_to_its_rows(admin_client):
    partner = make_partner("ecs.linked.example", outbound_token="env:PARTNER_TOKEN")
    other = make_partner("ecs.other.example")
    make_policy(partner)
    make_policy(other)
    for who in (partner, partner, other):
        RetrievalAudit.objects.create(
            direction=RetrievalAudit.OUTBOUND,
            partner=who,
            partner_label=who.partner_id,
            request_id="r",
        )
    page = admin_client.get(f"/admin/partners/partnerecs/{partner.pk}/change/")
    html = page.content.decode()
    assert "outbound token set: read from the environment variable PARTNER_TOKEN" in html
    assert "PARTNER_TOKEN" not in str(page.context["adminform"].form["outbound_token"])

    links = {
        "its policies": 1,
        "its audit rows": 2,
        "its cached answers": 0,
    }
    related = page.context["adminform"].model_admin.related(partner)
    for label, count in links.items():
        href = related.split(f">{label}<")[0].rsplit('href="', 1)[1].split('"')[0]
        assert href in html
        listed = admin_client.get(href.replace("&amp;", "&"))
        assert listed.context["cl"].result_count == count, label

    bare = admin_client.get(f"/admin/partners/partnerecs/{other.pk}/change/").content.decode()
    assert "outbound token not set" in bare
    literal = make_partner("ecs.literal.example", outbound_token="s3cret-literal")
    page = admin_client.get(f"/admin/partners/partnerecs/{literal.pk}/change/")
    assert "outbound token set (stored in the database)" in page.content.decode()
    assert "s3cret-literal" not in page.content.decode()


def test_the_partner_list_and_page_say_when_the_partner_last_answered(admin_client):
    import datetime as dt

    from django.utils import timezone

    answered = make_partner("ecs.answered.example")
    silent = make_partner("ecs.silent.example")
    now = timezone.now()

    def audit(partner, minutes_ago, **fields):
        row = RetrievalAudit.objects.create(
            direction=RetrievalAudit.OUTBOUND,
            partner=partner,
            partner_label=partner.partner_id,
            request_id="r",
            **fields,
        )
        RetrievalAudit.objects.filter(pk=row.pk).update(at=now - dt.timedelta(minutes=minutes_ago))

    audit(answered, 30, cache=RetrievalAudit.MISS, status=200)  # the last success
    audit(answered, 10, cache=RetrievalAudit.MISS, status=None, failed=True)  # then down
    audit(answered, 5, cache=RetrievalAudit.HIT, status=200)  # from our cache: not a call
    audit(answered, 4, cache=RetrievalAudit.MISS, status=403)  # a refusal: not a success
    audit(silent, 1, cache=RetrievalAudit.MISS, status=None, failed=True)

    listed = admin_client.get("/admin/partners/partnerecs/")
    html = listed.content.decode()
    expected = timezone.localtime(now - dt.timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M")
    rows = [row for row in html.split("<tr")[1:] if "ecs." in row]
    answered_row = next(r for r in rows if "ecs.answered.example" in r)
    silent_row = next(r for r in rows if "ecs.silent.example" in r)
    assert re.search(rf'title="{expected}:\d\d">30 min ago</a>', answered_row), answered_row
    assert "never (no answered call in the audit log)" in silent_row

    # The time links to that partner's answered calls, the row among them.
    page = admin_client.get(f"/admin/partners/partnerecs/{answered.pk}/change/").content.decode()
    assert "30 min ago" in page
    href = page.split("30 min ago")[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    calls = admin_client.get(href)
    assert calls.context["cl"].result_count == 1
