"""Per-language fixture files: the prompt pieces and shape at the <CURSOR> of each.

Budgets are small enough that the prefix window starts after the file's imports and the
enclosing headers, so those come back as their own pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sdsat_lsp.context import Shape, build_prompt

from .helpers import count_words, open_fixture


@dataclass(frozen=True)
class Expected:
    shape: Shape
    imports: str
    signatures: str
    window_first_line: int
    budget: int = 250
    pieces: tuple[str, ...] = (
        "header",
        "imports",
        "signatures",
        "prefix_window",
        "suffix_window",
    )


EXPECTED = {
    "inventory.py": Expected(
        Shape.MULTI_LINE,
        "import json\nfrom collections import defaultdict\nfrom dataclasses import dataclass\n\n",
        "class Inventory:\n    def remove(self, sku: str, quantity: int) -> Item:\n",
        window_first_line=32,
    ),
    "router.js": Expected(
        Shape.MULTI_LINE,
        'import express from "express";\nimport { readFile } from "node:fs/promises";\n'
        'import path from "node:path";\n\n',
        "export class Router {\n",
        window_first_line=16,
    ),
    "cache.ts": Expected(
        Shape.SINGLE_LINE,
        'import { EventEmitter } from "events";\nimport type { Clock } from "./clock";\n\n',
        "export class TtlCache<K, V> extends EventEmitter {\n",
        window_first_line=16,
    ),
    "Counter.tsx": Expected(
        Shape.SINGLE_LINE,
        'import React, { useState } from "react";\nimport { Button } from "./Button";\n\n',
        "export function Counter({ start, step = 1 }: Props) {\n",
        window_first_line=16,
    ),
    "server.go": Expected(
        Shape.MULTI_LINE,
        'package server\nimport (\n\t"encoding/json"\n\t"net/http"\n\t"sync"\n)\n\n',
        "",  # the window starts just before `func (s *Store) Handle`: its header is inside
        window_first_line=16,
        pieces=("header", "imports", "prefix_window", "suffix_window"),
    ),
    "queue.rs": Expected(
        Shape.MULTI_LINE,
        "use std::collections::VecDeque;\nuse std::fmt;\n\n",
        # drain_while's header straddles the window start, so only the impl is repeated.
        "impl<T: Clone> BoundedQueue<T> {\n",
        window_first_line=32,
    ),
    "ring.c": Expected(
        Shape.SINGLE_LINE,
        "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\n",
        "int ring_push(ring_t *ring, int value) {\n",
        window_first_line=32,
    ),
    "matrix.cpp": Expected(
        Shape.SINGLE_LINE,  # at the end of a `// ` comment: the comment may go on
        "#include <cstddef>\n#include <stdexcept>\n#include <vector>\nusing std::size_t;\n\n",
        "namespace linalg {\nclass Matrix {\n    Matrix multiply(const Matrix &other) const {\n",
        window_first_line=32,
    ),
    "Ledger.java": Expected(
        Shape.SINGLE_LINE,
        "package com.example.ledger;\nimport java.math.BigDecimal;\n"
        "import java.util.ArrayList;\nimport java.util.List;\n\n",
        "public class Ledger {\n",
        window_first_line=16,
    ),
    # Ruby has no grammar here: plain-text context from line patterns and indentation.
    "deploy.rb": Expected(
        Shape.SINGLE_LINE,
        'require "json"\nrequire "net/http"\n\n',
        "module Deploy\n  class Release\n    def rollout\n      @hosts.each do |host|\n",
        window_first_line=16,
        budget=170,
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_prompt(name: str) -> None:
    expected = EXPECTED[name]
    document, position = open_fixture(name)
    prompt = build_prompt(
        document, position, budget_tokens=expected.budget, count_tokens=count_words, fim=True
    )
    pieces = {piece.name: piece.text for piece in prompt.pieces}

    assert prompt.shape is expected.shape, prompt.reason
    assert tuple(piece.name for piece in prompt.pieces) == expected.pieces
    assert pieces["header"] == f"{document.spec.comment} Path: repo/src/{name}\n"
    assert pieces["imports"] == expected.imports
    assert pieces.get("signatures", "") == expected.signatures
    assert document.line_of(prompt.window_start) == expected.window_first_line
    cursor = document.offset_at(position)
    assert pieces["prefix_window"] + prompt.stop.lead == document.text[prompt.window_start : cursor]
    assert not prompt.stop.lead.strip()
    assert pieces["prefix_window"] == pieces["prefix_window"].rstrip()
    assert prompt.prefix.endswith(pieces["prefix_window"])
    assert document.text[cursor:].startswith(prompt.suffix)
    assert prompt.suffix.endswith("\n")  # the suffix window ends on a line end
    assert prompt.tokens <= expected.budget
    assert count_words(prompt.prefix) + count_words(prompt.suffix) <= expected.budget


def test_every_fixture_is_checked() -> None:
    from .helpers import FIXTURES

    assert {path.name.removesuffix(".txt") for path in FIXTURES.iterdir()} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_without_fim_has_no_suffix_and_a_longer_window(name: str) -> None:
    expected = EXPECTED[name]
    document, position = open_fixture(name)
    with_fim = build_prompt(
        document, position, budget_tokens=expected.budget, count_tokens=count_words, fim=True
    )
    without = build_prompt(
        document, position, budget_tokens=expected.budget, count_tokens=count_words, fim=False
    )
    assert without.suffix == ""
    assert "suffix_window" not in [piece.name for piece in without.pieces]
    assert without.window_start <= with_fim.window_start
    # The stop rule still knows what follows the cursor.
    assert without.stop.next_lines == with_fim.stop.next_lines
