"""Completion points cut from a set's files, deterministically (seeded): the kinds of
context/completion_points.py (next_line, body, rest_of_line), each inside a function or method
body found by tree-sitter.

The document the editor holds is the file with that text removed; the other files of the same
set are the open documents. The reference's identifiers that the file imports from an open
document mark a point as `cross_file` (where definitions from other files can help).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from sdsat_lsp.bench.quality.sets import CodeSet, source_files
from sdsat_lsp.context.completion_points import KINDS, candidates
from sdsat_lsp.context.definitions import bindings, resolve
from sdsat_lsp.context.document import Document

IDENTIFIER = re.compile(r"[^\W\d]\w*")


@dataclass(frozen=True)
class Point:
    name: str  # set/relative/path.py:line:kind
    set_name: str
    language: str
    kind: str
    uri: str
    text: str  # the document as the editor holds it
    cursor: int  # offset in `text`
    reference: str  # what the file had there
    cross_file: bool = False


@dataclass(frozen=True)
class SetFiles:
    code_set: CodeSet
    documents: list[Document]  # every file of the set, as open documents


def load_set(code_set: CodeSet) -> SetFiles:
    root = source_files(code_set)
    documents = [
        Document.create(path.as_uri(), code_set.language, path.read_text(encoding="utf-8"))
        for path in root
    ]
    return SetFiles(code_set, documents)


def cross_file_names(document: Document, others: list[Document]) -> set[str]:
    """Names the document imports from other open documents (and `module.attr` owners)."""
    names = set()
    for binding in bindings(document, document.line_count + 1):
        if resolve(document, binding.module, others) is not None:
            names.add(binding.name.split(".")[0])
        elif binding.symbol is not None:
            joined = binding.module + ("" if binding.module.endswith(".") else ".") + binding.symbol
            if resolve(document, joined, others) is not None:
                names.add(binding.name)
    return names


def cut_points(files: SetFiles, per_kind: int, seed: int) -> list[Point]:
    """`per_kind` points of each kind, spread over the set's files, the same for a seed; the
    points of a smaller `per_kind` are the first of a larger one's."""
    rng = random.Random(f"{seed}:{files.code_set.name}")
    points: list[Point] = []
    for kind in KINDS:
        pool: list[Point] = []
        for document in files.documents:
            others = [d for d in files.documents if d.uri != document.uri]
            imported = cross_file_names(document, others)
            relative = _relative(document.uri, files.code_set.name)
            for text, cursor, reference, line in candidates(document, kind, rng):
                used = set(IDENTIFIER.findall(reference))
                pool.append(
                    Point(
                        name=f"{files.code_set.name}/{relative}:{line + 1}:{kind}",
                        set_name=files.code_set.name,
                        language=files.code_set.language,
                        kind=kind,
                        uri=document.uri,
                        text=text,
                        cursor=cursor,
                        reference=reference,
                        cross_file=bool(used & imported),
                    )
                )
        rng.shuffle(pool)
        points += pool[:per_kind]  # shuffled order: a smaller cut is a prefix of a larger
    return points


def _relative(uri: str, set_name: str) -> str:
    marker = f"/{set_name}/src/"
    return uri.split(marker, 1)[1] if marker in uri else uri.rsplit("/", 1)[-1]
