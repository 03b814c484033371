"""Running wrk (``--latency``) with bench/lua/bench.lua and reading its report."""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent / "lua" / "bench.lua"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = re.compile(r"^([\d.]+)(us|ms|s|m|h)$")


@dataclass
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and what the server answered."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    statuses: dict[int, int] = field(default_factory=dict)
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    command: str = ""

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["statuses"] = {str(k): v for k, v in sorted(self.statuses.items())}
        return data


def wrk_binary() -> str:
    return shutil.which("wrk") or "/usr/bin/wrk"


def milliseconds(text: str) -> float:
    """A wrk duration such as ``812.00us``, ``4.21ms`` or ``1.02s`` in milliseconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _count(text: str) -> float:
    """A wrk count such as ``1.23k`` or ``45``."""
    text = text.strip()
    scale = {"k": 1e3, "M": 1e6, "G": 1e9}.get(text[-1:], 1.0)
    return float(text[:-1] if scale != 1.0 else text) * scale


def parse(output: str) -> WrkResult:
    """Parse wrk's text report (``--latency``) and the BENCH_STATUS line of bench.lua."""
    percentiles: dict[int, float] = {}
    for match in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.MULTILINE):
        percentiles[int(match.group(1))] = milliseconds(match.group(2))
    done = re.search(r"^\s*(\d+) requests in ([\d.]+\w+),", output, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if not done or not rps or len(percentiles) < 4:
        raise ValueError(f"could not read wrk's report:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    statuses: dict[int, int] = {}
    status_line = re.search(r"^BENCH_STATUS(.*)$", output, re.MULTILINE)
    if status_line:
        for item in status_line.group(1).split():
            code, count = item.split("=")
            statuses[int(code)] = int(count)
    return WrkResult(
        requests=int(done.group(1)),
        seconds=milliseconds(done.group(2)) / 1000,
        rps=float(rps.group(1)),
        p50_ms=percentiles[50],
        p75_ms=percentiles[75],
        p90_ms=percentiles[90],
        p99_ms=percentiles[99],
        statuses=statuses,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=dict(
            zip(("connect", "read", "write", "timeout"), map(int, socket.groups()), strict=True)
        )
        if socket
        else {},
    )


def run(
    url: str,
    *,
    duration: float,
    connections: int,
    threads: int,
    method: str = "POST",
    body: dict[str, Any] | None = None,
    body_template: str | None = None,
    auth: str | None = None,
    edns: int = 1,
    limit: int = 0,
    timeout_s: float = 10.0,
    prefix: str | None = None,
) -> WrkResult:
    """wrk against ``url``; ``limit`` > 0 stops after about that many responses in all."""
    args = [f"method={method}", f"seed={random.randrange(1, 2**31)}"]
    args.append(f"prefix={prefix or format(random.randrange(0x1000, 0xFFFF), '04X')}")
    args.append(f"edns={edns}")
    if body_template is None and body is not None:
        body_template = json.dumps(body, separators=(",", ":"))
    if body_template is not None:
        args.append(f"body={body_template}")
    if auth:
        args.append(f"auth={auth}")
    stopfile = None
    if limit:
        stopfile = Path(tempfile.mkstemp(prefix="wrk-stop-")[1])
        args.append(f"limit={max(1, limit // threads)}")
        args.append(f"stopfile={stopfile}")
    command = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={timeout_s:g}s",
        "--latency",
        "-s",
        str(SCRIPT),
        url,
        "--",
        *args,
    ]
    try:
        stdout, stderr, returncode = _execute(command, duration, threads, stopfile)
    finally:
        if stopfile is not None:
            stopfile.unlink(missing_ok=True)
    if returncode != 0:
        raise RuntimeError(f"wrk exited with {returncode}: {stderr}\n{stdout}")
    result = parse(stdout)
    result.command = " ".join(command[:9])
    return result


def _execute(
    command: list[str], duration: float, threads: int, stopfile: Path | None
) -> tuple[str, str, int]:
    """Run wrk; with a stop file, interrupt it (SIGINT: it still reports) once all stopped."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + duration + 120
        if stopfile is not None:
            while process.poll() is None and time.monotonic() < deadline:
                if len(stopfile.read_text().splitlines()) >= threads:
                    process.send_signal(signal.SIGINT)
                    break
                time.sleep(0.05)
        stdout, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
    except BaseException:
        process.kill()
        process.communicate()
        raise
    return stdout, stderr, process.returncode
