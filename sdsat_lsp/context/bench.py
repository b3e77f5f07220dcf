"""Prompt-building benchmark: a 10,000-line file, an incremental edit, then `build_prompt`.

`bench_prompt_build` is what `sdsat-lsp bench context` runs. It times, per edit, the document
update (text, line table, `Tree.edit` and incremental re-parse) and the prompt build separately,
and reports medians in milliseconds. Token counting uses a cheap stand-in counter unless the
caller passes the model tokenizer's; no model is loaded here.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from sdsat_lsp.context.document import DocumentStore, Position, Range, TextChange
from sdsat_lsp.context.prompt import build_prompt


def generated_source(lines: int) -> str:
    """Deterministic Python source of about `lines` lines: imports, classes, methods."""
    out = [
        "import json",
        "import os",
        "from collections import defaultdict",
        "",
    ]
    index = 0
    while len(out) < lines:
        out += [
            "",
            f"class Service{index}:",
            f'    """Service number {index}."""',
            "",
            "    def __init__(self, store):",
            "        self.store = store",
            "        self.cache = defaultdict(list)",
            "",
        ]
        for method in range(6):
            out += [
                f"    def handle_{method}(self, request, retries={method}):",
                f"        key = os.path.join(request.path, '{index}-{method}')",
                "        if key in self.cache:",
                "            return self.cache[key]",
                "        value = json.loads(self.store.read(key))",
                "        for attempt in range(retries):",
                "            value = self.store.refresh(value, attempt)",
                "        self.cache[key].append(value)",
                "        return value",
                "",
            ]
        index += 1
    return "\n".join(out[:lines]) + "\n"


def _approximate_tokens(text: str) -> int:
    return len(text.encode("utf-8")) // 3 + 1


def bench_prompt_build(
    *,
    lines: int = 10_000,
    edits: int = 200,
    budget_tokens: int = 1024,
    fim: bool = True,
    count_tokens: Callable[[str], int] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Median milliseconds to apply a one-character edit and to build the prompt after it.

    Each round types one character at the end of a random line (as a user would), applies it
    as an LSP incremental change, then builds the prompt at the new cursor.
    """
    count = count_tokens or _approximate_tokens
    store = DocumentStore()
    uri = "file:///bench/big_module.py"
    store.open(uri, "python", generated_source(lines), 1)
    document = store.get(uri)
    chooser = random.Random(seed)
    edit_ms: list[float] = []
    build_ms: list[float] = []
    prompt_tokens: list[int] = []
    for version in range(2, edits + 2):
        line = chooser.randrange(document.line_count - 1)
        position = Position(line, len(document.line_text(line)))
        change = TextChange(Range(position, position), chooser.choice("abcxyz_(:"))
        started = time.perf_counter()
        store.change(uri, version, [change])
        edited = time.perf_counter()
        prompt = build_prompt(
            document,
            Position(line, position.character + 1),
            budget_tokens=budget_tokens,
            count_tokens=count,
            fim=fim,
        )
        done = time.perf_counter()
        edit_ms.append((edited - started) * 1000)
        build_ms.append((done - edited) * 1000)
        prompt_tokens.append(prompt.tokens)
    return {
        "lines": document.line_count,
        "edits": edits,
        "budget_tokens": budget_tokens,
        "edit_reparse_ms_median": statistics.median(edit_ms),
        "build_prompt_ms_median": statistics.median(build_ms),
        "total_ms_median": statistics.median(e + b for e, b in zip(edit_ms, build_ms, strict=True)),
        "build_prompt_ms_p90": sorted(build_ms)[int(len(build_ms) * 0.9)],
        "prompt_tokens_median": statistics.median(prompt_tokens),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(bench_prompt_build(), indent=2))
