"""Small builders for test data in 3GPP shape, shared by every test module."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from ecscore.datetimes import format_datetime
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


def ue_eutra_at(tai_: dict | None = None, cell: dict | None = None) -> dict[str, Any]:
    """A LocationInfo for a UE in E-UTRA at a TAI and/or an E-UTRA cell (ECGI).

    3GPP's EutraLocation needs both: the one not given is one no area lists.
    """
    eutra = {"tai": tai_ or tai("FFFE"), "ecgi": cell or ecgi("FFFFFFE")}
    return {"userLocation": {"eutraLocation": eutra}}


def ue_in_circle(lat: float, lon: float, radius_m: float) -> dict[str, Any]:
    """A LocationInfo whose position is an ellipsoid point with an uncertainty circle."""
    return {"geographicArea": circle(lat, lon, radius_m)}


def civic_area(country: str = "DE", **fields: str) -> dict[str, Any]:
    """A LocationArea5G holding civic addresses only (no TAI, cell, polygon or circle)."""
    return {"civicAddresses": [{"country": country, **fields}]}


def ac_prof(ac_id: str = "ac-1", eas_ids=(), pref_ecsps=(), acr=(), **extra: Any) -> dict[str, Any]:
    """An ACProfile (acProfs[] of ECSServProvReq)."""
    prof: dict[str, Any] = {"acId": ac_id, **extra}
    if eas_ids:
        prof["eass"] = [{"easId": e} for e in eas_ids]
    if pref_ecsps:
        prof["prefEcsps"] = list(pref_ecsps)
    if acr:
        prof["acSvcContSupp"] = list(acr)
    return prof


def eess_by_edn(response) -> list[tuple[str, list[str]]]:
    """(DNN, [eesId, ...]) per EDNConfigInfo of an answer, in answer order (EDNs by DNN)."""
    if response.status_code == 204:
        return []
    return [
        (cfg["ednConInfo"]["dnn"], [e["eesId"] for e in cfg["eess"]])
        for cfg in response.json()["ednCnfgInfo"]
    ]


# --- partner ECSs (EDGE-10) -------------------------------------------------------------------

EDGE10_REQUEST = "/eecs-ecsserviceprovisioning/v1/request"


def make_partner(partner_id: str = "ecs.partner.example", api_root: str = "", **fields: Any):
    """A PartnerECS; ``inbound_token`` (a literal) is stored as its hash only."""
    from partners.models import PartnerECS

    inbound = fields.pop("inbound_token", None)
    partner = PartnerECS(
        partner_id=partner_id, api_root=api_root or "https://ecs.partner.example", **fields
    )
    if inbound is not None:
        partner.set_inbound_token(inbound)
    partner.save()
    return partner


def make_policy(partner, **fields: Any):
    """An AuthorizationPolicy; without ``eas_ids`` it allows any EAS id (["*"])."""
    from partners.models import AuthorizationPolicy

    fields.setdefault("eas_ids", ["*"])
    return AuthorizationPolicy.objects.create(partner=partner, **fields)


def ees_info_json(ees_id: str, eas_ids=("app.one",), ecsp: str = "") -> dict[str, Any]:
    """An EESInfo as a partner ECS sends it."""
    info: dict[str, Any] = {
        "eesId": ees_id,
        "endPt": {"uri": f"https://{ees_id}.partner.example/eees"},
        "easIds": list(eas_ids),
        "eecRegConf": False,
    }
    if ecsp:
        info["ecspInfo"] = ecsp
    return info


def edn_config_json(dnn: str, *eess: dict[str, Any], lifetime: str | None = None) -> dict:
    """An EDNConfigInfo as a partner ECS sends it; ``lifetime`` is a 3GPP DateTime."""
    cfg: dict[str, Any] = {"ednConInfo": {"dnn": dnn}, "eess": list(eess)}
    if lifetime is not None:
        cfg["lifeTime"] = lifetime
    return cfg


# --- EDGE-6 (EES registration, T-EES discovery) and EEC subscriptions -------------------------

REGISTRATION_FILE = "TS29558_Eecs_EESRegistration.yaml"
REGISTRATIONS = "/eecs-eesregistration/v1/registrations"
DISCOVERY_FILE = "TS29558_Eecs_TargetEESDiscovery.yaml"
DISCOVERY = "/eecs-targeteesdiscovery/v1/ees-profiles"
SUBSCRIPTIONS = "/eecs-serviceprovisioning/v1/subscriptions"
COMMON_29122_FILE = "TS29122_CommonData.yaml"
MERGE_PATCH = "application/merge-patch+json"


def in_seconds(seconds: float) -> str:
    """A 3GPP DateTime ``seconds`` from now."""
    import datetime as dt

    from django.utils import timezone

    return format_datetime(timezone.now() + dt.timedelta(seconds=seconds))


def ees_profile(
    ees_id: str, eas_ids=("app.one",), dnn: str | None = None, tais=(), **extra: Any
) -> dict[str, Any]:
    """A 3GPP EESProfile (TS 29.558) as an EES registers it; ``tais`` become its svcArea."""
    profile: dict[str, Any] = {
        "eesId": ees_id,
        "endPt": {"uri": f"https://{ees_id}.example/eees"},
        "easIds": list(eas_ids),
        "eecRegConf": False,
    }
    if dnn is not None:
        profile["ednInfoSets"] = {"dnn": dnn}
    if tais:
        profile["svcArea"] = {"topServAr": {"tais": [dict(t) for t in tais]}}
    profile.update(extra)
    return profile


def ees_registration(profile: dict[str, Any], exp_time: str | None = None) -> dict[str, Any]:
    """An EESRegistration body; ``exp_time`` is the proposed expiry (a 3GPP DateTime)."""
    body: dict[str, Any] = {"eesProf": profile}
    if exp_time is not None:
        body["expTime"] = exp_time
    return body


def serv_prov_subscription(
    destination: str, eas_ids=("app.one",), eec_id: str = "eec-sub-1", **extra: Any
) -> dict[str, Any]:
    """An ECSServProvSubscription (TS 24.558) for the given EAS ids."""
    body: dict[str, Any] = {"eecId": eec_id, "notificationDestination": destination, **extra}
    if eas_ids:
        body["acProfs"] = [{"acId": "ac-1", "eass": [{"easId": e} for e in eas_ids]}]
    return body


def send_json(client: Client, method: str, path: str, body: Any, content_type=None):
    """PUT/PATCH/POST a JSON body with the test client."""
    call = getattr(client, method.lower())
    return call(path, json.dumps(body), content_type=content_type or "application/json")


class Receiver:
    """A subscriber's callback endpoint: a real HTTP server on 127.0.0.1 that records POSTs.

    ``status`` is what it answers (204 by default); ``redirect_to`` makes it answer 307 with
    that Location; ``hold_first`` keeps the first request open until ``release`` is set (the
    request is recorded as soon as its body is read).  ``port`` reuses a port (a receiver
    that comes back).  Each delivery is (path, headers, body, monotonic arrival time).
    """

    def __init__(self, status: int = 204, port: int = 0) -> None:
        import threading

        from tests.loopback import LoopbackServer

        self.status = status
        self.redirect_to: str | None = None
        self.hold_first = False
        self.holding = threading.Event()
        self.release = threading.Event()
        self.deliveries: list[dict[str, Any]] = []
        self._arrived = threading.Condition()
        self.server = LoopbackServer(self._respond, port)
        self.port = self.server.port

    def _respond(self, request: Any) -> Any:
        import time

        from tests.loopback import Reply

        try:
            body = request.json()
        except ValueError:
            body = request.raw
        with self._arrived:
            first = not self.deliveries
            self.deliveries.append(
                {
                    "path": request.path,
                    "headers": request.headers,
                    "body": body,
                    "at": time.monotonic(),
                }
            )
            self._arrived.notify_all()
        if first and self.hold_first:
            self.holding.set()
            self.release.wait(60)
        if self.redirect_to:
            return Reply(307, headers={"Location": self.redirect_to})
        return Reply(self.status)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callbacks/eec"

    def bodies(self) -> list[Any]:
        with self._arrived:
            return [d["body"] for d in self.deliveries]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The deliveries once there are at least ``count`` (fails after ``timeout``)."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.deliveries) >= count, timeout)
            assert len(self.deliveries) >= count, (
                f"{len(self.deliveries)} deliveries within {timeout:g} s, expected {count}"
            )
            return list(self.deliveries)

    def close(self) -> None:
        self.release.set()
        self.server.close()
