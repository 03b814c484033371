"""A failing chaos test's report carries the run's summary, and the first one every server's
log (the run is shared by the module's tests; its logs would repeat otherwise)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.chaos.run import ChaosRun

RUN: pytest.StashKey[ChaosRun] = pytest.StashKey()
LOGS_SHOWN: pytest.StashKey[bool] = pytest.StashKey()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    report = yield
    run = item.config.stash.get(RUN, None)
    if report.failed and run is not None:
        logs = run.logs()
        report.sections.append(("chaos summary", logs.get("summary") or run.summary()))
        if not item.config.stash.get(LOGS_SHOWN, False):
            item.config.stash[LOGS_SHOWN] = True
            for name, text in logs.items():
                if name != "summary":
                    report.sections.append((f"chaos log: {name} (tail)", text))
    return report
