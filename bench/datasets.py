"""Generated configuration files and request bodies for the benchmarks.

Inventory: ``n`` EESs spread over ``n / 10`` EDNs of ``EES_PER_EDN`` EESs each.  EDN ``i`` has
the id ``edn-<i>``, its own TAI (home PLMN, TAC ``tac(i)``) in its ``ednTopoSrvArea``, and
EESs without an area of their own, so they serve that TAI.  Each EES serves ``APPS_PER_EES`` of
the ``APP_POOL`` EAS ids; within an EDN every EAS id is served by exactly ``APPS_PER_EES`` of its
EESs, so a request naming one TAI and one EAS id matches that many EESs (a handful).

Federation: a "home" ECS (PLMN 001-01) and its partner "visited" (PLMN 002-02), each the
other's partner.  The visited ECS has one EDN without a service area whose EESs serve every
EAS id of the pool, so any roaming request it gets matches; it grants a long lifetime.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EES_PER_EDN = 10
APP_POOL = 10
APPS_PER_EES = 3
APP_OFFSETS = (0, 1, 3)  # EES k of EDN i serves apps (i + k + offset) % APP_POOL

HOME_PLMN = {"mcc": "001", "mnc": "01"}
VISITED_PLMN = {"mcc": "002", "mnc": "02"}
HOME_ID = "ecs.home"
VISITED_ID = "ecs.visited"
PARTNER_LIFETIME = 86400  # seconds the visited ECS grants: the cache stays warm all run
UNSERVED_CELL = "FFFFFFFFE"  # an NR cell id that no area lists


def app_id(index: int) -> str:
    return f"com.bench.app-{index % APP_POOL:02d}"


def tac(edn_index: int) -> str:
    """The TAC (6 hex digits) of EDN ``edn_index``'s service area."""
    return f"{edn_index + 1:06X}"


def edn_count(ees_count: int) -> int:
    return max(1, ees_count // EES_PER_EDN)


def ees_info(edn_index: int, k: int) -> dict[str, Any]:
    ees_id = f"ees-{edn_index:06d}-{k}"
    return {
        "eesId": ees_id,
        "endPt": {"uri": f"https://{ees_id}.bench.example/eees"},
        "easIds": sorted(app_id(edn_index + k + off) for off in APP_OFFSETS),
        "ecspInfo": "home-op",
        "eecRegConf": False,
    }


def edn_entry(index: int) -> dict[str, Any]:
    return {
        "id": f"edn-{index:06d}",
        "ednConInfo": {
            "dnn": "edge.bench",
            "snssai": {"sst": 1, "sd": f"{index:06X}"},
            "ednTopoSrvArea": {"nwAreaInfo": {"tais": [{"plmnId": HOME_PLMN, "tac": tac(index)}]}},
        },
        "eess": [ees_info(index, k) for k in range(EES_PER_EDN)],
    }


def ecs_section(ecs_id: str, ecsp: str, plmn: dict[str, str]) -> dict[str, Any]:
    return {"id": ecs_id, "ecsp": ecsp, "homePlmns": [plmn], "provisioningLifetime": 3600}


def inventory(ees_count: int) -> dict[str, Any]:
    """The home ECS's identity and ``ees_count`` EESs (the file ``ecs_apply`` imports)."""
    return {
        "ecs": ecs_section(HOME_ID, "home-op", HOME_PLMN),
        "edns": [edn_entry(i) for i in range(edn_count(ees_count))],
    }


def changed_inventory(ees_count: int, every: int = 100) -> dict[str, Any]:
    """``inventory(ees_count)`` with one entry in ``every`` changed (re-apply with --prune).

    One EES in ``every`` serves one more EAS id, one EDN in ``every`` gets a second TAI,
    one EDN in ``every`` (with its EESs) is gone and as many new ones are added.
    """
    document = inventory(ees_count)
    edns = document["edns"]
    for i, edn in enumerate(edns):
        if i % every == 1:
            tais = edn["ednConInfo"]["ednTopoSrvArea"]["nwAreaInfo"]["tais"]
            tais.append({"plmnId": HOME_PLMN, "tac": f"{0xF00000 + i:06X}"})
        for k, ees in enumerate(edn["eess"]):
            if (i * EES_PER_EDN + k) % every == 0:
                ees["easIds"] = sorted({*ees["easIds"], "com.bench.changed"})
    gone = [i for i in range(len(edns)) if i % every == every - 1]
    document["edns"] = [e for i, e in enumerate(edns) if i % every != every - 1]
    document["edns"] += [edn_entry(len(edns) + n) for n in range(len(gone))]
    return document


def write_json(document: dict[str, Any], path: Path) -> Path:
    """JSON, not YAML: ``ecs_apply`` reads both, and JSON loads far faster at this size."""
    path.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
    return path


def home_federation(partner_url: str, home_to_visited: str, visited_to_home: str) -> dict:
    """The home ECS's partners and policies (applied after its inventory)."""
    return {
        "ecs": ecs_section(HOME_ID, "home-op", HOME_PLMN),
        "partners": [
            {
                "id": VISITED_ID,
                "ecsp": "visited-op",
                "apiRoot": partner_url,
                "plmns": [VISITED_PLMN],
                "outboundToken": home_to_visited,
                "inboundToken": visited_to_home,
                "consult": "roaming_only",
                "defaultLifetime": 3600,
                "maxLifetime": PARTNER_LIFETIME,
                "timeout": 2,
            }
        ],
        "policies": [{"partner": VISITED_ID, "easIds": ["*"]}],
    }


def visited_config(home_url: str, home_to_visited: str, visited_to_home: str) -> dict:
    """The partner ECS: one EDN serving every app of the pool anywhere, and home as partner."""
    eess = [
        {
            "eesId": f"ees-visited-{k}",
            "endPt": {"uri": f"https://ees-visited-{k}.visited.example/eees"},
            "easIds": [app_id(k + off) for off in APP_OFFSETS],
            "ecspInfo": "visited-op",
            "eecRegConf": False,
        }
        for k in range(EES_PER_EDN)
    ]
    return {
        "ecs": ecs_section(VISITED_ID, "visited-op", VISITED_PLMN),
        "edns": [
            {"id": "edn-visited", "ednConInfo": {"dnn": "edge.visited", "snssai": {"sst": 1}}}
            | {"eess": eess}
        ],
        "partners": [
            {
                "id": HOME_ID,
                "ecsp": "home-op",
                "apiRoot": home_url,
                "plmns": [HOME_PLMN],
                "outboundToken": visited_to_home,
                "inboundToken": home_to_visited,
                "consult": "roaming_only",
                "timeout": 2,
            }
        ],
        "policies": [{"partner": HOME_ID, "easIds": ["*"], "lifetime": PARTNER_LIFETIME}],
    }


def nr_location(plmn: dict[str, str], tac_: str, cell: str) -> dict[str, Any]:
    return {
        "userLocation": {
            "nrLocation": {
                "tai": {"plmnId": plmn, "tac": tac_},
                "ncgi": {"plmnId": plmn, "nrCellId": cell},
            }
        }
    }


def local_request(edn_index: int, app: int) -> dict[str, Any]:
    """An EEC of a home UE at EDN ``edn_index``'s TAI asking for EAS id ``app``."""
    return {
        "eecId": "eec-bench",
        "acProfs": [{"acId": "ac-bench", "eass": [{"easId": app_id(app)}]}],
        "locInf": nr_location(HOME_PLMN, tac(edn_index), UNSERVED_CELL),
        "connInfo": [{"plmnId": HOME_PLMN}],
    }


def roaming_request(tac_: str = "000001", cell: str = "000000001") -> dict[str, Any]:
    """An EEC of a UE roaming in the visited PLMN (connInfo names it) asking for app 0."""
    return {
        "eecId": "eec-bench-roamer",
        "acProfs": [{"acId": "ac-bench", "eass": [{"easId": app_id(0)}]}],
        "locInf": nr_location(VISITED_PLMN, tac_, cell),
        "connInfo": [{"plmnId": VISITED_PLMN}],
    }


def partner_request(tac_: str = "000001", cell: str = "000000001") -> dict[str, Any]:
    """What the home ECS sends the visited one for ``roaming_request`` (EDGE-10 ServProvReq)."""
    body = roaming_request(tac_, cell)
    return {
        "reqEcsId": HOME_ID,
        "servingPlmn": VISITED_PLMN,
        "acProfs": body["acProfs"],
        "locInf": body["locInf"],
        "connInfo": body["connInfo"],
    }
