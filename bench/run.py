"""Run the ECS Portal benchmarks: ``.venv/bin/python bench/run.py [--sizes 1000 --duration 3]``.

A thin launcher: puts the repository on the import path and hands over to bench.runner
(``--help`` lists the options).
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.runner import main as run

    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
