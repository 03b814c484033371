"""The inventory compiled in memory: each process's read-only index of our EDNs and EESs.

Matching (``matching.candidates``) asks this index instead of the database: the UE's TAI and
cell keys, its points (through a grid of whole degrees), its EAS ids and its serving PLMNs
become dictionary lookups and small set operations, with the rules of ``docs/matching.md``
and the same candidates as the SQL of ``querysets.EESManager`` (which stays the oracle: a
differential property test compares the two, and ``ECS_INVENTORY_INDEX=0`` switches the
index off).

Kept current from ``IndexChange`` rows: every write to an EES or EDN records one in its own
transaction (``touched``), and before answering, a process reads the rows it has not seen
yet (one indexed statement, usually returning nothing) and reloads just those EESs and EDNs.
Ids are handed out at insert and become visible at commit, so a process also asks again for
the ids it saw skipped (a transaction still open then) until they appear or a minute passes.
A process that has not caught up for longer than the rows are kept (``PRUNE_SECONDS``) builds
the index again; so does a ``full`` row (``ecs_apply``'s bulk writes).  The build runs on a
thread of its own while requests keep the SQL matcher.

Inside a transaction the index is not consulted: what the transaction wrote is not committed,
and may never be.

The index holds compact records (``IndexedEES``, ``IndexedEDN``), not model instances: what
matching tests is kept as plain values (application tuples and ECSP strings shared between
records), and the rest of each EES's EESInfo as the JSON text the database stores, parsed
only for the few EESs an answer names. A model instance with its JSON decoded costs about
3 KB an EES; a record a fifth of that, and a build needs no model machinery.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as dt
import gc
import json
import logging
import math
import threading
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ecscore.db import placeholders, select, select_batches

from . import areas, datamodel
from .querysets import _inventory, _table

logger = logging.getLogger(__name__)

# Rows are pruned after this long; a process silent for longer cannot know what it missed.
PRUNE_SECONDS = 600
# A skipped id still unseen after this long was rolled back (sequences are not transactional).
GAP_SECONDS = 60.0
# Grid cells of whole degrees; a box wider than this many cells is checked on every request
# (a circle around a pole, a country-sized polygon): rare, and cheap to test.
MAX_GRID_CELLS = 64


def enabled() -> bool:
    return bool(getattr(settings, "ECS_INVENTORY_INDEX", True))


def touched(
    ees_pks: Iterable[int] = (),
    edn_pks: Iterable[int] = (),
    full: bool = False,
    topic: str = "",
    refs: Iterable[int] = (),
) -> None:
    """Record, in the caller's transaction, that these EESs / EDNs changed (or everything),
    or rows ``refs`` of another app's ``topic`` (see ``listen``)."""
    IndexChange = _model("IndexChange")
    rows = [IndexChange(ees_pk=pk) for pk in set(ees_pks) if pk is not None]
    rows += [IndexChange(edn_pk=pk) for pk in set(edn_pks) if pk is not None]
    if topic:
        rows += [IndexChange(topic=topic, ref_pk=pk) for pk in set(refs) if pk is not None]
    if full:
        rows.append(IndexChange(full_build=True))
    if rows:
        IndexChange.objects.bulk_create(rows)
        transaction.on_commit(_poke)


def _poke() -> None:
    index.poked = True


def _freshness() -> float:
    return float(getattr(settings, "ECS_FRESHNESS_SECONDS", 0.02))


def listen(topic: str, changed: Callable[[set[int] | None], None]) -> None:
    """Have ``changed(pks)`` called, in this process, with the ``refs`` that ``touched`` records
    under ``topic`` as the index catches up -- or with None when the index cannot know what
    changed (a full build): another app's per-process view kept current by the same feed."""
    index.listeners[topic] = changed


def caught_up_within(seconds: float) -> bool:
    """Whether this process applied every committed change up to at most ``seconds`` ago
    (outside a transaction): a view kept current by ``listen`` may be trusted now."""
    if not enabled() or connection.in_atomic_block or index.snapshot is None:
        return False
    return time.monotonic() - index.caught_up_at <= seconds


def prune() -> int:
    """The worker's chore: drop rows every process has had time to read."""
    IndexChange = _model("IndexChange")
    cutoff = timezone.now() - dt.timedelta(seconds=PRUNE_SECONDS)
    deleted, _ = IndexChange.objects.filter(created__lt=cutoff).delete()
    return deleted


def _grid(min_lat: float, max_lat: float, min_lon: float, max_lon: float) -> list[tuple] | None:
    """The whole-degree cells a box touches; None when there are too many."""
    lats = range(math.floor(min_lat), math.floor(max_lat) + 1)
    lons = range(math.floor(min_lon), math.floor(max_lon) + 1)
    if len(lats) * len(lons) > MAX_GRID_CELLS:
        return None
    return [(a, o) for a in lats for o in lons]


# EESInfo members that records keep as values (matching reads them); the others stay text.
_KEPT_MEMBERS = frozenset({"eesId", "easIds", "ecspInfo", "eesSvcContSupp", "eecRegConf"})
_TEXT_FIELDS = tuple((f, m) for f, m in datamodel.FIELD_TO_MEMBER.items() if m not in _KEPT_MEMBERS)
_EMPTY_TEXT = frozenset({"null", "[]", "{}", '""'})


class IndexedEDN:
    """An EDN as matching and answers read it (the attributes of the model it stands for)."""

    __slots__ = ("_area", "dnn", "edn_id", "has_area", "pk", "serves_home", "snssai")

    def __init__(self, row: tuple, area_text: str | None) -> None:
        self.pk, self.edn_id, self.dnn, sst, sd, self.has_area, self.serves_home = row
        self.has_area, self.serves_home = bool(self.has_area), bool(self.serves_home)
        self.snssai = None
        if sst is not None:
            self.snssai = {"sst": sst, "sd": sd.upper()} if sd else {"sst": sst}
        self._area = area_text if area_text and area_text not in _EMPTY_TEXT else None

    @property
    def id(self) -> int:
        return self.pk

    @property
    def edn_topo_srv_area(self) -> dict[str, Any] | None:
        # Decoded on each use: only an answer's few EDNs are read, and nobody shares the dict.
        return json.loads(self._area) if self._area else None


class IndexedEES:
    """An EES as matching and answers read it: ``datamodel.ees_info`` builds its EESInfo from
    the kept values and ``rest``, the JSON text of its other non-empty members."""

    __slots__ = (
        "eas_ids",
        "ecsp_info",
        "edn",
        "edn_id",
        "eec_reg_conf",
        "ees_id",
        "ees_svc_cont_supp",
        "expires_at",
        "has_area",
        "pk",
        "registered_by",
        "rest",
    )

    def __getattr__(self, name: str) -> Any:
        # The members kept as text (``end_pt``, ``svc_area``, ...), decoded when asked for.
        member = datamodel.FIELD_TO_MEMBER.get(name)
        if member is None or name.startswith("_"):
            raise AttributeError(name)
        return self.members().get(member, datamodel.empty_value(name))

    @property
    def id(self) -> int:
        return self.pk

    def members(self) -> dict[str, Any]:
        """The members kept as text, decoded (a new dict each time)."""
        return json.loads(self.rest) if self.rest else {}

    def wire(self) -> dict[str, Any]:
        """EESInfo, as ``datamodel.ees_info`` builds it from a model instance."""
        rest = self.members()
        info: dict[str, Any] = {}
        for member in datamodel.FIELD_TO_MEMBER.values():
            if member in rest:
                info[member] = rest[member]
            elif member == "eesId":
                info[member] = self.ees_id
            elif member == "eecRegConf":
                info[member] = self.eec_reg_conf
            elif member == "easIds" and self.eas_ids:
                info[member] = list(self.eas_ids)
            elif member == "ecspInfo" and self.ecsp_info:
                info[member] = self.ecsp_info
            elif member == "eesSvcContSupp" and self.ees_svc_cont_supp:
                info[member] = list(self.ees_svc_cont_supp)
        return info


@dataclass
class _Owner:
    """What one EES or EDN put into the index, so that a reload can take it out again."""

    keys: set[str] = field(default_factory=set)
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)


class _Areas:
    """Area keys and boxes of one kind of owner (EESs or EDNs) → owner ids."""

    def __init__(self) -> None:
        self.by_key: dict[str, set[int]] = defaultdict(set)
        self.by_cell: dict[tuple, list[tuple[float, float, float, float, int]]] = defaultdict(list)
        self.wide: list[tuple[float, float, float, float, int]] = []
        self.owners: dict[int, _Owner] = {}

    def put(self, pk: int, area: dict[str, Any] | None) -> None:
        self.take(pk)
        owner = _Owner(areas.network_keys(area), list(areas.bboxes(area)))
        if not owner.keys and not owner.boxes:
            return
        self.owners[pk] = owner
        for key in owner.keys:
            self.by_key[key].add(pk)
        for box in owner.boxes:
            cells = _grid(*box)
            if cells is None:
                self.wide.append((*box, pk))
            else:
                for cell in cells:
                    self.by_cell[cell].append((*box, pk))

    def take(self, pk: int) -> None:
        owner = self.owners.pop(pk, None)
        if owner is None:
            return
        for key in owner.keys:
            ids = self.by_key.get(key)
            if ids is not None:
                ids.discard(pk)
                if not ids:
                    del self.by_key[key]
        for box in owner.boxes:
            cells = _grid(*box)
            for cell in cells or ():
                kept = [b for b in self.by_cell[cell] if b[4] != pk]
                if kept:
                    self.by_cell[cell] = kept
                else:
                    del self.by_cell[cell]
        if any(b[4] == pk for b in self.wide):
            self.wide = [b for b in self.wide if b[4] != pk]

    def near(self, keys: Iterable[str], points: Iterable[tuple[float, float]]) -> set[int]:
        """As ``EESManager.near``: owners with one of the keys, or a box holding a point."""
        found: set[int] = set()
        for key in keys:
            found |= self.by_key.get(key, set())
        for lat, lon in points:
            for boxes in (self.by_cell.get((math.floor(lat), math.floor(lon)), ()), self.wide):
                for min_lat, max_lat, min_lon, max_lon, pk in boxes:
                    if min_lat <= lat <= max_lat and min_lon <= lon <= max_lon:
                        found.add(pk)
        return found


class Snapshot:
    """One process's index: EES and EDN instances as ``EESManager.candidates`` builds them."""

    def __init__(self) -> None:
        self.eess: dict[int, Any] = {}
        self.edns: dict[int, Any] = {}
        self.ees_areas = _Areas()
        self.edn_areas = _Areas()
        # Arrays of ids, not sets: a set costs about 40 bytes an id, an array 8, and these
        # are only walked (a removal is a short memmove), never probed.
        self.by_app: dict[str, array[int]] = defaultdict(_ids)
        self.by_edn: dict[int, array[int]] = defaultdict(_ids)
        self.edn_plmns: dict[int, frozenset[str]] = {}
        self.by_plmn: dict[str, set[int]] = defaultdict(set)
        self.edns_without_area: set[int] = set()
        self.values: dict[Any, Any] = {}

    # --- loading --------------------------------------------------------------------------

    def load_edns(self, pks: list[int] | None) -> None:
        """(Re)load these EDNs (all of them with None) with their served PLMNs."""
        inventory = _inventory(_ees_model())
        columns = _columns(
            inventory.edn,
            "id",
            "edn_id",
            "dnn",
            "snssai_sst",
            "snssai_sd",
            "has_area",
            "serves_home",
            "edn_topo_srv_area",
        )
        sql = f"SELECT {columns} FROM {_table(inventory.edn)} d"
        plmn_sql = f"SELECT edn_id, plmn FROM {_table(inventory.edn_plmn)}"
        params: list[Any] = []
        if pks is not None:
            if not pks:
                return
            sql += f" WHERE d.id IN ({placeholders(pks)})"
            plmn_sql += f" WHERE edn_id IN ({placeholders(pks)})"
            params = list(pks)
        found = {}
        for row in select(sql, params):
            edn = IndexedEDN(row[:7], _text(row[7]))
            found[edn.pk] = edn
        plmns: dict[int, set[str]] = defaultdict(set)
        for edn_pk, plmn in select(plmn_sql, params):
            plmns[edn_pk].add(plmn)
        for pk in pks if pks is not None else list(found):
            self._drop_edn(pk)
            edn = found.get(pk)
            if edn is None:
                continue
            self.edns[pk] = edn
            self.edn_areas.put(pk, edn.edn_topo_srv_area)
            if not edn.has_area:
                self.edns_without_area.add(pk)
            self.edn_plmns[pk] = self._shared(frozenset(plmns.get(pk, ())))
            for plmn in self.edn_plmns[pk]:
                self.by_plmn[plmn].add(pk)
            # Its EESs answer with the EDN as it is now.
            for ees_pk in self.by_edn.get(pk, ()):
                self.eess[ees_pk].edn = edn

    def _drop_edn(self, pk: int) -> None:
        self.edns.pop(pk, None)
        self.edn_areas.take(pk)
        self.edns_without_area.discard(pk)
        for plmn in self.edn_plmns.pop(pk, ()):
            ids = self.by_plmn.get(plmn)
            if ids is not None:
                ids.discard(pk)
                if not ids:
                    del self.by_plmn[plmn]

    def _shared(self, value: Any) -> Any:
        """One object for equal values (application tuples, ECSP ids): an inventory repeats
        a few of them across every EES."""
        return self.values.setdefault(value, value)

    def load_eess(self, pks: list[int] | None) -> None:
        """(Re)load these EESs (all of them with None)."""
        inventory = _inventory(_ees_model())
        model = inventory.ees
        kept = ("id", "edn_id", "ees_id", "eas_ids", "ecsp_info", "ees_svc_cont_supp")
        kept += ("eec_reg_conf", "has_area", "expires_at", "registered_by")
        texts = [field for field, _ in _TEXT_FIELDS]
        sql = f"SELECT {_columns(model, *kept, *texts)} FROM {_table(model)} e"
        params: list[Any] = []
        if pks is not None:
            if not pks:
                return
            sql += f" WHERE e.id IN ({placeholders(pks)})"
            params = list(pks)
        expiry = _converter(model, "expires_at")
        found: dict[int, IndexedEES] = {}
        shared = self._shared
        # A full build streams the table; a catch-up reads its few rows at once.
        batches = select_batches(sql, params) if pks is None else [select(sql, params)]
        for row in (row for batch in batches for row in batch):
            ees = IndexedEES()
            ees.pk, ees.edn_id, ees.ees_id = row[0], row[1], row[2]
            ees.eas_ids = shared(tuple(_decoded(row[3]) or ()))
            ees.ecsp_info = shared(row[4] or "")
            ees.ees_svc_cont_supp = shared(tuple(_decoded(row[5]) or ()))
            ees.eec_reg_conf = bool(row[6])
            ees.has_area = bool(row[7])
            ees.expires_at = expiry(row[8])
            ees.registered_by = row[9] or ""
            rest = [
                f'"{member}":{text}'
                for (_, member), text in zip(_TEXT_FIELDS, map(_text, row[10:]), strict=True)
                if text is not None
            ]
            ees.rest = "{" + ",".join(rest) + "}" if rest else ""
            found[ees.pk] = ees
        for pk in pks if pks is not None else list(found):
            self._drop_ees(pk)
            ees = found.get(pk)
            if ees is None:
                continue
            edn = self.edns.get(ees.edn_id)
            if edn is None:  # an EDN created in a transaction we have not read yet
                self.load_edns([ees.edn_id])
                edn = self.edns.get(ees.edn_id)
                if edn is None:
                    continue
            ees.edn, ees.edn_id = edn, edn.pk
            self.eess[pk] = ees
            self.by_edn[edn.pk].append(pk)
            self.ees_areas.put(pk, ees.svc_area)
            for app in set(ees.eas_ids):
                self.by_app[app].append(pk)

    def _drop_ees(self, pk: int) -> None:
        ees = self.eess.pop(pk, None)
        if ees is None:
            return
        self.ees_areas.take(pk)
        _discard(self.by_edn, ees.edn_id, pk)
        for app in set(ees.eas_ids):
            _discard(self.by_app, app, pk)

    # --- matching -------------------------------------------------------------------------

    def candidates(
        self,
        *,
        location: areas.UELocation | None,
        eas_ids: tuple[str, ...],
        plmns: tuple[str, ...],
        only_plmn_edns: bool,
    ) -> list[tuple[Any, bool]]:
        """``EESManager.candidates`` from memory: (EES, whether its EDN lists one of
        ``plmns``) for every candidate, before the expiry and application checks."""
        if location:
            near_eess = self.ees_areas.near(location.keys, location.points)
            near_edns = self.edn_areas.near(location.keys, location.points)
            near_edns |= self.edns_without_area
            if not near_eess and not near_edns:
                return []
            pks = set(near_eess)
            for edn_pk in near_edns:
                pks |= {p for p in self.by_edn.get(edn_pk, ()) if not self.eess[p].has_area}
            if eas_ids:
                # The location's few candidates, tested on their own applications: never a
                # walk over every EES serving an application (a tenth of the inventory for a
                # popular one).
                wanted_apps = set(eas_ids)
                pks = {pk for pk in pks if not wanted_apps.isdisjoint(self.eess[pk].eas_ids)}
        elif eas_ids:
            pks = set()
            for app in eas_ids:
                pks.update(self.by_app.get(app, ()))
        elif plmns and only_plmn_edns:
            pks = set()
            for plmn in plmns:
                for edn_pk in self.by_plmn.get(plmn, ()):
                    pks.update(self.by_edn.get(edn_pk, ()))
        else:
            pks = set(self.eess)
        wanted = set(plmns)
        return [
            (ees, bool(wanted and not wanted.isdisjoint(self.edn_plmns.get(ees.edn_id, ()))))
            for ees in (self.eess[pk] for pk in pks)
        ]

    def serving(
        self, eas_ids: tuple[str, ...], plmns: tuple[str, ...], limit: int, skip: set[int]
    ) -> list[tuple[Any, bool]]:
        """Up to ``limit`` EESs serving one of ``eas_ids`` whose pks are not in ``skip``, as
        ``candidates`` gives them (an explanation's sample of those serving elsewhere): a walk
        of the applications' sets that stops at ``limit``, not a copy of them."""
        wanted = set(plmns)
        found: dict[int, Any] = {}
        for app in eas_ids:
            for pk in self.by_app.get(app, ()):
                if len(found) >= limit:
                    break
                if pk not in skip:
                    found[pk] = self.eess[pk]
        return [
            (ees, bool(wanted and not wanted.isdisjoint(self.edn_plmns.get(ees.edn_id, ()))))
            for ees in found.values()
        ]


def _ids() -> array[int]:
    return array("q")


def _discard(lists: dict[Any, array[int]], key: Any, pk: int) -> None:
    ids = lists.get(key)
    if ids is not None and pk in ids:
        ids.remove(pk)
        if not ids:
            del lists[key]


def _columns(model: Any, *fields: str) -> str:
    quote = connection.ops.quote_name
    return ", ".join(quote(model._meta.get_field(f).column) for f in fields)


def _converter(model: Any, field: str) -> Callable[[Any], Any]:
    """The database's value of ``field`` as the ORM would give it (a SQLite datetime is
    text, say)."""
    col = model._meta.get_field(field).get_col(model._meta.db_table)
    converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)

    def convert(value: Any) -> Any:
        for converter in converters:
            value = converter(value, col, connection)
        return value

    return convert


def _text(value: Any) -> str | None:
    """A JSON column's text, or None when it holds nothing (null, empty list/object/string)."""
    if value is None:
        return None
    if not isinstance(value, str):  # a driver that decodes JSON itself
        value = json.dumps(value, separators=(",", ":"))
    return None if value.strip() in _EMPTY_TEXT else value


def _decoded(value: Any) -> Any:
    text = _text(value)
    return json.loads(text) if text is not None else None


def _release_free_memory() -> None:
    """Hand the build's freed scratch memory back to the system (glibc keeps it otherwise:
    about 4 MiB at 100,000 EESs). Nothing happens where there is no glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def _ees_model() -> Any:
    return _model("EES")


def _model(name: str) -> Any:
    # Through the app registry: ``models`` imports this module to record its changes.
    return apps.get_model("provisioning", name)


class _Index:
    """The process's snapshot and what it has read of ``IndexChange``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.snapshot: Snapshot | None = None
        self.seen = 0  # the highest change id applied
        self.gaps: dict[int, float] = {}  # ids skipped over, and when first noticed
        self.caught_up_at = 0.0
        self.building: threading.Thread | None = None
        self.generation = 0  # bumped by reset, so a build started before it is dropped
        self.built_seconds: float | None = None  # how long the last full build took
        self.listeners: dict[str, Callable[[set[int] | None], None]] = {}
        self.poked = False  # this process committed a change: read the feed before answering

    def reset(self) -> None:
        with self.lock:
            self.snapshot = None
            self.seen = 0
            self.gaps = {}
            self.caught_up_at = 0.0
            self.generation += 1
            self._tell(None)

    def _tell(self, changed: dict[str, set[int]] | None) -> None:
        for topic, listener in self.listeners.items():
            if changed is None:
                listener(None)
            elif changed.get(topic):
                listener(changed[topic])

    def _changes(self) -> list[tuple[int, int | None, int | None, bool, str, int | None]]:
        IndexChange = _model("IndexChange")
        table = _table(IndexChange)
        sql = f"SELECT id, ees_pk, edn_pk, full_build, topic, ref_pk FROM {table} WHERE id > %s"
        params: list[Any] = [self.seen]
        if self.gaps:
            gaps = sorted(self.gaps)
            sql += f" OR id IN ({placeholders(gaps)})"
            params += gaps
        return sorted(select(sql + " ORDER BY id", params))

    def build(self, generation: int) -> None:
        """A full build; it becomes the process's snapshot unless a reset came meanwhile."""
        started = time.monotonic()
        try:
            with transaction.atomic():
                # One transaction: the changes' high mark and the rows agree. On PostgreSQL
                # REPEATABLE READ would be needed for that; READ COMMITTED may read rows newer
                # than the mark, which catching up then reloads once more: harmless.
                IndexChange = _model("IndexChange")
                table = _table(IndexChange)
                high = select(f"SELECT MAX(id) FROM {table}", [])[0][0] or 0
                snapshot = Snapshot()
                snapshot.load_edns(None)
                snapshot.load_eess(None)
            with self.lock:
                if generation == self.generation:
                    self.snapshot = snapshot
                    self.seen = high
                    self.gaps = {}
                    self.caught_up_at = time.monotonic()
                    self.built_seconds = round(time.monotonic() - started, 3)
                    # Changes up to the high mark were not read one by one.
                    self._tell(None)
            # Hundreds of thousands of long-lived objects: every full collection of the
            # cyclic garbage collector would walk them all, and requests would pay for it
            # (p50 grew with the inventory until this). Frozen, the collector skips them.
            gc.freeze()
            _release_free_memory()
            logger.info(
                "inventory index built: %d EESs, %d EDNs in %.1f s",
                len(snapshot.eess),
                len(snapshot.edns),
                time.monotonic() - started,
            )
        except Exception:
            logger.exception("building the inventory index failed; matching stays in SQL")

    def _build_in_background(self) -> None:
        generation = self.generation
        if getattr(settings, "ECS_INVENTORY_INDEX_INLINE_BUILD", False):
            # The test suite: its small inventories build in no time, and a thread of our own
            # would race the suite's flush of the database between tests.
            self.build(generation)
            return
        if self.building is not None and self.building.is_alive():
            return

        def run() -> None:
            try:
                self.build(generation)
            finally:
                connection.close()

        self.building = threading.Thread(target=run, name="inventory-index", daemon=True)
        self.building.start()

    def current(self) -> Snapshot | None:
        """The snapshot, caught up with every committed change; None when there is none yet
        (a build runs) or the caller is inside a transaction."""
        if not enabled() or connection.in_atomic_block:
            return None
        with self.lock:
            if self.snapshot is None:
                self._build_in_background()
                if self.snapshot is None:
                    return None
            now = time.monotonic()
            if now - self.caught_up_at > PRUNE_SECONDS / 2:
                self.snapshot = None  # what was pruned meanwhile cannot be known
                self._tell(None)
                self._build_in_background()
                return None
            # Another process's change is read within ECS_FRESHNESS_SECONDS; this process's
            # own (``touched`` pokes at commit) by its very next request.
            if not self.poked and now - self.caught_up_at < _freshness():
                return self.snapshot
            self.poked = False
            changes = self._changes()
            self.caught_up_at = now
            if changes:
                self._apply(changes, now)
            for gap, noticed in list(self.gaps.items()):
                if now - noticed > GAP_SECONDS:
                    del self.gaps[gap]
            return self.snapshot

    def _apply(
        self, changes: list[tuple[int, int | None, int | None, bool, str, int | None]], now: float
    ) -> None:
        assert self.snapshot is not None
        if any(change[3] for change in changes):
            self.snapshot = None
            self._tell(None)
            self._build_in_background()
            return
        edns = sorted({edn for _, _, edn, *_ in changes if edn is not None})
        eess = sorted({ees for _, ees, *_ in changes if ees is not None})
        self.snapshot.load_edns(edns)
        self.snapshot.load_eess(eess)
        topics: dict[str, set[int]] = defaultdict(set)
        for *_, topic, ref in changes:
            if topic and ref is not None:
                topics[topic].add(ref)
        if topics:
            self._tell(topics)
        for change_id, *_ in changes:
            self.gaps.pop(change_id, None)
        top = changes[-1][0]
        if top > self.seen:
            ids = {change_id for change_id, *_ in changes}
            for missing in range(self.seen + 1, top):
                if missing not in ids:
                    self.gaps[missing] = now
            self.seen = top

    def start(self) -> None:
        """Build in the background now (a gunicorn worker that starts), not at the first
        request."""
        if enabled():
            with self.lock:
                if self.snapshot is None:
                    self._build_in_background()

    def status(self) -> dict[str, Any]:
        """For ``/healthz``: whether this process answers from the index, and its size."""
        if not enabled():
            return {"state": "off"}
        snapshot = self.snapshot
        if snapshot is None:
            building = self.building is not None and self.building.is_alive()
            # "none": nothing asked for it yet (the first request outside a transaction will).
            return {"state": "building" if building else "none"}
        return {
            "state": "ready",
            "eess": len(snapshot.eess),
            "edns": len(snapshot.edns),
            "builtSeconds": self.built_seconds,
        }

    def wait_built(self, timeout: float = 60) -> Snapshot | None:
        """Build now if needed and wait for it (tests, the benchmark's build-time row)."""
        with self.lock:
            if self.snapshot is None:
                self._build_in_background()
            thread = self.building
        if thread is not None:
            thread.join(timeout)
        return self.current()


index = _Index()
