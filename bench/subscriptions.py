"""EEC subscriptions at scale: does the cost follow the change, not the population?

Run by ``bench/run.py`` (section ``subscriptions``, ``--subscriptions 0,1000,100000,1000000``).
For each population size N: a home ECS with a fixed inventory (``--subscription-ees``, 1,000
EESs) and N live EEC subscriptions loaded in bulk, gunicorn, a real ``manage.py run_worker``,
and a receiver (an HTTP server on 127.0.0.1, started here) that counts the notifications.
Rows, per N, in this order:

* ``sub-load@N``  the bulk load (``load`` below: the rows ``eec_subscriptions.create`` would
                  store, the answers' digests computed once per distinct query);
* ``none-app@N``, ``none-tai@N``  the worker's time for a change that affects no
                  subscription: ``changes.process_pending()`` timed in a process of its own
                  against the bench database (run_worker is not started yet), after an
                  EDGE-6 registration sent to the server: an EES for an application nobody
                  asks for, in populated TAIs (the first in the most populated), or an EES for
                  the application the fan-out's subscriptions ask for, in TAIs nobody is in;
* ``reg@N``, ``reg-c1@N``  EDGE-6 POST registration and DELETE of it, alternating (wrk, 16
                  connections, then one), run_worker running;
* ``sub@N``, ``sub-c1@N``  EDGE-4 POST subscriptions (wrk), run_worker running; the created
                  subscriptions are deleted afterwards;
* ``fanout+@N``, ``fanout-@N``  one EDGE-6 registration that changes the answer of
                  ``--subscription-hot`` (10,000) subscriptions, those in one TAI asking for
                  one application: seconds from the POST being sent (so before its commit) to
                  the receiver's last notification, run_worker evaluating and delivering;
                  then the same for its DELETE;
* ``worker@N``    run_worker's VmRSS (sampled every 0.1 s) while it processes changes that
                  affect none (12 of them) and the fan-outs.

The population: subscriptions at the ``COVERED_TACS`` TAIs of the inventory's EDNs and at as
many TAIs no EDN serves, in ``CELLS_PER_TAC`` cells each, each asking for one of 20
applications (10 served, 10 served nowhere) or, one in 50 (not in the first
``NAMED_ONLY_TACS`` TAIs), for none: everything at its location.  The first ``hot`` ask for
``HOT_APP`` in ``HOT_TAC``; no other subscription does, nor asks for everything there, so
the fan-out reaches exactly those.

``python bench/subscriptions.py load N HOT DESTINATION`` and ``... time-none URL REPS`` run
with the Django environment of the bench database (``bench/run.py`` starts them).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from array import array
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __name__ == "__main__":
    sys.path.insert(0, str(REPO))

from bench import datasets  # noqa: E402

EDGE4_SUBSCRIPTIONS = "/eecs-serviceprovisioning/v1/subscriptions"
EDGE6_REGISTRATIONS = "/eecs-eesregistration/v1/registrations"
MIB = 1024**2

COVERED_TACS = 100  # TACs 1..100: the EDNs of a 1,000-EES inventory (datasets.tac)
UNCOVERED_TACS = 100  # TACs 101..200: served by no EDN
CELLS_PER_TAC = 4
SERVED_APPS = [datasets.app_id(i) for i in range(datasets.APP_POOL)]
UNSERVED_APPS = [f"com.bench.unserved-{i:02d}" for i in range(10)]
APPS = SERVED_APPS + UNSERVED_APPS
NO_APP_EVERY = 50  # one subscription in 50 names no EAS id...
NAMED_ONLY_TACS = 10  # ...though none in TACs 1..10, where changes for unasked apps are made
HOT_TAC = 1  # datasets.tac(0): EDN 0's TAI
HOT_APP = datasets.app_id(0)
NOBODY_APP = "com.bench.nobody"  # + a suffix: an application no subscription asks for
REGISTERED_APP = "com.bench.registered"  # the EESs of the reg row: nobody asks for it
EMPTY_TAC_BASE = 0xF00000  # TACs from here on: no EDN, no subscription
REG_TAC = 0xFFFFFF  # where the reg row's EESs serve
DNN = "edge.bench"


def tac_hex(number: int) -> str:
    return f"{number:06X}"


def cell_hex(tac: int, cell: int) -> str:
    return f"{tac:05X}{cell:04X}"


# --- the population ----------------------------------------------------------------------------


def specs() -> list[tuple[int, int, str | None]]:
    """Every distinct (TAC, cell, EAS id or None) a subscription may have; its index is the
    spec id the loader stores per subscription."""
    out: list[tuple[int, int, str | None]] = []
    for tac in range(1, COVERED_TACS + UNCOVERED_TACS + 1):
        for cell in range(CELLS_PER_TAC):
            for app in [*APPS, None]:
                out.append((tac, cell, app))
    return out


def choose(n: int, hot: int, seed: int = 558) -> array:
    """The spec id of each of ``n`` subscriptions: the first ``hot`` at ``HOT_TAC`` asking
    for ``HOT_APP`` (over its cells); the others spread at random, never asking for
    ``HOT_APP`` or for every EAS id in ``HOT_TAC``."""
    table = specs()
    index = {spec: i for i, spec in enumerate(table)}
    hot_ids = [index[(HOT_TAC, c, HOT_APP)] for c in range(CELLS_PER_TAC)]
    with_app = [
        i
        for i, (tac, _, app) in enumerate(table)
        if app is not None and not (tac == HOT_TAC and app == HOT_APP)
    ]
    without_app = [
        i for i, (tac, _, app) in enumerate(table) if app is None and tac > NAMED_ONLY_TACS
    ]
    rng = random.Random(seed)
    chosen = array("i")
    for i in range(min(hot, n)):
        chosen.append(hot_ids[i % len(hot_ids)])
    for _ in range(n - len(chosen)):
        if rng.randrange(NO_APP_EVERY) == 0:
            chosen.append(without_app[rng.randrange(len(without_app))])
        else:
            chosen.append(with_app[rng.randrange(len(with_app))])
    return chosen


def subscription_body(
    eec_id: str, spec: tuple[int, int, str | None], destination: str
) -> dict[str, Any]:
    """An ECSServProvSubscription as an EEC at that TAI and cell sends it."""
    tac, cell, app = spec
    body: dict[str, Any] = {"eecId": eec_id}
    if app is not None:
        body["acProfs"] = [{"acId": "ac-bench", "eass": [{"easId": app}]}]
    body["locInf"] = datasets.nr_location(datasets.HOME_PLMN, tac_hex(tac), cell_hex(tac, cell))
    body["connInfo"] = [{"plmnId": datasets.HOME_PLMN}]
    body["notificationDestination"] = destination
    return body


def registration_body(ees_id: str, app: str, tac: int) -> dict[str, Any]:
    """An EDGE-6 EESRegistration: an EES in the inventory's EDNs' DNN serving ``app`` in one
    TAI."""
    return {
        "eesProf": {
            "eesId": ees_id,
            "endPt": {"uri": f"https://{ees_id}.bench.example/eees"},
            "easIds": [app],
            "eecRegConf": False,
            "ednInfoSets": {"dnn": DNN},
            "svcArea": {
                "topServAr": {"tais": [{"plmnId": datasets.HOME_PLMN, "tac": tac_hex(tac)}]}
            },
        }
    }


def inventory(ees_count: int) -> dict[str, Any]:
    """The home ECS's EDNs: ``datasets.inventory``; the subscriptions' covered TACs are
    those of its first ``COVERED_TACS`` EDNs."""
    if datasets.edn_count(ees_count) < COVERED_TACS:
        raise ValueError(f"--subscription-ees must be at least {COVERED_TACS * 10}")
    return {"edns": datasets.inventory(ees_count)["edns"]}


# --- the loader (in a Django process) --------------------------------------------------------


def load(n: int, hot: int, destination: str, check: int = 200) -> dict[str, Any]:
    """Write ``n`` live EEC subscriptions and their index keys, as ``eec_subscriptions.create``
    would store them: body as sent, digest of the answer now, keys of the query.

    The answer and the keys are functions of the query, which here is a function of the
    spec (TAC, cell, EAS id): both are computed once per spec used.  The rows are then
    written by PostgreSQL itself from a table of the specs and one of each subscription's
    spec (``INSERT ... SELECT`` in chunks), then ``VACUUM ANALYZE``.  Finally ``check``
    random subscriptions are read back and compared with what ``create`` computes for their
    body.  Pending change events (the configuration applied before) are deleted: the digests
    are of the inventory as it is now.
    """
    from django.conf import settings
    from django.db import connection, transaction

    from ecscore import schemas
    from provisioning import datamodel, eec_subscriptions, subscription_index
    from provisioning.models import EECSubscription, EECSubscriptionKey, InventoryChange
    from provisioning.scope import pair_key

    started = time.monotonic()
    table = specs()
    chosen = choose(n, hot)
    used = sorted(set(chosen))
    timings: dict[str, float] = {}

    t = time.monotonic()
    rows = []
    for spec_id in used:
        body = subscription_body("eec-spec", table[spec_id], destination)
        digest = eec_subscriptions.answer_digest(eec_subscriptions.answer_now(body))
        keys = subscription_index.keys_for(datamodel.provisioning_query(body))
        rows.append((spec_id, *_spec_columns(table[spec_id]), digest, keys))
    timings["answers"] = time.monotonic() - t

    subs = EECSubscription._meta.db_table
    keys_table = EECSubscriptionKey._meta.db_table
    max_seconds = int(settings.ECS_SUBSCRIPTION_MAX_SECONDS)
    stale_events, _ = InventoryChange.objects.all().delete()
    t = time.monotonic()
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor, for COPY
        cursor.execute(
            "CREATE TEMP TABLE bench_spec (spec integer PRIMARY KEY, tac text, cell text,"
            " app text, digest text, keys text[])"
        )
        with raw.copy("COPY bench_spec FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute("CREATE TEMP TABLE bench_choice (n integer PRIMARY KEY, spec integer)")
        with raw.copy("COPY bench_choice FROM STDIN") as copy:
            for number, spec_id in enumerate(chosen, start=1):
                copy.write_row((number, spec_id))
        cursor.execute("ANALYZE bench_spec")
        cursor.execute("ANALYZE bench_choice")
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {subs}")
        base = cursor.fetchone()[0]
    timings["specs_and_choices"] = time.monotonic() - t

    t = time.monotonic()
    chunk = 100_000
    plmn = datasets.HOME_PLMN
    for first in range(1, n + 1, chunk):
        last = min(n, first + chunk - 1)
        with transaction.atomic(), connection.cursor() as cursor:
            # The body in the key order subscription_body gives (jsonb keeps its own).
            cursor.execute(
                f"""
                INSERT INTO {subs} (id, subscription_id, eec_id, ue_id, body,
                    notification_destination, expires_at, digest, created, updated)
                SELECT %(base)s + c.n,
                       replace(gen_random_uuid()::text, '-', ''),
                       'eec-' || lpad(c.n::text, 7, '0'),
                       '',
                       jsonb_strip_nulls(jsonb_build_object(
                         'eecId', 'eec-' || lpad(c.n::text, 7, '0'),
                         'acProfs', CASE WHEN s.app IS NULL THEN NULL ELSE jsonb_build_array(
                           jsonb_build_object('acId', 'ac-bench', 'eass',
                             jsonb_build_array(jsonb_build_object('easId', s.app)))) END,
                         'locInf', jsonb_build_object('userLocation', jsonb_build_object(
                           'nrLocation', jsonb_build_object(
                             'tai', jsonb_build_object('plmnId', %(plmn)s::jsonb, 'tac', s.tac),
                             'ncgi', jsonb_build_object('plmnId', %(plmn)s::jsonb,
                                                        'nrCellId', s.cell)))),
                         'connInfo', jsonb_build_array(jsonb_build_object('plmnId',
                                                                          %(plmn)s::jsonb)),
                         'notificationDestination', %(destination)s || '/eec/' || c.n
                       )),
                       %(destination)s || '/eec/' || c.n,
                       now() + make_interval(secs => %(max)s * (0.5 + 0.5 * random())),
                       s.digest, now(), now()
                  FROM bench_choice c JOIN bench_spec s ON s.spec = c.spec
                 WHERE c.n BETWEEN %(first)s AND %(last)s
                """,
                {
                    "base": base,
                    "plmn": json.dumps(plmn),
                    "destination": destination,
                    "max": max_seconds,
                    "first": first,
                    "last": last,
                },
            )
            cursor.execute(
                f"""
                INSERT INTO {keys_table} (subscription_id, key)
                SELECT %(base)s + c.n, k.key
                  FROM bench_choice c JOIN bench_spec s ON s.spec = c.spec,
                       unnest(s.keys) AS k(key)
                 WHERE c.n BETWEEN %(first)s AND %(last)s
                """,
                {"base": base, "first": first, "last": last},
            )
        print(f"  loaded {last:,} of {n:,} subscriptions", file=sys.stderr, flush=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{subs}', 'id'),"
            f" (SELECT coalesce(max(id), 0) + 1 FROM {subs}), false)"
        )
        cursor.execute("DROP TABLE bench_spec")
        cursor.execute("DROP TABLE bench_choice")
    timings["insert"] = time.monotonic() - t
    t = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    timings["vacuum_analyze"] = time.monotonic() - t

    # Read some back: what create would have stored for the same body.
    t = time.monotonic()
    problems = []
    ids = random.Random(7).sample(range(base + 1, base + n + 1), min(check, n)) if n else []
    for sub in EECSubscription.objects.filter(pk__in=ids):
        schemas.check(sub.body, datamodel.EDGE4_FILE, "ECSServProvSubscription")
        query = datamodel.provisioning_query(sub.body)
        stored = sorted(sub.index_keys.values_list("key", flat=True))
        if stored != sorted(subscription_index.keys_for(query)):
            problems.append(f"{sub.pk}: keys {stored}")
        if sub.digest != eec_subscriptions.answer_digest(eec_subscriptions.answer_now(sub.body)):
            problems.append(f"{sub.pk}: digest")
        if sub.notification_destination != sub.body["notificationDestination"]:
            problems.append(f"{sub.pk}: destination")
    if problems:
        raise RuntimeError("loaded subscriptions differ from create's: " + "; ".join(problems[:5]))
    timings["check"] = time.monotonic() - t
    hot_count = (
        EECSubscriptionKey.objects.filter(
            key=pair_key(f"eas:{HOT_APP}", f"loc:tai:001-01:{tac_hex(HOT_TAC)}")
        ).count()
        if n
        else 0
    )
    return {
        "subscriptions": EECSubscription.objects.count(),
        "keys": EECSubscriptionKey.objects.count(),
        "distinct_queries": len(used),
        "hot": hot_count,
        "checked": len(ids),
        "stale_events_deleted": stale_events,
        "seconds": round(time.monotonic() - started, 2),
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }


def _spec_columns(spec: tuple[int, int, str | None]) -> tuple[str, str, str | None]:
    tac, cell, app = spec
    return tac_hex(tac), cell_hex(tac, cell), app


# --- the worker's time for changes that affect none (in a Django process) ---------------------


def time_none(url: str, reps: int) -> dict[str, Any]:
    """``changes.process_pending()`` timed, for changes that affect no subscription.

    Each change is an EDGE-6 registration sent to the running server (so the change event
    is the one the server writes), then the deregistration (the same scope again). Kinds:
    ``app-nobody-asks``: an EES for an application no subscription asks for, in a populated
    TAI (the first rep in ``HOT_TAC``, the most populated); ``tai-nobody-is-in``: an EES for
    ``HOT_APP`` in a TAI without subscriptions.  Every rep uses another application or TAI, so
    no lookup is a repeat of an earlier one (cachalot would answer it); a first unmeasured rep
    warms the process up.
    """
    import requests
    from django.db import connection

    from notifications.models import Notification
    from provisioning import changes
    from provisioning.models import EECSubscriptionKey, InventoryChange
    from provisioning.scope import pair_key

    session = requests.Session()
    leftover = changes.process_pending()  # nothing should be pending; untimed
    kinds = {
        "app-nobody-asks": lambda rep: (
            f"{NOBODY_APP}-{rep}",
            [HOT_TAC, 2, 3, 4, 5, 6, 7][rep % 7],
        ),
        "tai-nobody-is-in": lambda rep: (HOT_APP, EMPTY_TAC_BASE + rep),
    }
    out: dict[str, Any] = {"leftover_notified": leftover}
    for kind, pick in kinds.items():
        first, again, notified, enqueued, located = [], [], 0, 0, []
        # Rep 0 is the warm-up (the last TAC of the list for the populated kind).
        for rep in [reps, *range(reps)]:
            app, tac = pick(rep)
            body = registration_body(f"ees-none-{kind}-{rep}-{os.getpid()}", app, tac)
            response = session.post(url + EDGE6_REGISTRATIONS, json=body, timeout=30)
            if response.status_code != 201:
                raise RuntimeError(f"registration: {response.status_code} {response.text[:300]}")
            location = response.headers["Location"]
            for step, times in (("register", first), ("deregister", again)):
                if step == "deregister":
                    done = session.delete(location, timeout=30)
                    if done.status_code != 204:
                        raise RuntimeError(f"deregistration: {done.status_code}")
                events = InventoryChange.objects.count()
                before = Notification.objects.count()
                began = time.perf_counter()
                count = changes.process_pending()
                ms = (time.perf_counter() - began) * 1000
                after = Notification.objects.count()
                if rep != reps:
                    times.append(ms)
                    notified += count
                    enqueued += after - before
                    if events != 1:
                        raise RuntimeError(f"{events} change events pending, expected 1")
            if rep != reps:
                # Subscriptions in the TAI, whatever they ask for (one pair key each).
                where = f"loc:tai:001-01:{tac_hex(tac)}"
                pairs = [pair_key(e, where) for e in ["eas:*", *(f"eas:{a}" for a in APPS)]]
                located.append(EECSubscriptionKey.objects.filter(key__in=pairs).count())
        out[kind] = {
            "first_ms": [round(v, 2) for v in first],
            "again_ms": [round(v, 2) for v in again],
            "p50_ms": round(statistics.median(first), 2),
            "max_ms": round(max(first), 2),
            "again_p50_ms": round(statistics.median(again), 2),
            "notified": notified,
            "enqueued": enqueued,
            "subscriptions_in_tai": located,
        }
    connection.close()
    return out


# --- the receiver -----------------------------------------------------------------------------


class Receiver:
    """Notification receiver on 127.0.0.1: answers 204 to every POST and counts them (with
    the distinct ``subId`` values and the arrival time of the last)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.count = 0
        self.ids: set[str] = set()
        self.first: float | None = None
        self.last: float | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                try:
                    sub_id = json.loads(data).get("subId")
                except (ValueError, AttributeError):
                    sub_id = None
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver._arrived(sub_id)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _arrived(self, sub_id: str | None) -> None:
        now = time.monotonic()
        with self._lock:
            self.count += 1
            if sub_id:
                self.ids.add(sub_id)
            self.first = self.first or now
            self.last = now
            self._lock.notify_all()

    def reset(self) -> None:
        with self._lock:
            self.count, self.ids, self.first, self.last = 0, set(), None, None

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self.count >= count, timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- run_worker, and its memory ---------------------------------------------------------------


class Worker:
    """``manage.py run_worker`` in a session of its own; ``bench.runner`` stops it on exit."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        from ecscore.testing.processes import PYTHON, spawn

        self.name = name
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = spawn([PYTHON, "manage.py", "run_worker", "--poll", "0.5"], env, log)
        self.peak = 0
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    def status_kib(self, field: str) -> int:
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
        return 0

    def rss(self) -> int:
        return self.status_kib("VmRSS") * 1024

    def sample(self) -> None:
        """Start recording the highest VmRSS (every 0.1 s) until ``peak_since``."""
        self.peak = self.rss()
        self._sampling.clear()

        def run() -> None:
            while not self._sampling.wait(0.1):
                self.peak = max(self.peak, self.rss())

        self._sampler = threading.Thread(target=run, daemon=True)
        self._sampler.start()

    def peak_since(self) -> int:
        self._sampling.set()
        if self._sampler is not None:
            self._sampler.join()
        return max(self.peak, self.rss())

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


# --- wrk: registration and deregistration, alternating ----------------------------------------

REGISTER_LUA = r"""
-- POST an EES registration, then DELETE it (its Location), and again; one queue per thread.
local thread_count = 0
local threads = {}
function setup(thread)
   thread:set("tid", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end
statuses = {}
local template, prefix, counter, pending = "", "x", 0, {}
local post_headers = {["Content-Type"] = "application/json"}
function init(args)
   template = args[1]
   prefix = args[2] .. "-" .. (tid or 0)
end
function request()
   local path = table.remove(pending)
   if path then
      return wrk.format("DELETE", path)
   end
   counter = counter + 1
   local body = string.gsub(template, "@ID@", prefix .. "-" .. counter)
   return wrk.format("POST", wrk.path, post_headers, body)
end
function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status == 201 then
      local location = headers["Location"] or headers["location"]
      if location then
         table.insert(pending, (string.gsub(location, "^https?://[^/]+", "")))
      end
   end
end
function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses") or {}) do
         total[status] = (total[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(total) do
      table.insert(parts, string.format("%d=%d", status, count))
   end
   io.write("BENCH_STATUS " .. table.concat(parts, " ") .. "\n")
end
"""


def wrk_register(url: str, workdir: Path, duration: float, connections: int, threads: int):
    """wrk alternating EDGE-6 POST (an EES for ``REGISTERED_APP`` in ``REG_TAC``: no
    subscription is there) and DELETE of the registration it created."""
    from bench import wrk

    script = workdir / "register.lua"
    script.write_text(REGISTER_LUA, encoding="utf-8")
    template = json.dumps(registration_body("@ID@", REGISTERED_APP, REG_TAC), separators=(",", ":"))
    prefix = f"ees-reg-{random.randrange(16**6):06x}"
    command = [
        wrk.wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout=10s",
        "--latency",
        "-s",
        str(script),
        url + EDGE6_REGISTRATIONS,
        "--",
        template,
        prefix,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}: {done.stderr}\n{done.stdout}")
    result = wrk.parse(done.stdout)
    result.command = " ".join(command[:9])
    return result


# --- the section ------------------------------------------------------------------------------


def label(size: int) -> str:
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    if size >= 1000 and size % 1000 == 0:
        return f"{size // 1000}k"
    return str(size)


class Section:
    """The subscriptions section of a ``bench.runner.Bench`` run."""

    def __init__(self, bench: Any) -> None:
        self.bench = bench
        self.options = bench.options
        self.receiver: Receiver | None = None

    def run(self) -> None:
        if postgres_setting("autovacuum") == "off":
            self.bench.say(
                "  Note: autovacuum is off on this PostgreSQL: the tables the run fills (the "
                "outbox) keep the statistics of empty tables"
            )
        self.receiver = Receiver()
        try:
            for size in self.options.subscriptions:
                self._size(size)
        finally:
            self.receiver.close()

    # -- one population ----------------------------------------------------------------------

    def _size(self, size: int) -> None:
        from bench import servers

        bench, options = self.bench, self.options
        hot = min(options.subscription_hot, size // 10)
        name = f"subs-{label(size)}"
        ees = options.subscription_ees
        bench.say(
            f"Subscriptions: home ECS with {ees:,} EESs and {size:,} EEC subscriptions "
            f"({hot:,} in the fan-out's TAI and application)"
        )
        env = bench.env("", name)
        env["ECS_ALLOW_PRIVATE_CALLBACKS"] = "1"  # the receiver is on 127.0.0.1
        env["DATABASE_URL"] = bench.databases.create_migrated(f"subs_{size}", env)
        edns = bench.write(f"subs-inventory-{ees}.json", inventory(ees))
        loaded_ees = servers.bulk_load(edns, env)
        ecs = bench.write(
            "subs-ecs.json",
            {"ecs": datasets.ecs_section(datasets.HOME_ID, "home-op", datasets.HOME_PLMN)},
        )
        servers.manage(["ecs_apply", str(ecs)], env)
        bench.load_before = os.getloadavg()[0]
        bench.say(f"  loaded {loaded_ees}; bulk-loading {size:,} subscriptions")
        destination = self.receiver.url
        loaded = _run_json(
            ["bench/subscriptions.py", "load", str(size), str(hot), destination], env, 3600
        )
        bench.results.setdefault("subscription_loads", {})[str(size)] = loaded
        bench.row(
            f"sub-load@{label(size)}",
            "sub_load",
            None,
            size=size,
            seconds=loaded["seconds"],
            load=loaded,
            notes=(
                f"{loaded['subscriptions']:,} subscriptions, {loaded['keys']:,} keys, "
                f"{loaded['distinct_queries']:,} distinct queries answered, "
                f"{loaded['hot']:,} hot; {loaded['seconds']:.1f} s "
                f"({', '.join(f'{k} {v:g}' for k, v in loaded['timings'].items())}); "
                f"{loaded['checked']} read back = create's"
            ),
        )
        if loaded["hot"] != hot:
            raise RuntimeError(f"{loaded['hot']} hot subscriptions loaded, expected {hot}")

        home = bench.server(name, servers.free_port(), env)
        try:
            self._none_in_process(home, size)
            worker = Worker(f"worker-{label(size)}", env, bench.logs / f"{name}-worker.log")
            bench.servers.append(worker)  # stopped on exit, like the servers
            try:
                self._with_worker(home, worker, size, hot)
            finally:
                worker.stop()
                if worker in bench.servers:
                    bench.servers.remove(worker)
        finally:
            bench.stop(home)
            bench.databases.drop(env["DATABASE_URL"])

    def _with_worker(self, home: Any, worker: Worker, size: int, hot: int) -> None:
        bench = self.bench
        time.sleep(2)  # imports, first chores
        idle = worker.rss()
        self._registrations(home, size)
        # Before the fan-out, which would reach the created subscriptions of its TAI and
        # application (they are deleted right after) and leave deliveries under way.
        self._creations(home, size)
        bench.say(f"worker@{label(size)}: run_worker processing changes that affect none")
        worker.sample()
        none_info = self._none_by_worker(home, size)
        none_peak = worker.peak_since()
        fanout_peak = None
        if hot:
            worker.sample()
            self._fanout(home, size, hot)
            fanout_peak = worker.peak_since()
        if not worker.alive():
            raise RuntimeError(f"run_worker exited; see {worker.log_path}")
        bench.load_before = os.getloadavg()[0]
        peak_kib = worker.status_kib("VmHWM")
        bench.row(
            f"worker@{label(size)}",
            "sub_worker",
            None,
            size=size,
            rss_idle=idle,
            rss_none=none_peak,
            rss_fanout=fanout_peak,
            rss_max=max(none_peak, fanout_peak or 0),
            hwm=peak_kib * 1024,
            none_changes=none_info,
            notes=(
                f"run_worker VmRSS: idle {idle / MIB:.1f} MiB, highest while processing "
                f"changes affecting none {none_peak / MIB:.1f} MiB"
                + (f", the fan-out of {hot:,} {fanout_peak / MIB:.1f} MiB" if fanout_peak else "")
                + f"; VmHWM {peak_kib / 1024:.1f} MiB"
            ),
        )

    # -- the measurements --------------------------------------------------------------------

    def _none_in_process(self, home: Any, size: int) -> None:
        bench = self.bench
        bench.say(f"none@{label(size)}: worker time for changes that affect no subscription")
        bench.load_before = os.getloadavg()[0]
        reps = 5
        out = _run_json(["bench/subscriptions.py", "time-none", home.url, str(reps)], home.env, 600)
        populated = out["app-nobody-asks"]
        empty = out["tai-nobody-is-in"]
        for kind, data, what in (
            ("app-nobody-asks", populated, "EES for an app nobody asks, in populated TAIs"),
            ("tai-nobody-is-in", empty, "EES for an asked-for app, in TAIs nobody is in"),
        ):
            short = "app" if kind == "app-nobody-asks" else "tai"
            bench.row(
                f"none-{short}@{label(size)}",
                f"sub_none_{short}",
                None,
                size=size,
                p50_ms=data["p50_ms"],
                p99_ms=data["max_ms"],
                requests=len(data["first_ms"]),
                errors=data["enqueued"],
                worker=data,
                notes=(
                    f"{what}: changes.process_pending() in-process, p50 {data['p50_ms']:.1f} "
                    f"ms, max {data['max_ms']:.1f} ms over {len(data['first_ms'])} changes "
                    f"(p50 column; max in p99), the same scope again "
                    f"{data['again_p50_ms']:.1f} ms; "
                    f"enqueued {data['enqueued']} (errors column); subscriptions in those TAIs "
                    f"{', '.join(f'{v:,}' for v in data['subscriptions_in_tai'])}"
                ),
            )

    def _registrations(self, home: Any, size: int) -> None:
        bench, options = self.bench, self.options
        for suffix, connections, threads in (
            ("", options.connections, options.threads),
            ("@c1", 1, 1),
        ):
            name = f"reg{suffix.replace('@', '-')}@{label(size)}"
            bench.say(
                f"{name}: EDGE-6 POST registration + DELETE, {connections} connection(s), "
                "run_worker running"
            )
            bench.load_before = os.getloadavg()[0]
            common = {"connections": connections, "threads": threads, "workdir": bench.workdir}
            wrk_register(home.url, duration=min(2.0, options.duration), **common)
            result = wrk_register(home.url, duration=options.duration, **common)
            bench.row(
                name,
                "sub_reg" + suffix.replace("@", "_"),
                result,
                size=size,
                notes=(
                    f"POST + DELETE alternating (one p50 over both), -c{connections}, "
                    f"{size:,} live subscriptions; statuses {result.statuses}"
                ),
            )

    def _none_by_worker(self, home: Any, size: int) -> dict[str, Any]:
        """Changes that affect none, processed by run_worker (for its memory)."""
        import requests

        before = _count(home.env, "notifications_notification")
        for rep in range(3):
            for app, tac in (
                (f"{NOBODY_APP}-w{rep}", HOT_TAC),
                (HOT_APP, EMPTY_TAC_BASE + 100 + rep),
            ):
                body = registration_body(f"ees-none-w-{rep}-{tac}", app, tac)
                response = requests.post(home.url + EDGE6_REGISTRATIONS, json=body, timeout=30)
                if response.status_code != 201:
                    raise RuntimeError(f"registration: {response.status_code} {response.text}")
                requests.delete(response.headers["Location"], timeout=30)
        waited = _wait_until(lambda: _count(home.env, "provisioning_inventorychange") == 0, 60)
        time.sleep(1)
        after = _count(home.env, "notifications_notification")
        return {"changes": 12, "processed_within_s": waited, "enqueued": after - before}

    def _fanout(self, home: Any, size: int, hot: int) -> dict[str, Any]:
        import requests

        bench, receiver = self.bench, self.receiver
        assert receiver is not None
        timeout = self.options.fanout_timeout
        result: dict[str, Any] = {}
        location = ""
        for step in ("add", "remove"):
            if step == "remove" and result["add"]["seconds"] is None:
                bench.say("  the registration's notifications are not all in: no deregistration")
                break
            bench.say(
                f"fanout{'+' if step == 'add' else '-'}@{label(size)}: one EES "
                f"{'registered' if step == 'add' else 'deregistered'} changes {hot:,} "
                "subscriptions' answers; run_worker delivers"
            )
            bench.load_before = os.getloadavg()[0]
            receiver.reset()
            wall = time.time()
            sent = time.monotonic()
            if step == "add":
                body = registration_body(f"ees-fanout-{bench.tag}", HOT_APP, HOT_TAC)
                response = requests.post(home.url + EDGE6_REGISTRATIONS, json=body, timeout=30)
                if response.status_code != 201:
                    raise RuntimeError(f"registration: {response.status_code} {response.text}")
                location = response.headers["Location"]
            else:
                response = requests.delete(location, timeout=30)
                if response.status_code != 204:
                    raise RuntimeError(f"deregistration: {response.status_code}")
            answered = time.monotonic()
            complete = receiver.wait_for(hot, timeout)
            time.sleep(2)  # anything more than expected?
            count, distinct = receiver.count, len(receiver.ids)
            last = receiver.last
            seconds = (last - sent) if (complete and last) else None
            enqueued = _notifications_since(home.env, wall)
            result[step] = {
                "seconds": None if seconds is None else round(seconds, 2),
                "request_ms": round((answered - sent) * 1000, 1),
                "received": count,
                "distinct_subscriptions": distinct,
                "first_received_s": round(receiver.first - sent, 2) if receiver.first else None,
                **enqueued,
            }
            data = result[step]
            shown = "-" if seconds is None else f"{seconds:.1f} s"
            bench.row(
                f"fanout{'+' if step == 'add' else '-'}@{label(size)}",
                f"sub_fanout_{step}",
                None,
                size=size,
                hot=hot,
                seconds=data["seconds"],
                requests=count,
                errors=hot - distinct,
                fanout=data,
                notes=(
                    f"{count:,} notifications ({distinct:,} subscriptions) of {hot:,} received, "
                    f"last at {shown} after the request was sent (its answer after "
                    f"{data['request_ms']:.0f} ms); enqueued {data['enqueued']:,} from "
                    f"{data['first_enqueued_s']} s to {data['last_enqueued_s']} s; first received "
                    f"at {data['first_received_s']} s; {data['attempts']:,} attempts "
                    f"({data['failed_attempts']} failed, mean {data['attempt_mean_ms']} ms)"
                ),
            )
        return result

    def _creations(self, home: Any, size: int) -> None:
        from bench import servers

        bench, options = self.bench, self.options
        body = subscription_body("eec-created-@UCELL@", (0, 0, "@APP@"), "")
        body["locInf"] = datasets.nr_location(datasets.HOME_PLMN, "@EDNTAC@", "@UCELL@")
        body["notificationDestination"] = self.receiver.url + "/created"
        template = json.dumps(body, separators=(",", ":"))
        url = home.url + EDGE4_SUBSCRIPTIONS
        for suffix, connections, threads in (
            ("", options.connections, options.threads),
            ("-c1", 1, 1),
        ):
            name = f"sub{suffix}@{label(size)}"
            bench.say(f"{name}: EDGE-4 POST subscriptions with {size:,} live, -c{connections}")
            shape = {"connections": connections, "threads": threads}
            bench.warm(url, body_template=template, edns=COVERED_TACS, **shape)
            result = bench.wrk(url, body_template=template, edns=COVERED_TACS, **shape)
            bench.row(
                name,
                "sub_create" + suffix.replace("-", "_"),
                result,
                size=size,
                notes=(
                    f"at a random covered TAI, a new cell each, a random served app; -c"
                    f"{connections}; {size:,} live before; statuses {result.statuses}"
                ),
            )
        # Back to the loaded population (the database has no ON DELETE CASCADE: keys first;
        # and cachalot is told, as it does not see these statements).
        # Requests wrk gave up on at its end may still be creating subscriptions (and their
        # keys) on the server for a moment: retry until the creations stop.
        import psycopg

        created = "SELECT id FROM provisioning_eecsubscription WHERE eec_id LIKE 'eec-created-%'"
        for attempt in range(10):
            try:
                with _connect(home.env) as conn:
                    conn.execute(
                        "DELETE FROM provisioning_eecsubscriptionkey"
                        f" WHERE subscription_id IN ({created})"
                    )
                    conn.execute(
                        "DELETE FROM provisioning_eecsubscription WHERE eec_id LIKE 'eec-created-%'"
                    )
                break
            except psycopg.errors.ForeignKeyViolation:
                if attempt == 9:
                    raise
                time.sleep(1)
        servers.manage(["invalidate_cachalot", "provisioning"], home.env)


# --- helpers (bench side) -----------------------------------------------------------------------


def _run_json(args: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    from ecscore.testing.processes import run_python

    done = run_python(args, env, timeout=timeout, output_chars=4000)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _connect(env: dict[str, str]):
    import psycopg

    return psycopg.connect(env["DATABASE_URL"], autocommit=True)


def postgres_setting(name: str) -> str | None:
    """A setting of the bench's PostgreSQL server (``autovacuum``: whether the tables the
    run fills get fresh statistics by themselves)."""
    from bench import servers

    try:
        import psycopg

        with psycopg.connect(servers.POSTGRES_URL, connect_timeout=5) as conn:
            return str(conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0])
    except Exception:
        return None


def _count(env: dict[str, str], table: str) -> int:
    with _connect(env) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _notifications_since(env: dict[str, str], wall: float) -> dict[str, Any]:
    with _connect(env) as conn:
        row = conn.execute(
            "SELECT count(*), extract(epoch FROM min(created)), extract(epoch FROM max(created)),"
            " count(*) FILTER (WHERE state = 'delivered')"
            " FROM notifications_notification WHERE created >= to_timestamp(%s)"
            " AND kind = 'eec-subscription'",
            (wall,),
        ).fetchone()
    count, first, last, delivered = row
    with _connect(env) as conn:
        attempts, failed, mean_ms = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status IS NULL OR status >= 300),"
            " avg(duration_ms) FROM notifications_deliveryattempt WHERE at >= to_timestamp(%s)",
            (wall,),
        ).fetchone()
    return {
        "enqueued": count,
        "delivered": delivered,
        "attempts": attempts,
        "failed_attempts": failed,
        "attempt_mean_ms": None if mean_ms is None else round(float(mean_ms), 1),
        "first_enqueued_s": None if first is None else round(float(first) - wall, 2),
        "last_enqueued_s": None if last is None else round(float(last) - wall, 2),
    }


def _wait_until(condition: Any, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return round(time.monotonic() - started, 2)
        time.sleep(0.1)
    return None


# --- targets ------------------------------------------------------------------------------------


def targets(bench: Any) -> None:
    """The "cost follows the change" targets, from the rows of this section."""
    rows = bench.results["rows"]

    def of(kind: str) -> dict[int, dict[str, Any]]:
        return {r["size"]: r for r in rows if r["kind"] == kind}

    for kind, shown in (("sub_reg", "reg"), ("sub_reg_c1", "reg@c1")):
        reg = of(kind)
        if 0 not in reg:
            continue
        for size in sorted(s for s in reg if s):
            ratio = reg[size]["p50_ms"] / reg[0]["p50_ms"] if reg[0]["p50_ms"] else None
            bench._target(
                f"{shown} p50@{label(size)} / p50@0",
                ratio,
                "<= 1.2",
                None if ratio is None else ratio <= 1.2,
            )
    for kind, shown in (("sub_create", "sub"), ("sub_create_c1", "sub@c1")):
        create = of(kind)
        if 1000 not in create:
            continue
        for size in sorted(s for s in create if s > 1000):
            ratio = create[size]["p50_ms"] / create[1000]["p50_ms"]
            bench._target(f"{shown} p50@{label(size)} / p50@1k", ratio, "<= 1.2", ratio <= 1.2)
    for step in ("add", "remove"):
        for size, row in sorted(of(f"sub_fanout_{step}").items()):
            if row["hot"] < 10000:
                continue
            seconds = row["seconds"]
            bench._target(
                f"fanout {step} 10k@{label(size)} (s)",
                "not all" if seconds is None else float(seconds),
                "<= 60",
                seconds is not None and seconds <= 60 and row["errors"] == 0,
            )
    for short in ("app", "tai"):
        for size, row in sorted(of(f"sub_none_{short}").items()):
            if not size:
                continue
            bench._target(
                f"none ({short}) worker ms@{label(size)} p50",
                float(row["p50_ms"]),
                "<= 10",
                row["p50_ms"] <= 10 and row["errors"] == 0,
                notes=f"max {row['p99_ms']:.1f} ms, enqueued {row['errors']}",
            )
    workers = of("sub_worker")
    big = [s for s in workers if s >= 100_000]
    if len(big) >= 2:
        low, high = min(big), max(big)
        ratio = workers[high]["rss_max"] / workers[low]["rss_max"]
        bench._target(
            f"run_worker RSS@{label(high)} / @{label(low)}", ratio, "<= 1.1", ratio <= 1.1
        )
    loads = of("sub_load")
    if loads:
        size = max(loads)
        bench._target(
            f"sub-load@{label(size)} (s)",
            float(loads[size]["seconds"]),
            "-",
            None,
            notes="no goal: the bench's own set-up",
        )


# --- command line (the Django side) -----------------------------------------------------------


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in ("load", "time-none"):
        print(
            "usage: subscriptions.py load N HOT DESTINATION | time-none URL REPS",
            file=sys.stderr,
        )
        return 2
    import django

    django.setup()
    if argv[1] == "load":
        out = load(int(argv[2]), int(argv[3]), argv[4])
    else:
        out = time_none(argv[2], int(argv[3]))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
