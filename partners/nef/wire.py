"""TS 29.122 MonitoringEvent as we use it: one-time ROAMING_STATUS (and LOCATION_REPORTING).

We create a subscription with ``maximumNumberOfReports: 1`` for the UE (its GPSI as
``msisdn`` or ``externalId``); the NEF answers 201 with the subscription, which may carry the
report (``monitoringEventReport``, ``addnMonEventReports``), or 200 with the report itself
(``MonitoringEventReport`` / ``MonitoringEventReports``), or later posts a
``MonitoringNotification`` (``monitoringEventReports``) to our ``notificationDestination``.
Whatever the NEF says is checked before use: the PLMN against ``PlmnId``, the location
against ``LocationInfo``; anything else of the answer is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ecscore import schemas

API_NAME = "3gpp-monitoring-event"
ROAMING_STATUS = "ROAMING_STATUS"
LOCATION_REPORTING = "LOCATION_REPORTING"
MSISDN_PREFIX = "msisdn-"
EXTID_PREFIX = "extid-"


def subscriptions_url(api_root: str, af_id: str) -> str:
    return f"{api_root.rstrip('/')}/{API_NAME}/v1/{quote(af_id, safe='')}/subscriptions"


def ue_member(gpsi: str) -> dict[str, str] | None:
    """The GPSI as the subscription names a UE (TS 29.571 Gpsi to TS 29.122 members)."""
    if gpsi.startswith(MSISDN_PREFIX) and gpsi[len(MSISDN_PREFIX) :].isdigit():
        return {"msisdn": gpsi[len(MSISDN_PREFIX) :]}
    if gpsi.startswith(EXTID_PREFIX) and gpsi.count("@") == 1:
        return {"externalId": gpsi[len(EXTID_PREFIX) :]}
    return None


def subscription(ue: dict[str, str], notification_url: str, location: bool) -> dict[str, Any]:
    """A one-time ROAMING_STATUS subscription; with ``location``, LOCATION_REPORTING too
    (``addnMonTypes``: one exchange for both)."""
    body: dict[str, Any] = {
        **ue,
        "notificationDestination": notification_url,
        "monitoringType": ROAMING_STATUS,
        "plmnIndication": True,
        "maximumNumberOfReports": 1,
    }
    if location:
        body["addnMonTypes"] = [LOCATION_REPORTING]
        body["locationType"] = "CURRENT_OR_LAST_KNOWN_LOCATION"
        body["accuracy"] = "CGI_ECGI"
    return body


def answer_reports(status: int, body: Any) -> list[Any]:
    """The reports an answer to the subscription POST carries (none: the NEF notifies)."""
    if not isinstance(body, dict):
        return []
    if status == 200:
        listed = body.get("monitoringEventReports")
        return listed if isinstance(listed, list) else [body]
    reports = [body["monitoringEventReport"]] if "monitoringEventReport" in body else []
    extra = body.get("addnMonEventReports")
    return reports + (extra if isinstance(extra, list) else [])


def notification_reports(body: Any) -> list[Any] | None:
    """The reports of a MonitoringNotification; None when the body is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("subscription"), str):
        return None
    reports = body.get("monitoringEventReports", [])
    return reports if isinstance(reports, list) else None


@dataclass(frozen=True)
class Findings:
    """What usable reports told: whether roaming status came, the visited PLMN, where."""

    roaming_known: bool = False
    serving_plmn: dict[str, Any] | None = None
    location_info: dict[str, Any] | None = None
    problems: tuple[str, ...] = ()


def _valid(value: Any, file_name: str, schema_name: str) -> bool:
    return isinstance(value, dict) and not schemas.invalid_params(
        schemas.validator(file_name, schema_name), value
    )


def findings(reports: list[Any], home_plmns: set[str]) -> Findings:
    """Read ROAMING_STATUS and LOCATION_REPORTING reports; an invalid report is a problem
    and tells nothing (the UE is then taken to be at home, as without a NEF)."""
    roaming_known = False
    serving: dict[str, Any] | None = None
    location: dict[str, Any] | None = None
    problems: list[str] = []
    for report in reports:
        kind = report.get("monitoringType") if isinstance(report, dict) else None
        if kind == ROAMING_STATUS:
            plmn = report.get("plmnId")
            if plmn is not None and not _valid(plmn, "TS29571_CommonData.yaml", "PlmnId"):
                problems.append("ROAMING_STATUS report: plmnId is not a PlmnId")
                continue
            if not isinstance(report.get("roamingStatus", False), bool):
                problems.append("ROAMING_STATUS report: roamingStatus is not a boolean")
                continue
            roaming_known = True
            key = f"{plmn['mcc']}-{plmn['mnc']}" if plmn else None
            # roamingStatus true: not the HPLMN; the PLMN alone also tells when it is not ours.
            if plmn and (report.get("roamingStatus") or key not in home_plmns):
                serving = {"mcc": plmn["mcc"], "mnc": plmn["mnc"]}
        elif kind == LOCATION_REPORTING:
            info = report.get("locationInfo")
            if info is None:
                continue
            if not _valid(info, "TS29122_MonitoringEvent.yaml", "LocationInfo"):
                problems.append("LOCATION_REPORTING report: locationInfo is not a LocationInfo")
                continue
            location = info
        elif kind is None:
            problems.append("a report without a monitoringType")
    return Findings(roaming_known, serving, location, tuple(problems))
