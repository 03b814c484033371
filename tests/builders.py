"""Small builders for test data in 3GPP shape, shared by every test module."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from provisioning.models import EDN, EES, ECSConfiguration

EDGE4_FILE = "TS24558_Eecs_ServiceProvisioning.yaml"
EDGE4_REQUEST = "/eecs-serviceprovisioning/v1/request"
HOME = {"mcc": "001", "mnc": "01"}


def plmn(mcc: str = "001", mnc: str = "01") -> dict[str, str]:
    return {"mcc": mcc, "mnc": mnc}


def tai(tac: str, p: dict[str, str] = HOME) -> dict[str, Any]:
    return {"plmnId": dict(p), "tac": tac}


def ncgi(cell: str, p: dict[str, str] = HOME) -> dict[str, Any]:
    return {"plmnId": dict(p), "nrCellId": cell}


def ecgi(cell: str, p: dict[str, str] = HOME) -> dict[str, Any]:
    return {"plmnId": dict(p), "eutraCellId": cell}


def area(tais=(), ncgis=(), ecgis=(), geo=()) -> dict[str, Any]:
    nw: dict[str, Any] = {}
    if tais:
        nw["tais"] = list(tais)
    if ncgis:
        nw["ncgis"] = list(ncgis)
    if ecgis:
        nw["ecgis"] = list(ecgis)
    out: dict[str, Any] = {}
    if nw:
        out["nwAreaInfo"] = nw
    if geo:
        out["geographicAreas"] = list(geo)
    return out


def polygon(*points: tuple[float, float]) -> dict[str, Any]:
    return {"shape": "POLYGON", "pointList": [{"lat": la, "lon": lo} for la, lo in points]}


def circle(lat: float, lon: float, radius_m: float) -> dict[str, Any]:
    return {
        "shape": "POINT_UNCERTAINTY_CIRCLE",
        "point": {"lat": lat, "lon": lon},
        "uncertainty": radius_m,
    }


def configure_ecs(home=(HOME,), lifetime: int = 3600, ecs_id: str = "ecs.home.example"):
    config = ECSConfiguration.load()
    config.ecs_id = ecs_id
    config.home_plmns = [dict(p) for p in home]
    config.provisioning_lifetime = lifetime
    config.save()
    return config


def make_edn(
    edn_id: str = "",
    dnn: str = "edge.example",
    sst: int | None = 1,
    sd: str = "",
    area_: dict | None = None,
    plmns=(),
) -> EDN:
    return EDN.objects.create(
        edn_id=edn_id,
        dnn=dnn,
        snssai_sst=sst,
        snssai_sd=sd,
        edn_topo_srv_area=area_,
        plmns=list(plmns),
    )


def make_ees(
    edn: EDN,
    ees_id: str,
    eas_ids=("app.one",),
    area_: dict | None = None,
    ecsp: str = "",
    acr=(),
    **extra: Any,
) -> EES:
    return EES.objects.create(
        edn=edn,
        ees_id=ees_id,
        end_pt={"uri": f"https://{ees_id}.example/eees"},
        eas_ids=list(eas_ids),
        svc_area=area_,
        ecsp_info=ecsp,
        ees_svc_cont_supp=list(acr),
        **extra,
    )


def ue_at(tai_: dict | None = None, cell: dict | None = None, point=None) -> dict[str, Any]:
    """A LocationInfo (locInf) for a UE in NR at a TAI/cell, or at a geographic point.

    3GPP's NrLocation needs both a TAI and a cell: the one not given is one no area lists.
    """
    loc: dict[str, Any] = {}
    if tai_ or cell:
        nr = {"tai": tai_ or tai("FFFE"), "ncgi": cell or ncgi("FFFFFFFFE")}
        loc["userLocation"] = {"nrLocation": nr}
    if point is not None:
        loc["geographicArea"] = {"shape": "POINT", "point": {"lat": point[0], "lon": point[1]}}
    return loc


def edge4_request(eas_ids=(), loc=None, plmns=(), ecsp_ids=(), acr=(), **extra) -> dict:
    body: dict[str, Any] = {"eecId": "eec-test-1", **extra}
    if eas_ids:
        body["acProfs"] = [{"acId": "ac-1", "eass": [{"easId": e} for e in eas_ids]}]
    if loc is not None:
        body["locInf"] = loc
    if plmns:
        body["connInfo"] = [{"plmnId": dict(p)} for p in plmns]
    if ecsp_ids:
        body["ecspIds"] = list(ecsp_ids)
    if acr:
        body["eecSvcContSupp"] = list(acr)
    return body


def post_json(client: Client, path: str, body: Any, **headers: Any):
    return client.post(path, json.dumps(body), content_type="application/json", **headers)


def ees_ids(response) -> list[str]:
    """EES ids of an ECSServProvResp in answer order (empty for 204)."""
    if response.status_code == 204:
        return []
    return [e["eesId"] for cfg in response.json()["ednCnfgInfo"] for e in cfg["eess"]]
