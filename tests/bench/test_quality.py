"""bench quality without a model: points cut from real code, scores, intervals, the ring
buffer reimplemented from llama.vscode, the HumanEval sandbox, the data sets on disk."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable

import pytest

from sdsat_lsp.bench.quality.config import QualityConfig
from sdsat_lsp.bench.quality.humaneval import run_program
from sdsat_lsp.bench.quality.metrics import bootstrap, first_line, paired_difference, score
from sdsat_lsp.bench.quality.points import SetFiles, candidates, cut_points, load_set
from sdsat_lsp.bench.quality.run import complete_points, select_points
from sdsat_lsp.bench.quality.sets import SETS, QualityDataMissing, set_dir, source_files
from sdsat_lsp.bench.quality.strategies import (
    CHUNK_SEPARATOR,
    RING_CHUNK_SIZE,
    RING_N_CHUNKS,
    RingBuffer,
    ring_history,
    trim_front,
)
from sdsat_lsp.config import DEFAULT_MODEL
from sdsat_lsp.context import Document
from sdsat_lsp.model.registry import find_spec

MODULE = '''import os

from .store import Store


def load(path, retries=3):
    """Load the file."""
    store = Store(os.path.dirname(path))
    value = store.read(path)
    return value


class Cache:
    def get(self, key):
        if key in self.items:
            return self.items[key]
        return None
'''
STORE = "class Store:\n    def read(self, path):\n        return path\n"


def _files() -> SetFiles:
    documents = [
        Document.create("file:///q/pkg/src/pkg/module.py", "python", MODULE),
        Document.create("file:///q/pkg/src/pkg/store.py", "python", STORE),
    ]
    return SetFiles(SETS[0], documents)


def test_next_line_points_leave_the_indentation_and_keep_the_rest() -> None:
    document = _files().documents[0]
    found = candidates(document, "next_line", random.Random(0))
    references = [reference for _, _, reference, _ in found]
    assert "store = Store(os.path.dirname(path))" in references
    assert '"""Load the file."""' not in references  # docstrings are not statements
    assert "if key in self.items:" not in references  # block headers are not asked for
    text, cursor, _, _ = found[references.index("value = store.read(path)")]
    assert text[:cursor].endswith("store = Store(os.path.dirname(path))\n    ")
    assert text[cursor:].startswith("\n    return value\n")
    assert text == MODULE.replace("value = store.read(path)", "")


def test_body_points_remove_the_body_after_the_header() -> None:
    document = _files().documents[0]
    found = {
        ref: (text, cursor)
        for text, cursor, ref, _ in candidates(document, "body", random.Random(0))
    }
    reference = '    """Load the file."""\n    store = Store(os.path.dirname(path))\n' + (
        "    value = store.read(path)\n    return value"
    )
    text, cursor = found[reference]
    assert text[:cursor].endswith("def load(path, retries=3):")
    assert text[cursor:].startswith("\n\n\nclass Cache:")


def test_brace_body_points_keep_the_closer() -> None:
    source = "function add(a, b) {\n  const sum = a + b;\n  return sum;\n}\n\nadd(1, 2);\n"
    document = Document.create("file:///q/x/src/add.js", "javascript", source)
    [(text, cursor, reference, _)] = candidates(document, "body", random.Random(0))
    assert reference == "  const sum = a + b;\n  return sum;"
    assert text == "function add(a, b) {\n}\n\nadd(1, 2);\n"
    assert text[:cursor] == "function add(a, b) {"


def test_rest_of_line_points_cut_after_a_non_word_character() -> None:
    document = _files().documents[0]
    for text, cursor, reference, line in candidates(document, "rest_of_line", random.Random(0)):
        original = MODULE.split("\n")[line]
        assert text[:cursor].endswith(original[: len(original) - len(reference)].lstrip()[-1])
        assert original.endswith(reference)
        assert not text[cursor - 1].isalnum() and text[cursor - 1] != "_"
        assert text[cursor] == "\n"  # the rest of the line is gone


def test_points_are_seeded_and_mark_cross_file_references() -> None:
    files = _files()
    first = cut_points(files, 10, seed=3)
    assert [p.name for p in first] == [p.name for p in cut_points(files, 10, seed=3)]
    assert {p.kind for p in first} == {"next_line", "body", "rest_of_line"}
    store_line = next(p for p in first if p.reference == "store = Store(os.path.dirname(path))")
    assert store_line.cross_file  # Store comes from the open store.py
    assert not next(p for p in first if p.reference == "return value").cross_file
    fewer = cut_points(files, 1, seed=3)
    for kind in ("next_line", "body", "rest_of_line"):
        kind_first = [p.name for p in first if p.kind == kind]
        assert [p.name for p in fewer if p.kind == kind] == kind_first[:1]


def test_scores() -> None:
    exact = score("\n    return value\n", "return value", multi_line=False, stopped=True,
                  new_tokens=5, shown_tokens=3)  # fmt: skip
    assert exact.exact == 1.0 and exact.edit_similarity == 1.0 and exact.wasted_tokens == 2
    assert exact.identifier_precision == exact.identifier_recall == 1.0
    assert exact.block_end is None
    near = score("return values", "return value", multi_line=False, stopped=True,
                 new_tokens=3, shown_tokens=3)  # fmt: skip
    assert near.exact == 0.0 and 0.9 < near.edit_similarity < 1.0
    assert near.identifier_precision == 0.5 and near.identifier_recall == 0.5
    empty = score("", "x = 1", multi_line=True, stopped=True, new_tokens=2, shown_tokens=0)
    assert empty.identifier_precision is None and empty.block_end == 0.0
    body = score("a = 1\nreturn a", "a = 2\n\nreturn a", multi_line=True, stopped=True,
                 new_tokens=6, shown_tokens=6)  # fmt: skip
    assert body.block_end == 1.0
    capped = score("a = 1\nreturn a", "a = 2\nreturn a", multi_line=True, stopped=False,
                   new_tokens=6, shown_tokens=6)  # fmt: skip
    assert capped.block_end == 0.0
    assert first_line("\n\n  x\ny") == "x"


def test_bootstrap_intervals() -> None:
    values = [1.0] * 30 + [0.0] * 70
    interval = bootstrap(values, seed=1)
    assert interval.mean == pytest.approx(0.3)
    assert interval.low < 0.3 < interval.high
    assert 0.1 < interval.high - interval.low < 0.25
    assert bootstrap(values, seed=1) == interval
    assert bootstrap([], seed=1).n == 0
    wider = bootstrap(values[::10], seed=1)
    assert wider.high - wider.low > interval.high - interval.low
    same = paired_difference(values, values)
    assert same.mean == same.low == same.high == 0.0
    better = paired_difference([1.0] * 100, values)
    assert better.low > 0.5


def test_ring_buffer_follows_llama_vscode() -> None:
    ring = RingBuffer(random.Random(0))
    lines = [f"line {i}" for i in range(200)]
    ring.pick_chunk(lines, do_evict=True)
    [chunk] = ring.queued
    assert len(chunk) == RING_CHUNK_SIZE // 2
    ring.pick_chunk(["a", "b"], do_evict=True)  # too small
    assert len(ring.queued) == 1
    ring.pick_chunk(chunk, do_evict=True)  # the same text is held already
    assert len(ring.queued) == 1
    near = [*chunk[:-1], "changed"]  # Jaccard 30/32 > 0.9: evicts the old one
    ring.pick_chunk(near, do_evict=True)
    assert ring.queued == [near]
    for start in range(0, 40 * 40, 40):
        ring.pick_chunk([f"file {start} line {i}" for i in range(10)], do_evict=True)
    assert len(ring.queued) == 16
    ring.update_all()
    assert len(ring.chunks) == RING_N_CHUNKS and not ring.queued
    assert ring.chunks[-1][0] == "file 1560 line 0"  # the newest kept


def test_ring_history_is_seeded_and_uses_the_same_language() -> None:
    files = _files()
    other_language = Document.create("file:///q/pkg/src/pkg/x.js", "javascript", "var a = 1;\n" * 9)
    document = files.documents[0]
    others = [files.documents[1], other_language]
    ring = ring_history(document, 5, others, "seed")
    assert ring.texts() == ring_history(document, 5, others, "seed").texts()
    assert not any("var a" in text for text in ring.texts())
    assert any("class Store" in text for text in ring.texts())


def _trimmed_by_loop(lines: list[str], count: Callable[[str], int], left: int) -> list[str]:
    """The ring's first trimming loop (a whole count per step), kept as the reference."""
    while lines and count("\n".join(lines)) > left:
        lines = lines[max(1, len(lines) // 16) :]
    return lines


def _ring_lines(code_set_index: int, file_index: int) -> list[str]:
    files = load_set(SETS[code_set_index])
    document = files.documents[file_index % len(files.documents)]
    others = [other for other in files.documents if other is not document]
    ring = ring_history(document, document.line_count // 2, others, f"trim {file_index}")
    return "".join(CHUNK_SEPARATOR + text for text in ring.texts()).split("\n")


def _assert_trims_agree(lines: list[str], count: Callable[[str], int]) -> None:
    """At every budget where the loop's cut moves (each of its tails' counts, and one less)."""
    counts: dict[str, int] = {}

    def cached(text: str) -> int:
        if text not in counts:
            counts[text] = count(text)
        return counts[text]

    tails, length = [], len(lines)
    while length:
        tails.append(cached("\n".join(lines[len(lines) - length :])))
        length -= max(1, length // 16)
    for left in sorted({-1, 0, *tails, *(c - 1 for c in tails)}):
        fits = functools.partial(lambda budget, text: cached(text) <= budget, left)
        assert trim_front(lines, fits) == _trimmed_by_loop(lines, cached, left), left


def test_ring_trimming_cuts_where_the_loop_did() -> None:
    lines = _ring_lines(0, 3)
    assert len(lines) > 200  # a full ring: many steps to search
    _assert_trims_agree(lines, lambda text: len(text.encode("utf-8")) // 3)
    _assert_trims_agree(["only"], len)
    assert trim_front(lines, lambda text: False) == []


@pytest.mark.default_model
def test_ring_trimming_cuts_where_the_loop_did_on_the_model_tokenizer() -> None:
    """Real files of every set, counted by the default model's BPE: the binary search relies
    on a tail never having more tokens than a longer tail."""
    from tokenizers import Tokenizer

    spec = find_spec(DEFAULT_MODEL)
    assert spec is not None
    tokenizer = Tokenizer.from_file(str(spec.cache_path() / "tokenizer.json"))
    for code_set_index in range(len(SETS)):
        for file_index in (1, 7):
            _assert_trims_agree(
                _ring_lines(code_set_index, file_index),
                lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids),
            )


def test_humaneval_sandbox() -> None:
    assert run_program("assert 1 + 1 == 2\n") == (True, "")
    passed, error = run_program("assert 1 + 1 == 3\n")
    assert not passed and error == "AssertionError"
    passed, error = run_program("import socket\nsocket.create_connection(('127.0.0.1', 80))\n")
    assert not passed and "network disabled" in error
    passed, error = run_program("while True:\n    pass\n", timeout_s=1)
    assert not passed and "timed out" in error


def test_complete_points_drops_a_part_done_point() -> None:
    rows = [type("R", (), {"point": "a", "strategy": s})() for s in ("prefix", "ours")] + [
        type("R", (), {"point": "b", "strategy": "prefix"})()
    ]
    kept = complete_points(rows, ("prefix", "ours"))  # type: ignore[arg-type]
    assert [r.point for r in kept] == ["a", "a"]


def test_sets_are_fetched_with_their_licences() -> None:
    """`make quality-data` ran (make test depends on it): every set is on disk with its
    licence, and select_points finds 300 + 100 + 100 points as the full run asks."""
    for code_set in SETS:
        try:
            files = source_files(code_set)
        except QualityDataMissing as error:
            pytest.fail(str(error))
        assert files
        licence = (set_dir(code_set) / "LICENSE").read_text(encoding="utf-8")
        assert ("Permission is hereby granted" if code_set.licence == "MIT" else "Apache") in (
            licence
        )
    points = select_points(QualityConfig())
    counts = {language: sum(p.language == language for p in points) for language in
              ("python", "javascript", "typescript")}  # fmt: skip
    assert counts["python"] == 300
    assert counts["typescript"] == 100
    assert counts["javascript"] >= 90  # express has few short function bodies
