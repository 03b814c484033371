"""Helpers for the configuration-as-code tests: run the commands, snapshot the database."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from provisioning.models import EDN, EES, AreaKey, ECSConfiguration, EDNPlmn, EESApplication

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo" / "operator.yaml"

TRACKED = (ECSConfiguration, EDN, EES)
INDEXES = (EESApplication, AreaKey, EDNPlmn)


def demo_document() -> dict[str, Any]:
    """A fresh copy of the demo file's ``ecs`` and ``edns`` sections, to edit in a test."""
    document = yaml.safe_load(DEMO_FILE.read_text(encoding="utf-8"))
    return copy.deepcopy({"ecs": document["ecs"], "edns": document["edns"]})


def write_config(tmp_path: Path, document: Any, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def apply_config(path: Path | str, *args: str) -> str:
    out = io.StringIO()
    call_command("ecs_apply", str(path), *args, stdout=out)
    return out.getvalue()


def refused_by_apply(tmp_path: Path, document: Any) -> str:
    """``ecs_apply``'s message for a file it refuses (the test fails if it applies)."""
    with pytest.raises(CommandError) as refused:
        apply_config(write_config(tmp_path, document, "refused.yaml"))
    message = str(refused.value)
    assert "nothing was changed" in message
    return message


def admin_form_errors(response) -> dict[str, list[str]]:
    """The field errors of the admin's add or change form in ``response``; none when the
    admin saved (and redirected, or showed a page of its own such as a token shown once)."""
    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 302 or "adminform" not in response.context:
        return {}
    return {
        name: list(errors) for name, errors in response.context["adminform"].form.errors.items()
    }


def export_config(fmt: str = "yaml") -> str:
    out = io.StringIO()
    call_command("ecs_export", "--format", fmt, stdout=out)
    return out.getvalue()


def history_count() -> int:
    return sum(model.history.model.objects.count() for model in TRACKED)


def row_counts() -> dict[str, int]:
    """Rows of every table the configuration touches, change log included."""
    counts = {model.__name__: model.objects.count() for model in (*TRACKED, *INDEXES)}
    counts["history"] = history_count()
    return counts


def flush_configuration() -> None:
    """Empty the configuration tables, as a fresh database would be."""
    EDN.objects.all().delete()  # cascades to EESs and the index rows
    ECSConfiguration.objects.all().delete()
    assert {k: v for k, v in row_counts().items() if k != "history"} == dict.fromkeys(
        (m.__name__ for m in (*TRACKED, *INDEXES)), 0
    )


def ees_by_id(ees_id: str) -> EES:
    return EES.objects.select_related("edn").get(ees_id=ees_id)
