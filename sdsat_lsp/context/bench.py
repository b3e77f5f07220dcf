"""Prompt-building benchmark: a 10,000-line file, an incremental edit, then `build_prompt`.

`bench_prompt_build` is what `sdsat-lsp bench context` runs. Per keystroke it times three
phases and reports medians in milliseconds: applying the LSP change (text, line table,
`Tree.edit`), the incremental re-parse (which `Document.tree` runs lazily on first read), and
`build_prompt` itself. Token counting uses a cheap stand-in counter unless the caller passes
the model tokenizer's; no model is loaded here.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from sdsat_lsp.context.document import DocumentStore, Position, Range, TextChange
from sdsat_lsp.context.prompt import PromptRecipe, build_prompt


def generated_source(lines: int, helpers: int = 0) -> str:
    """Deterministic Python source of about `lines` lines: imports, classes, methods; with
    `helpers`, each class and method also uses a class imported from a helper module."""
    out = [
        "import json",
        "import os",
        "from collections import defaultdict",
        *(f"from .helpers_{k} import Helper{k}" for k in range(helpers)),
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
            *([f"        self.helper = Helper{index % helpers}(store)"] if helpers else []),
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
                *(
                    [f"        Helper{index % helpers}(self.store).step_{method}(value)"]
                    if helpers
                    else []
                ),
                "        return value",
                "",
            ]
        index += 1
    return "\n".join(out[:lines]) + "\n"


def helper_source(k: int) -> str:
    """A helper module the generated file imports from: one documented class."""
    methods = "".join(
        f"    def step_{m}(self, value, attempt={m}):\n"
        f'        """Refresh `value`, attempt {m}."""\n'
        f"        return self.store.refresh(value, attempt)\n\n"
        for m in range(8)
    )
    return (
        f"class Helper{k}:\n"
        f'    """Helper number {k}: wraps a store."""\n\n'
        f"    def __init__(self, store):\n        self.store = store\n\n" + methods
    )


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
    auto_close: bool = True,
    open_documents: int = 0,
    definitions: bool = True,
) -> dict[str, Any]:
    """Median milliseconds to apply a one-character edit, re-parse, and build the prompt.

    Each round types one character of a statement on a new line after a random line (as a
    user would: the statement is finished before the next one starts, so the file stays
    valid Python between statements), applies it as an LSP incremental change, re-parses,
    and builds the prompt at the new cursor. With `auto_close` the edits are an editor's with
    bracket and quote pairing (an opener inserts its closer, typing the closer steps over
    it); without, every prefix of the statement is in the file once, unclosed brackets and
    all, which makes tree-sitter re-parse everything after an open `(` in Python.
    `open_documents` helper modules are open besides it (the file imports one class from each
    and uses them), so snippets and, with `definitions`, cross-file definitions are built.
    """
    count = count_tokens or _approximate_tokens
    store = DocumentStore()
    uri = "file:///bench/big_module.py"
    store.open(uri, "python", generated_source(lines, open_documents), 1)
    document = store.get(uri)
    others = []
    for k in range(open_documents):
        store.open(f"file:///bench/helpers_{k}.py", "python", helper_source(k), 1)
        others.append(store.get(f"file:///bench/helpers_{k}.py"))
    recipe = PromptRecipe(definitions=definitions)
    chooser = random.Random(seed)
    timings: dict[str, list[float]] = {"change": [], "reparse": [], "build": [], "total": []}
    prompt_tokens: list[int] = []
    document.tree  # noqa: B018 - the initial full parse is not what this measures
    version = 1
    position = Position(0, 0)
    statement = ""
    for _ in range(edits):
        if not statement:
            # Start a new statement on a fresh line inside a method body.
            line = chooser.randrange(10, document.line_count - 1)
            while not document.line_text(line).startswith("        "):
                line += 1
            end = Position(line, len(document.line_text(line)))
            version += 1
            store.change(uri, version, [TextChange(Range(end, end), "\n        ")])
            position = Position(line + 1, 8)
            statement = chooser.choice(_STATEMENTS)
        char, statement = statement[0], statement[1:]
        typed = char
        if auto_close and char in _PAIRS:
            typed = char + _PAIRS[char]
        version += 1
        started = time.perf_counter()
        cursor = document.offset_at(position)
        if auto_close and char in _CLOSING and document.text[cursor : cursor + 1] == char:
            pass  # the editor types over the closer it inserted: no change
        else:
            store.change(uri, version, [TextChange(Range(position, position), typed)])
        changed = time.perf_counter()
        document.tree  # noqa: B018 - the lazy incremental re-parse
        parsed = time.perf_counter()
        position = Position(position.line, position.character + 1)
        prompt = build_prompt(
            document,
            position,
            budget_tokens=budget_tokens,
            count_tokens=count,
            fim=fim,
            other_documents=others,
            recipe=recipe,
        )
        built = time.perf_counter()
        timings["change"].append((changed - started) * 1000)
        timings["reparse"].append((parsed - changed) * 1000)
        timings["build"].append((built - parsed) * 1000)
        timings["total"].append((built - started) * 1000)
        prompt_tokens.append(prompt.tokens)
    result: dict[str, Any] = {
        "auto_close": auto_close,
        "open_documents": open_documents,
        "definitions": definitions and open_documents > 0,
        "lines": document.line_count,
        "edits": edits,
        "budget_tokens": budget_tokens,
        "prompt_tokens_median": statistics.median(prompt_tokens),
    }
    for name, values in timings.items():
        result[f"{name}_ms_median"] = round(statistics.median(values), 3)
        result[f"{name}_ms_p90"] = round(sorted(values)[int(len(values) * 0.9)], 3)
    return result


_PAIRS = {"(": ")", "[": "]", "{": "}", "'": "'", '"': '"'}
_CLOSING = frozenset(")]}'\"")
_STATEMENTS = (
    "total = sum(value for value in self.cache[key])",
    "self.store.write(key, json.dumps(value))",
    "retries -= 1",
    "request.headers['x-retry'] = str(retries)",
)


if __name__ == "__main__":
    import json

    print(json.dumps([bench_prompt_build(), bench_prompt_build(auto_close=False)], indent=2))
