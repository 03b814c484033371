"""Time per validation of a request body: the compiled validator against OAS30Validator.

``python bench/schema_validation.py`` (from the checkout).  Two bodies: the EDGE-4
ECSServProvReq that ``bench/run.py`` sends (``datasets.local_request``) and an EDGE-6
EESRegistration with a service area, both valid (the request path's common case), and an
invalid EDGE-4 body, whose ``invalidParams`` OAS30Validator still produces.
"""

from __future__ import annotations

import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecsportal.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("DEBUG", "1")

import django

django.setup()

from bench import datasets  # noqa: E402
from ecscore import schemas  # noqa: E402

EDGE4 = ("TS24558_Eecs_ServiceProvisioning.yaml", "ECSServProvReq")
EDGE6 = ("TS29558_Eecs_EESRegistration.yaml", "EESRegistration")
HOME = {"mcc": "001", "mnc": "01"}
REGISTRATION = {
    "eesProf": {
        "eesId": "ees-1.edge.example",
        "endPt": {"uri": "https://ees-1.edge.example/eees"},
        "easIds": ["app.one", "app.two"],
        "eecRegConf": False,
        "ednInfoSets": {"dnn": "edge.example"},
        "svcArea": {
            "topServAr": {
                "tais": [{"plmnId": HOME, "tac": f"{t:06X}"} for t in range(1, 9)],
                "plmnIds": [HOME],
            }
        },
    },
    "expTime": "2030-01-01T00:00:00Z",
}


def per_call_us(function, number: int) -> float:
    return min(timeit.repeat(function, number=number, repeat=5)) / number * 1e6


def main() -> None:
    bad = {**datasets.local_request(1, 1), "connInfo": [{"plmnId": {"mcc": "1", "mnc": "01"}}]}
    cases = [
        ("EDGE-4 ECSServProvReq", EDGE4, datasets.local_request(1, 1)),
        ("EDGE-6 EESRegistration", EDGE6, REGISTRATION),
        ("EDGE-4, invalid", EDGE4, bad),
    ]
    print(f"{'body':26} {'OAS30Validator':>16} {'compiled':>10} {'check()':>9}  (µs per call)")
    for label, (file_name, name), body in cases:
        v = schemas.validator(file_name, name)
        assert v.reference.is_valid(body) == (body is not bad)
        old = per_call_us(lambda v=v, body=body: schemas.invalid_params(v.reference, body), 500)
        new = per_call_us(lambda v=v, body=body: v.compiled.is_valid(body), 5000)
        full = per_call_us(lambda v=v, body=body: schemas.invalid_params(v, body), 500)
        print(f"{label:26} {old:16.1f} {new:10.1f} {full:9.1f}")


if __name__ == "__main__":
    main()
