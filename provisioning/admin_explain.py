"""The admin's "Why this answer" page: an EDGE-4 request explained (``provisioning.explain``).

An engineer pastes an ECSServProvReq, or picks an application and a location (TAI and cell,
or coordinates) and the UE's serving PLMN, and sees the answer EDGE-4 would give (as JSON),
a table of the EESs considered with each one's verdict and rule, and the partners that would
be consulted and whether from the cache. The request is judged as EDGE-4 judges it (the
same schema, the same invalidParams). Staff with permission to view EESs only; nothing is
written unless "ask partners" is ticked (then a real retrieval, audited as a dry run).
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from ecscore.errors import InvalidRequest

from . import explain
from .models import ECSConfiguration

_PLMN = re.compile(r"^(\d{3})-(\d{2,3})$")
#: The eecId of a request built from the form's fields (EDGE-4 requires one).
FORM_EEC_ID = "explain-admin"


def _plmn(value: str, label: str) -> dict[str, str] | None:
    value = value.strip()
    if not value:
        return None
    match = _PLMN.match(value)
    if not match:
        raise forms.ValidationError(
            f"{label}: write the PLMN as MCC-MNC, three digits, a dash, two or three digits "
            f"(001-01)."
        )
    return {"mcc": match.group(1), "mnc": match.group(2)}


class ExplainForm(forms.Form):
    request_json = forms.CharField(
        label="ECSServProvReq (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "cols": 80, "spellcheck": "false"}),
        help_text="Paste the body an EEC sent to EDGE-4. Left empty: the fields below.",
    )
    eas_id = forms.CharField(label="Application (EAS id)", required=False)
    location_plmn = forms.CharField(
        label="PLMN of the TAI and cell",
        required=False,
        help_text="MCC-MNC; empty: the ECS's first home PLMN.",
    )
    tac = forms.CharField(label="TAC", required=False, help_text="e.g. 0101 (hexadecimal)")
    nr_cell = forms.CharField(
        label="NR cell id",
        required=False,
        help_text="36 bits, 9 hexadecimal digits. 3GPP's NR location carries a TAI and a cell.",
    )
    lat = forms.FloatField(label="Latitude", required=False, min_value=-90, max_value=90)
    lon = forms.FloatField(label="Longitude", required=False, min_value=-180, max_value=180)
    serving_plmn = forms.CharField(
        label="UE's serving PLMN (connInfo)",
        required=False,
        help_text="MCC-MNC; empty: the request names none.",
    )
    ask_partners = forms.BooleanField(
        label="Ask partners",
        required=False,
        help_text="Really call the partners without a fresh cache entry (audited as a dry "
        "run; their answers are not cached). Unticked, no partner is called.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        pasted = (data.get("request_json") or "").strip()
        if pasted:
            try:
                body = json.loads(pasted)
            except ValueError as exc:
                raise forms.ValidationError(f"The request is not JSON: {exc}.") from exc
        else:
            body = self._built(data)
        try:
            explain.check_request(body)
        except InvalidRequest as exc:
            raise forms.ValidationError(
                [f"{p['param'] or '/'}: {p['reason']}" for p in exc.invalid_params or []]
                or [exc.detail]
            ) from exc
        data["body"] = body
        return data

    def _built(self, data: dict[str, Any]) -> dict[str, Any]:
        """An ECSServProvReq from the fields."""
        body: dict[str, Any] = {"eecId": FORM_EEC_ID}
        if data.get("eas_id"):
            body["acProfs"] = [{"acId": "ac-1", "eass": [{"easId": data["eas_id"].strip()}]}]
        tac, cell = (data.get("tac") or "").strip(), (data.get("nr_cell") or "").strip()
        location: dict[str, Any] = {}
        if tac or cell:
            if not (tac and cell):
                raise forms.ValidationError(
                    "Give the TAC and the NR cell id together: 3GPP's NR location carries both."
                )
            plmn = _plmn(data.get("location_plmn") or "", "PLMN of the TAI and cell")
            if plmn is None:
                homes = ECSConfiguration.current().home_plmns or [{"mcc": "001", "mnc": "01"}]
                plmn = dict(homes[0])
            location["userLocation"] = {
                "nrLocation": {
                    "tai": {"plmnId": plmn, "tac": tac},
                    "ncgi": {"plmnId": plmn, "nrCellId": cell},
                }
            }
        lat, lon = data.get("lat"), data.get("lon")
        if (lat is None) != (lon is None):
            raise forms.ValidationError("Give the latitude and the longitude together.")
        if lat is not None:
            location["geographicArea"] = {"shape": "POINT", "point": {"lat": lat, "lon": lon}}
        if location:
            body["locInf"] = location
        serving = _plmn(data.get("serving_plmn") or "", "UE's serving PLMN")
        if serving:
            body["connInfo"] = [{"plmnId": serving}]
        return body


def explain_view(site: AdminSite, ees_admin: Any, request: HttpRequest) -> HttpResponse:
    """GET: the form; POST: the form and the explanation (or the request's errors)."""
    if not ees_admin.has_view_permission(request):
        raise PermissionDenied
    result = None
    form = ExplainForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = explain.explain(
            form.cleaned_data["body"], ask_partners=form.cleaned_data["ask_partners"]
        )
    context = {
        **site.each_context(request),
        "title": "Why this answer",
        "opts": ees_admin.model._meta,
        "form": form,
        "result": result,
        "answer_json": json.dumps(result["answer"]["body"], indent=2) if result else "",
        "request_json": json.dumps(result["request"], indent=2) if result else "",
    }
    return TemplateResponse(request, "admin/provisioning/ees/explain.html", context)
