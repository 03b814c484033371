"""The soak (bench/soak.py), short: 20 s of mixed traffic while a partner flaps.

It needs what production mode needs -- PostgreSQL and Redis -- so it runs in the
PostgreSQL + Redis pass of the suite and is skipped on the embedded default.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")),
    reason="the soak runs production mode: PostgreSQL and Redis",
)


def test_short_soak_loses_nothing_and_never_fails_an_eec():
    done = subprocess.run(
        [
            sys.executable,
            "bench/soak.py",
            "--duration",
            "20",
            "--phase",
            "2",
            "--threads",
            "6",
            "--max-memory-growth",
            "1.5",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(done.stdout[-4000:])
    summary = json.loads((REPO / "bench" / "results" / "soak.json").read_text())
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert all(summary["checks"].values())
    # The partner really flapped: it was called in every mode.
    assert set(summary["partner_calls_by_mode"]) == {"up", "slow", "down", "garbage"}
    assert summary["audit"]["outbound_rows"] == summary["audit"]["roaming_requests"] > 0
