"""Fail if the apps' modules import each other in a cycle.

Builds the import graph of the six apps with grimp, which reads every import statement,
including those inside functions and under ``if TYPE_CHECKING:``, so a cycle that a lazy
import hides at start-up still counts. Finds the strongly connected components of that graph
(Tarjan) and prints, for each one with more than one module, its modules and one cycle
through them with the line of each import. Exits 1 if there is any, else prints
``no import cycles among N modules`` and exits 0.

    .venv/bin/python scripts/check_import_cycles.py
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterable, Mapping
from itertools import pairwise
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
APPS = ("ecsportal", "ecscore", "provisioning", "partners", "access", "notifications")


def import_graph(packages: Iterable[str]) -> grimp.ImportGraph:
    """The import graph of ``packages`` (found from the repository root), without a cache."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    first, *others = packages
    return grimp.build_graph(first, *others, cache_dir=None)


def strongly_connected(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``edges`` (iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(edges[root])))]
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def one_cycle(start: str, members: set[str], edges: Mapping[str, set[str]]) -> list[str]:
    """A shortest import path from ``start`` back to itself inside one component."""
    came_from: dict[str, str] = {}
    queue = deque(sorted(edges[start] & members))
    for first in queue:
        came_from[first] = start
    while queue:
        node = queue.popleft()
        if node == start:
            break
        for successor in sorted(edges[node] & members):
            if successor not in came_from:
                came_from[successor] = node
                queue.append(successor)
    path = [start]
    node = came_from[start]
    while node != start:
        path.append(node)
        node = came_from[node]
    path.append(start)
    return path[::-1]


def import_lines(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    return ", ".join(f"l.{d['line_number']}: {d['line_contents']}" for d in details) or "?"


def main() -> int:
    graph = import_graph(APPS)
    modules = graph.modules
    edges = {m: set(graph.find_modules_directly_imported_by(m)) & modules for m in modules}
    cycles = [c for c in strongly_connected(edges) if len(c) > 1]
    for number, component in enumerate(cycles, 1):
        print(f"import cycle {number}: {len(component)} modules: {', '.join(component)}")
        path = one_cycle(component[0], set(component), edges)
        for importer, imported in pairwise(path):
            print(f"  {importer} -> {imported}  ({import_lines(graph, importer, imported)})")
    if cycles:
        print(f"{len(cycles)} import cycle(s) among {len(modules)} modules")
        return 1
    print(f"no import cycles among {len(modules)} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
