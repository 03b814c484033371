"""The benchmark's table (text), its JSON file and the latency chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INSTALL_HINT = ".venv/bin/pip install -e '.[bench]'   (or: .venv/bin/pip install matplotlib)"


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}"


def table(results: dict[str, Any]) -> str:
    """The measurements and the targets, as two aligned text tables."""
    lines = []
    header = (
        f"{'row':<16} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>6}  notes"
    )
    lines.append(header)
    lines.append("-" * len(header))
    for row in results["rows"]:
        lines.append(
            f"{row['name']:<16} {_num(row.get('rps'), 0):>9} {_num(row.get('p50_ms'), 2):>8} "
            f"{_num(row.get('p99_ms'), 2):>8} {_num(row.get('requests'), 0):>9} "
            f"{_num(row.get('errors'), 0):>6}  {row.get('notes', '')}"
        )
    lines.extend(subscriptions_table(results))
    lines.append("")
    header = f"{'target':<34} {'measured':>12} {'goal':>10}  result"
    lines.append(header)
    lines.append("-" * len(header))
    for target in results["targets"]:
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[target.get("passed")]
        lines.append(
            f"{target['name']:<34} {target['measured']:>12} {target['goal']:>10}  {verdict}"
            + (f"  ({target['notes']})" if target.get("notes") else "")
        )
    return "\n".join(lines)


def _mib(value: Any) -> str:
    return "-" if not value else f"{value / 1024**2:,.1f}"


def subscriptions_table(results: dict[str, Any]) -> list[str]:
    """The subscriptions section (bench/subscriptions.py) by population, one line each:
    EDGE-6 and EDGE-4 p50s (ms), the worker's time for changes affecting none (ms, p50 and
    max), the fan-out (seconds to the last notification) and run_worker's highest VmRSS."""
    rows = [r for r in results["rows"] if r.get("kind", "").startswith("sub_")]
    if not rows:
        return []
    by_size: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_size.setdefault(row["size"], {})[row["kind"]] = row

    def p50(row: dict[str, Any] | None) -> str:
        return _num(row.get("p50_ms") if row else None, 1)

    def ms(row: dict[str, Any] | None) -> str:
        if not row:
            return "-"
        return f"{row['p50_ms']:,.1f}/{row['p99_ms']:,.1f}"

    def seconds(row: dict[str, Any] | None) -> str:
        if not row:
            return "-"
        return "not all" if row.get("seconds") is None else f"{row['seconds']:,.1f}"

    header = (
        f"{'live subs':>10} {'load s':>7} {'reg p50':>8} {'reg@c1':>7} {'sub p50':>8} "
        f"{'sub@c1':>7} "
        f"{'none app ms':>13} {'none tai ms':>12} {'fanout+ s':>9} {'fanout- s':>9} "
        f"{'worker MiB':>10}"
    )
    lines = ["", "EEC subscriptions (p50 ms; none: worker ms p50/max; fan-out: s to last)"]
    lines += [header, "-" * len(header)]
    for size in sorted(by_size):
        got = by_size[size]
        load, worker = got.get("sub_load"), got.get("sub_worker")
        lines.append(
            f"{size:>10,} {_num(load.get('seconds') if load else None, 0):>7} "
            f"{p50(got.get('sub_reg')):>8} {p50(got.get('sub_reg_c1')):>7} "
            f"{p50(got.get('sub_create')):>8} {p50(got.get('sub_create_c1')):>7} "
            f"{ms(got.get('sub_none_app')):>13} "
            f"{ms(got.get('sub_none_tai')):>12} {seconds(got.get('sub_fanout_add')):>9} "
            f"{seconds(got.get('sub_fanout_remove')):>9} "
            f"{_mib(worker.get('rss_max') if worker else None):>10}"
        )
    return lines


def save_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def chart(results: dict[str, Any], path: Path) -> bool:
    """Latency (p50, p99) of local matching against inventory size; False without matplotlib."""
    if not have_matplotlib():
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    local = [r for r in results["rows"] if r.get("kind") == "local" and r.get("p50_ms")]
    if not local:
        return False
    local.sort(key=lambda r: r["size"])
    sizes = [r["size"] for r in local]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.plot(sizes, [r["p50_ms"] for r in local], marker="o", label="EDGE-4 local p50")
    ax.plot(sizes, [r["p99_ms"] for r in local], marker="s", label="EDGE-4 local p99")
    floor = next((r for r in results["rows"] if r.get("kind") == "floor"), None)
    if floor and floor.get("p50_ms"):
        ax.axhline(floor["p50_ms"], color="grey", linestyle="--", label="floor p50 (/api/ping)")
        ax.axhline(floor["p99_ms"], color="grey", linestyle=":", label="floor p99 (/api/ping)")
    ax.set_xscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([f"{s:,}" for s in sizes])
    ax.set_xlabel("EESs in the inventory")
    ax.set_ylabel("latency (ms)")
    meta = results.get("meta", {})
    ax.set_title(
        f"ECS Portal EDGE-4 latency vs inventory size\n"
        f"wrk -t{meta.get('threads')} -c{meta.get('connections')} "
        f"-d{meta.get('duration', 0):g}s, gunicorn {meta.get('workers')} workers"
    )
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True
