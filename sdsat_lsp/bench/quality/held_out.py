"""Held-out completion points for `sdsat-lsp train evaluate --quality-set`: the quality sets'
points (points.py), spread evenly over sets and kinds, with where they came from.

The sets are packages no training run here read: not the standard library, and not installed
in this environment (`installed_here` checks the Python ones at run time).
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sdsat_lsp.bench.quality.points import KINDS, Point, cut_points, load_set
from sdsat_lsp.bench.quality.sets import SETS, CodeSet, set_dir


class UnknownSet(ValueError):
    """A set name that sets.py does not declare; the message lists the known ones."""


def find_sets(names: Sequence[str]) -> list[CodeSet]:
    known = {code_set.name: code_set for code_set in SETS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UnknownSet(f"unknown quality set {', '.join(unknown)} (one of {', '.join(known)})")
    return [known[name] for name in names]


def held_out_points(
    names: Sequence[str], count: int, seed: int = 0
) -> tuple[list[Point], dict[str, Any]]:
    """`count` points taken in turn from each (set, kind) pool — the same for a seed — and a
    description of their source: sets with version, licence and files, kinds, count.
    Raises QualityDataMissing (sets.py) when a set was not fetched."""
    code_sets = find_sets(names)
    per_pool = -(-count // (len(code_sets) * len(KINDS)))
    pools: list[list[Point]] = []
    files: dict[str, int] = {}
    for code_set in code_sets:
        loaded = load_set(code_set)
        files[code_set.name] = len(loaded.documents)
        cut = cut_points(loaded, per_pool, seed)
        pools += [[point for point in cut if point.kind == kind] for kind in KINDS]
    points: list[Point] = []
    for turn in range(per_pool):
        points += [pool[turn] for pool in pools if turn < len(pool)]
    points = points[:count]
    used = Counter(point.set_name for point in points)
    source = {
        "sets": [
            {
                "name": code_set.name,
                "package": f"{code_set.registry}:{code_set.spec}",
                "language": code_set.language,
                "licence": code_set.licence,
                "files": files[code_set.name],
                "points": used[code_set.name],
                "installed_here": _installed(code_set),
                "path": str(set_dir(code_set)),
            }
            for code_set in code_sets
        ],
        "kinds": dict(Counter(point.kind for point in points)),
        "points": len(points),
        "cross_file_points": sum(point.cross_file for point in points),
        "seed": seed,
        "names": [point.name for point in points],
    }
    return points, source


def _installed(code_set: CodeSet) -> bool | None:
    """Whether this environment can import the package (None: not a Python set)."""
    if code_set.registry != "pypi":
        return None
    return importlib.util.find_spec(code_set.package) is not None


def prefix(point: Point) -> str:
    """The document's text before the cursor: what a prefix-only prompt is cut from."""
    return point.text[: point.cursor]
