"""Configuration as code: the file that ``ecs_apply`` applies and ``ecs_export`` prints.

The file is YAML or JSON with one top-level key per section (``ecs``, ``edns``, and later
``partners`` and ``policies``).  Each app registers the sections it owns when it loads, so
this module knows only the mechanics:

* the whole file is validated before anything is written; every problem is reported with
  the entry and the field it concerns, and one problem means nothing changes;
* apply runs in one transaction, is idempotent (unchanged rows are not written, so the
  change log records only real changes), and with ``prune`` removes what a section present
  in the file no longer lists (sections absent from the file are left alone);
* export is deterministic: the same data prints byte-identical output.
"""

from __future__ import annotations

import contextvars
import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction

from .middleware import request_id_scope


class ConfigError(Exception):
    """The file cannot be applied; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class ConfigSection(ABC):
    """One top-level key of the configuration file."""

    key: str
    order: int = 100  # apply order; sections that others refer to go first

    @abstractmethod
    def validate(self, data: Any, document: dict[str, Any]) -> list[str]:
        """Every problem with this section's data (the whole document is there for references)."""

    @abstractmethod
    def apply(self, data: Any, prune: bool, stats: Counter) -> None:
        """Write the section; count what happened in ``stats`` ("edn created", ...)."""

    @abstractmethod
    def export(self) -> Any:
        """The section's current data, in file form; None to leave the key out."""


_sections: dict[str, ConfigSection] = {}


#: ``(what, done, total)``: how far a long validation or apply has got (ecs_apply shows it).
ProgressReporter = Callable[[str, int, int], None]

_progress: contextvars.ContextVar[ProgressReporter | None] = contextvars.ContextVar(
    "configfile_progress", default=None
)


@contextmanager
def reporting_progress(reporter: ProgressReporter) -> Iterator[None]:
    """Send the progress of what runs inside to ``reporter``."""
    token = _progress.set(reporter)
    try:
        yield
    finally:
        _progress.reset(token)


def progress(what: str, done: int, total: int) -> None:
    """Report progress; a no-op unless someone listens (sections call it freely)."""
    reporter = _progress.get()
    if reporter is not None:
        reporter(what, done, total)


def register(section: ConfigSection) -> None:
    _sections[section.key] = section


def sections() -> list[ConfigSection]:
    return sorted(_sections.values(), key=lambda s: (s.order, s.key))


def load_file(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text: {exc}"]) from exc
    # JSON is read as JSON: PyYAML (YAML 1.1) refuses the tabs JSON allows for indentation
    # and reads numbers such as 1e-05 as strings.
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        if path.suffix.lower() == ".json":
            raise ConfigError([f"{path}: not valid JSON: {exc}"]) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML or JSON: {exc}"]) from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def validate_document(document: Any) -> list[str]:
    if not isinstance(document, dict):
        return ["The file must hold a mapping with top-level keys such as 'ecs' and 'edns'."]
    known = {s.key for s in sections()}
    errors = [
        f"{key}: unknown top-level key (known: {', '.join(sorted(known))})"
        for key in document
        if key not in known
    ]
    for section in sections():
        if section.key in document:
            errors += section.validate(document[section.key], document)
    return errors


def apply_document(document: Any, prune: bool = False) -> Counter:
    errors = validate_document(document)
    if errors:
        raise ConfigError(errors)
    stats: Counter = Counter()
    with request_id_scope("apply-" + _short_id()), transaction.atomic():
        for section in sections():
            if section.key in document:
                section.apply(document[section.key], prune, stats)
    return stats


def export_document() -> dict[str, Any]:
    document: dict[str, Any] = {}
    for section in sections():
        data = section.export()
        if data is not None:
            document[section.key] = data
    return document


def dump(document: dict[str, Any], fmt: str = "yaml") -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(
        document, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
    )


def canonical(value: Any) -> Any:
    """A stored JSON value with its keys sorted, so exports do not depend on the database."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def _short_id() -> str:
    import uuid

    return uuid.uuid4().hex[:12]
