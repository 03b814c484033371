"""The index rows that matching relies on follow every write path: move, bulk delete, cascade."""

import pytest

from provisioning.models import EDN, EES, AreaKey, EDNPlmn
from tests.builders import make_edn, make_ees, plmn, tai

# Real commits: foreign keys are checked at commit time, which is where a dangling index row
# left by a cascade would fail.
pytestmark = pytest.mark.django_db(transaction=True)


def served(edn: EDN) -> set[str]:
    return set(EDNPlmn.objects.filter(edn=edn).values_list("plmn", flat=True))


def test_moving_an_ees_updates_both_edns_served_plmns():
    a = make_edn("a", area_={"nwAreaInfo": {"tais": [tai("0001")]}})
    b = make_edn("b")
    roaming = make_ees(a, "e1", area_={"nwAreaInfo": {"tais": [tai("0002", plmn("002", "02"))]}})
    assert served(a) == {"001-01", "002-02"}
    roaming.edn = b
    roaming.save()
    assert served(a) == {"001-01"}
    assert served(b) == {"002-02"}
    b.refresh_from_db()
    assert not b.serves_home


def test_bulk_delete_of_eess_updates_the_edn():
    edn = make_edn("a")
    make_ees(edn, "e1", area_={"nwAreaInfo": {"tais": [tai("0002", plmn("002", "02"))]}})
    assert served(edn) == {"002-02"}
    EES.objects.filter(edn=edn).delete()
    assert served(edn) == set()
    edn.refresh_from_db()
    assert edn.serves_home


def test_deleting_edns_with_their_eess_leaves_no_index_rows():
    edn = make_edn("a", area_={"nwAreaInfo": {"tais": [tai("0001")]}})
    make_ees(edn, "e1", area_={"nwAreaInfo": {"tais": [tai("0003")]}})
    make_ees(edn, "e2")
    EDN.objects.all().delete()
    assert not AreaKey.objects.exists()
    assert not EDNPlmn.objects.exists()


def test_an_ees_change_that_serves_no_new_plmn_rewrites_none_of_its_edns_rows():
    # Every EES registration takes its EDN's lock: rewriting rows that did not change would
    # only make the next registration into that EDN wait longer.
    edn = make_edn("a", area_={"nwAreaInfo": {"tais": [tai("0001")]}})

    def edn_rows() -> tuple[set[int], set[int]]:
        return (
            set(AreaKey.objects.filter(edn=edn).values_list("pk", flat=True)),
            set(EDNPlmn.objects.filter(edn=edn).values_list("pk", flat=True)),
        )

    before = edn_rows()
    assert all(before)
    ees = make_ees(edn, "e1", area_={"nwAreaInfo": {"tais": [tai("0002")]}})
    ees.eas_ids = ["app.other"]
    ees.save()
    ees.delete()
    assert edn_rows() == before
    assert served(edn) == {"001-01"}
