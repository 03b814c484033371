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
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.db import models, transaction

from . import yamlfiles
from .datetimes import format_datetime, parse_datetime
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
        return yamlfiles.load(text)
    except yamlfiles.YAMLError as exc:
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
    return yamlfiles.dump(
        document,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )


def canonical(value: Any) -> Any:
    """A stored JSON value with its keys sorted, so exports do not depend on the database."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


# --- Entries that are model rows ------------------------------------------------------------
#
# The model is the one definition of an option: its default, its type, its ranges, choices
# and rules (field validators, ``clean``).  A section says only which file key holds which
# field, and keeps the file's own concerns: key names, unknown keys, the types YAML gives,
# which entry is which, and messages that name the entry and the key.


def entry_label(section: str, index: int, entry: Any, key: str = "id") -> str:
    """``partners[2] (ecs.b.example)``: where an entry is, and its name when it has one."""
    label = f"{section}[{index}]"
    if isinstance(entry, dict) and isinstance(entry.get(key), str):
        label += f" ({entry[key]})"
    return label


# Messages in the file's words for the codes of Django's and the models' validators.
_WORDING = {
    "max_length": "at most {limit_value} characters, not {show_value}",
    "min_value": "at least {limit_value}, not {show_value}",
    "max_value": "at most {limit_value}, not {show_value}",
    "blank": "must not be empty",
    "null": "must not be null",
    "http_url": "must be an http(s) URL",
}


def _wording(item: ValidationError, field: Any, keys: Mapping[str, str]) -> str:
    params = item.params or {}
    if item.code == "invalid_choice" and field is not None:
        choices = ", ".join(str(value) for value, _ in field.flatchoices)
        return f"{params.get('value')!r} is not one of {choices}"
    if item.code == "required_with":  # the model's clean(): this field needs another one
        other = params.get("field", "")
        return f"required with {keys.get(other, other)}"
    if item.code in _WORDING:
        try:
            return _WORDING[item.code].format(**params)
        except KeyError:  # a validator of our own with the same code and other params
            pass
    return str(item.message % params if params else item.message)


def _field_of(model: Any, name: str) -> Any:
    if model is None or name == NON_FIELD_ERRORS:
        return None
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def model_messages(
    error: ValidationError,
    label: str,
    keys: Mapping[str, str],
    model: Any = None,
    sep: str = ".",
    exclude: Iterable[str] = (),
) -> list[str]:
    """A model's ``ValidationError`` in the file's terms: ``label.key: message`` per problem.

    ``keys`` maps model fields to the file keys that hold them (``sep`` joins label and key);
    a message about a field the file does not hold, or about the whole object, names the
    entry alone.  A message that starts with a JSON pointer or an index (``/tac: ...``,
    ``[0]/mnc: ...``) continues the key.  Fields in ``exclude`` are left out: the file has
    reported them already.
    """
    excluded = set(exclude)
    by_field = error.error_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: [error]}
    out: list[str] = []
    for name, errors in by_field.items():
        if name in excluded:
            continue
        key = keys.get(name)
        where = f"{label}{sep}{key}" if key else label
        field = _field_of(model, name)
        for item in (single for e in errors for single in e.error_list):
            text = _wording(item, field, keys)
            line = f"{where}{text}" if text[:1] in ("/", "[") else f"{where}: {text}"
            if line not in out:
                out.append(line)
    return out


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_datetime(value: Any) -> bool:
    return isinstance(value, str) and parse_datetime(value) is not None


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


# What a value in the file must be for a field of each type (JSON fields: their validators).
_KINDS: tuple[tuple[type, Callable[[Any], bool], str], ...] = (
    (models.BooleanField, _is_bool, "must be true or false"),
    (models.IntegerField, _is_int, "must be a whole number"),
    (models.FloatField, _is_number, "must be a number"),
    (models.DateTimeField, _is_datetime, "must be a date-time with a time zone"),
    (models.CharField, _is_str, "must be a string"),
)


def _kind(field: Any, wording: str | None) -> tuple[Callable[[Any], bool], str] | None:
    for field_type, check, message in _KINDS:
        if isinstance(field, field_type):
            return check, wording or message
    return None


class ModelKeys:
    """The keys of one kind of entry and the model fields they hold, in export order.

    ``keys`` maps each file key to its model field.  A key the entry leaves out means the
    field's default; the field's type says what the file's value must be; ``full_clean``
    says whether the values are right.  Relations are the section's to resolve.
    """

    def __init__(
        self, model: Any, keys: Mapping[str, str], wording: Mapping[str, str] | None = None
    ) -> None:
        self.model = model
        self.keys = dict(keys)
        self.fields = {field: key for key, field in self.keys.items()}
        self._kinds = {
            key: _kind(model._meta.get_field(field), (wording or {}).get(key))
            for key, field in self.keys.items()
        }

    def field(self, key: str) -> Any:
        return self.model._meta.get_field(self.keys[key])

    def unknown(self, label: str, entry: dict[str, Any]) -> list[str]:
        return [f"{label}.{key}: unknown key" for key in entry if key not in self.keys]

    def type_errors(
        self, label: str, entry: dict[str, Any], skip: Iterable[str] = ()
    ) -> tuple[list[str], set[str]]:
        """Values of a type their field cannot hold, and the keys at fault."""
        errors, bad = [], set()
        for key, kind in self._kinds.items():
            if key not in entry or key in skip or kind is None or self.field(key).is_relation:
                continue
            value = entry[key]
            if value is None and self.field(key).null:
                continue
            if not kind[0](value):
                errors.append(f"{label}.{key}: {kind[1]}")
                bad.add(key)
        return errors, bad

    def values(
        self, entry: dict[str, Any], keep: Iterable[str] = (), invalid: Iterable[str] = ()
    ) -> dict[str, Any]:
        """Field values for an entry: the file's, or the default for a key it leaves out.

        Keys in ``keep`` that the entry leaves out are left out (the stored value stays);
        keys in ``invalid`` get the default (their value cannot be set).
        """
        keep, invalid = set(keep), set(invalid)
        values: dict[str, Any] = {}
        for key, name in self.keys.items():
            field = self.model._meta.get_field(name)
            if field.is_relation or (key in keep and key not in entry):
                continue
            if key in entry and key not in invalid:
                value = entry[key]
                if isinstance(field, models.DateTimeField) and isinstance(value, str):
                    value = parse_datetime(value)
                values[name] = value
            else:
                values[name] = field.get_default()
        return values

    def export(self, obj: Any) -> dict[str, Any]:
        """Every key with the object's value in file form; empty nullable fields left out."""
        entry: dict[str, Any] = {}
        for key, name in self.keys.items():
            field = self.model._meta.get_field(name)
            value = getattr(obj, field.attname)
            if value is None and field.null:
                continue
            if isinstance(field, models.DateTimeField):
                value = format_datetime(value)
            elif isinstance(field, models.JSONField):
                value = canonical(value)
            entry[key] = value
        return entry

    def errors(self, instance: Any, label: str, exclude: Iterable[str] = ()) -> list[str]:
        """What the model finds wrong with ``instance`` (the entry's values set on it), in
        the file's terms; ``exclude``: keys already reported.  Uniqueness is the section's
        (which entry is which spans the whole file), so it is not checked here."""
        fields = [self.keys[key] for key in exclude]
        return model_errors(instance, label, self.fields, exclude=fields)


def model_errors(
    instance: Any,
    label: str,
    keys: Mapping[str, str],
    sep: str = ".",
    exclude: Iterable[str] = (),
) -> list[str]:
    """``instance.full_clean()`` without the uniqueness checks, as ``model_messages``."""
    exclude = list(exclude)
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        return model_messages(error, label, keys, type(instance), sep, exclude)
    return []


def set_if_changed(
    obj: Any, wanted: dict[str, Any], stats: Counter, kind: str, created: bool, moved: bool = False
) -> bool:
    """Set ``wanted`` on ``obj`` and count it; False (and nothing set) when nothing differs."""
    changed = created or moved or any(getattr(obj, k) != v for k, v in wanted.items())
    if not changed:
        stats[f"{kind} unchanged"] += 1
        return False
    for k, v in wanted.items():
        setattr(obj, k, v)
    stats[f"{kind} {'created' if created else 'updated'}"] += 1
    return True


def save_if_changed(
    obj: Any,
    wanted: dict[str, Any],
    stats: Counter,
    kind: str,
    created: bool,
    label: str = "",
    keys: Mapping[str, str] | None = None,
) -> None:
    """Set ``wanted``, and save the object after ``full_clean`` when something changed.

    The file was validated before, so a problem here is one that arose since (a row another
    entry of the same apply changed, say): it stops the apply, naming ``label``.
    """
    if not set_if_changed(obj, wanted, stats, kind, created):
        return
    try:
        obj.full_clean()
    except ValidationError as error:
        raise ConfigError(model_messages(error, label or kind, keys or {}, type(obj))) from error
    obj._change_reason = "ecs_apply"
    obj.save()


def _short_id() -> str:
    import uuid

    return uuid.uuid4().hex[:12]
