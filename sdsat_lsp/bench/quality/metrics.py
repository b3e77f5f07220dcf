"""Scores of one completion against its reference, and bootstrap intervals over points.

    first-line EM   the first non-blank line of the completion equals the reference's
                    (whitespace at both ends ignored), as in CrossCodeEval / RepoBench
    ES              edit similarity of those first lines: 1 - Levenshtein / max length
                    (rapidfuzz's normalized similarity)
    identifiers     precision and recall of the completion's identifier set against the
                    reference's (whole completion; for `body` the whole block)
    block end       multi-line points: the completion stopped by itself (not the token cap)
                    and has as many non-blank lines as the reference block
    wasted tokens   tokens generated beyond those of the text shown (the stop rule's cut)

Intervals: the 2.5th and 97.5th percentiles of the mean over 2,000 seeded resamples of the
points (percentile bootstrap); differences between two strategies resample the points paired.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Levenshtein

IDENTIFIER = re.compile(r"[^\W\d]\w*")
RESAMPLES = 2000


def first_line(text: str) -> str:
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def _nonblank_lines(text: str) -> int:
    return sum(1 for line in text.split("\n") if line.strip())


@dataclass(frozen=True)
class Score:
    exact: float  # 0 or 1
    edit_similarity: float
    identifier_precision: float | None  # None: the completion names nothing
    identifier_recall: float | None  # None: the reference names nothing
    block_end: float | None  # None: not a multi-line point
    wasted_tokens: int


def score(
    completion: str,
    reference: str,
    *,
    multi_line: bool,
    stopped: bool,
    new_tokens: int,
    shown_tokens: int,
) -> Score:
    predicted, expected = first_line(completion), first_line(reference)
    exact = float(predicted == expected)
    similarity = float(Levenshtein.normalized_similarity(predicted, expected))
    got = set(IDENTIFIER.findall(completion))
    want = set(IDENTIFIER.findall(reference))
    shared = len(got & want)
    block_end = None
    if multi_line:
        same_length = _nonblank_lines(completion) == _nonblank_lines(reference)
        block_end = float(stopped and bool(completion.strip()) and same_length)
    return Score(
        exact=exact,
        edit_similarity=similarity,
        identifier_precision=shared / len(got) if got else None,
        identifier_recall=shared / len(want) if want else None,
        block_end=block_end,
        wasted_tokens=max(new_tokens - shown_tokens, 0),
    )


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


def bootstrap(values: Sequence[float], seed: int = 0) -> Interval:
    """Mean and percentile-bootstrap 95 % interval (NaN-free input; empty gives zeros)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Interval(0.0, 0.0, 0.0, 0)
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, data.size, size=(RESAMPLES, data.size))
    means = data[indices].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(data.mean()), float(low), float(high), int(data.size))


def paired_difference(a: Sequence[float], b: Sequence[float], seed: int = 0) -> Interval:
    """Mean of a - b over the same points, with its paired bootstrap 95 % interval."""
    if len(a) != len(b):
        raise ValueError("paired samples differ in length")
    return bootstrap([x - y for x, y in zip(a, b, strict=True)], seed)
