"""EESs registering and leaving at the same time in one EDN: no 500, indexes consistent.

Found by the soak: concurrent re-indexing of one EDN raced on its served-PLMN rows.
"""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from provisioning.models import EDN, EDNPlmn
from tests.builders import configure_ecs, make_edn, tai

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_registrations_in_one_edn_all_succeed():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serializes writers; the race needs concurrent transactions")
    configure_ecs()
    make_edn("edn-a", dnn="edge.a")
    statuses: list[int] = []
    lock = threading.Lock()

    def register_and_leave(n: int) -> None:
        client = Client()
        body = {
            "eesProf": {
                "eesId": f"ees-{n}",
                "endPt": {"uri": f"https://ees-{n}.example"},
                "easIds": ["app.x"],
                "eecRegConf": False,
                "ednInfoSets": {"dnn": "edge.a"},
                "svcArea": {"topServAr": {"tais": [tai("0001", {"mcc": "002", "mnc": "02"})]}},
            }
        }
        for _ in range(5):
            created = client.post(
                "/eecs-eesregistration/v1/registrations",
                json.dumps(body),
                content_type="application/json",
            )
            gone = client.delete(created["Location"]) if created.status_code == 201 else None
            with lock:
                statuses.append(created.status_code)
                statuses.append(gone.status_code if gone else 0)
        connection.close()

    threads = [threading.Thread(target=register_and_leave, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) == {201, 204}
    edn = EDN.objects.get(edn_id="edn-a")
    # Every registration left again: the EDN serves no PLMN of theirs any more.
    assert not EDNPlmn.objects.filter(edn=edn).exists()
