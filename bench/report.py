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
