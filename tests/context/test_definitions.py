"""Cross-file definitions: imports resolved to open documents, the names the code uses, the
prompt piece within its budget, and a prefix that stays stable while typing."""

from __future__ import annotations

from sdsat_lsp.context import (
    Document,
    Position,
    Prompt,
    PromptRecipe,
    Range,
    TextChange,
    build_prompt,
)
from sdsat_lsp.context.definitions import bindings, query_text, resolve, used_definitions

from .helpers import count_words, open_text, open_with_cursor

STORE = '''"""Storage."""


class Store:
    """Keeps values by key.

    Thread-safe.
    """

    def __init__(self, root: str) -> None:
        self.root = root

    def read(self, key: str) -> bytes:
        """The value of `key`."""
        return b""

    def _private(self) -> None:
        pass


def read_json(path: str) -> dict:
    """Parse the JSON file at `path`."""
    return {}


def unused_helper() -> None:
    pass
'''

CODEC = '''def encode(value: object) -> bytes:
    """Serialise `value`."""
    return b""
'''

SERVICE = """import os

from . import codec
from .store import Store, read_json, unused_helper


def handle(path):
    store = Store(os.getcwd())
    config = read_json(path)
    payload = codec.encode(config)
    if not payload:
        return None
    size = len(payload)
    name = os.path.basename(path)
    total = size + len(name)
    print(total)
    <CURSOR>
"""


def _package() -> tuple[Document, Position, list[Document]]:
    store = open_text(STORE, uri="file:///repo/pkg/store.py")
    codec = open_text(CODEC, uri="file:///repo/pkg/codec.py")
    unrelated = open_text("def encode():\n    pass\n", uri="file:///repo/other/codec.py")
    document, position = open_with_cursor(SERVICE, uri="file:///repo/pkg/service.py")
    return document, position, [store, codec, unrelated]


def test_imports_resolve_to_open_documents_by_path() -> None:
    document, _, others = _package()
    found = {b.name: b for b in bindings(document, document.line_count)}
    assert found["Store"].module == ".store" and found["Store"].symbol == "Store"
    assert found["os"].symbol is None
    store = resolve(document, ".store", others)
    assert store is not None and store.uri == "file:///repo/pkg/store.py"
    codec = resolve(document, ".codec", others)
    assert codec is not None and codec.uri == "file:///repo/pkg/codec.py"  # not other/codec.py
    assert resolve(document, "os", others) is None
    assert resolve(document, "pkg.store", others) is store


def test_definitions_of_the_names_the_code_uses() -> None:
    document, position, others = _package()
    found = used_definitions(document, position.line, others)
    names = [d.name for d in found]
    assert set(names) == {"Store", "read_json", "encode"}  # not unused_helper
    assert names[0] == "encode"  # the most recent use first
    store = next(d for d in found if d.name == "Store")
    assert store.text.startswith('class Store:\n    """Keeps values by key.')
    assert "    def read(self, key: str) -> bytes:" in store.text
    assert "_private" not in store.text and "return b" not in store.text
    read_json = next(d for d in found if d.name == "read_json")
    assert read_json.text.splitlines()[:2] == [
        "def read_json(path: str) -> dict:",
        '    """Parse the JSON file at `path`."""',
    ]


def test_definitions_piece_is_commented_budgeted_and_optional() -> None:
    document, position, others = _package()
    kwargs = {"budget_tokens": 800, "count_tokens": count_words, "fim": False}
    prompt = build_prompt(document, position, other_documents=others, **kwargs)
    pieces = [p for p in prompt.pieces if p.name == "definitions"]
    assert {p.source for p in pieces} == {"file:///repo/pkg/store.py", "file:///repo/pkg/codec.py"}
    assert sum(p.tokens for p in pieces) <= prompt.budget.definitions == 120
    text = "".join(p.text for p in pieces)
    assert all(line.startswith("#") for line in text.splitlines())
    assert "# Definitions from repo/pkg/codec.py:" in text
    assert prompt.prefix.index("Definitions from") < prompt.prefix.index("def handle(path):")
    without = build_prompt(
        document,
        position,
        other_documents=others,
        recipe=PromptRecipe(definitions=False),
        **kwargs,
    )
    assert "definitions" not in [p.name for p in without.pieces]
    assert without.budget.definitions == 0


def test_javascript_and_typescript_imports() -> None:
    route = open_text(
        "/**\n * A route.\n */\nfunction Route(path) {\n  this.path = path;\n}\n"
        "module.exports = Route;\n",
        "javascript",
        "file:///app/lib/router/route.js",
    )
    document, position = open_with_cursor(
        "var Route = require('./route');\n\nfunction add(path) {\n"
        "  var route = new Route(path);\n  <CURSOR>\n}\n",
        "javascript",
        "file:///app/lib/router/index.js",
    )
    found = used_definitions(document, position.line, [route])
    assert [d.name for d in found] == ["Route"]
    assert found[0].text.startswith("/**\n * A route.\n */\nfunction Route(path) {")

    observable = open_text(
        "export class Observable<T> {\n  subscribe(next: (v: T) => void): void {\n  }\n}\n",
        "typescript",
        "file:///rx/src/internal/Observable.ts",
    )
    document, position = open_with_cursor(
        "import { Observable } from '../Observable';\n\nexport function of<T>(v: T) {\n"
        "  return new Observable<T>();\n  <CURSOR>\n}\n",
        "typescript",
        "file:///rx/src/internal/observable/of.ts",
    )
    found = used_definitions(document, position.line, [observable])
    assert [d.name for d in found] == ["Observable"]
    assert "subscribe(next: (v: T) => void): void {" in found[0].text


def test_typing_keeps_the_prefix_with_definitions() -> None:
    document, position, others = _package()
    kwargs = {"budget_tokens": 400, "count_tokens": count_words, "fim": False}
    previous = build_prompt(document, position, other_documents=others, **kwargs)
    assert any(p.name == "definitions" for p in previous.pieces)
    for char in "result = store.read(payload.decode())  # and codec.decode too":
        document.apply(document.version + 1, [TextChange(Range(position, position), char)])
        position = Position(position.line, position.character + 1)
        prompt = build_prompt(document, position, other_documents=others, **kwargs)
        assert prompt.prefix + prompt.stop.lead == previous.prefix + previous.stop.lead + char
        assert prompt.prefix.startswith(previous.prefix)
        previous = prompt


def _fresh(document: Document) -> Document:
    """The same text in a new Document: nothing cached from earlier prompts."""
    return Document.create(document.uri, document.language_id, document.text, document.version)


def _type(document: Document, position: Position, text: str) -> Position:
    document.apply(document.version + 1, [TextChange(Range(position, position), text)])
    return document.position_at(document.offset_at(position) + len(text))


def _replace(document: Document, old: str, new: str) -> None:
    start = document.position_at(document.text.index(old))
    end = document.position_at(document.text.index(old) + len(old))
    document.apply(document.version + 1, [TextChange(Range(start, end), new)])


def _assert_same_as_uncached(
    document: Document, position: Position, others: list[Document]
) -> Prompt:
    kwargs = {"budget_tokens": 1200, "count_tokens": count_words, "fim": True}
    cached = build_prompt(document, position, other_documents=others, **kwargs)
    fresh = build_prompt(
        _fresh(document), position, other_documents=[_fresh(o) for o in others], **kwargs
    )
    assert (cached.prefix, cached.suffix, cached.pieces) == (
        fresh.prefix,
        fresh.suffix,
        fresh.pieces,
    )
    return cached


def test_cached_definitions_give_the_prompt_of_fresh_documents_across_edits() -> None:
    """Prompts built on long-open documents (definitions cached per document version) equal
    prompts built on new copies of them, while typing in the file and editing the files it
    imports from (Python and TypeScript grammars)."""
    document, position, others = _package()
    store = others[0]
    _assert_same_as_uncached(document, position, others)
    for step, char in enumerate("payload = Store(name).read(codec.encode(total))"):
        position = _type(document, position, char)
        if step == 10:
            _replace(store, "Keeps values by key.", "Keeps values by key, on disk.")
        if step == 20:
            _replace(store, "    def read(self, key: str) -> bytes:", "    def read(self, key):")
        if step == 30:
            _replace(others[1], "def encode(value: object)", "def encode(value: object, /)")
        prompt = _assert_same_as_uncached(document, position, others)
    assert "Keeps values by key, on disk." in prompt.prefix
    assert "def read(self, key):" in prompt.prefix
    assert "def encode(value: object, /) -> bytes:" in prompt.prefix

    observable = open_text(
        "/** A stream. */\nexport class Observable<T> {\n  subscribe(next: (v: T) => void) {\n"
        "  }\n}\n",
        "typescript",
        "file:///rx/src/internal/Observable.ts",
    )
    document, position = open_with_cursor(
        "import { Observable } from '../Observable';\n\nexport function of<T>(v: T) {\n"
        "  const source = new Observable<T>();\n  <CURSOR>\n}\n",
        "typescript",
        "file:///rx/src/internal/observable/of.ts",
    )
    for step, char in enumerate("source.subscribe(v)"):
        position = _type(document, position, char)
        if step == 5:
            _replace(observable, "/** A stream. */", "/** A lazy stream. */")
        prompt = _assert_same_as_uncached(document, position, [observable])
    assert "A lazy stream." in prompt.prefix


def test_an_edit_to_an_imported_file_changes_the_next_prompts_definitions() -> None:
    document, position, others = _package()
    kwargs = {"budget_tokens": 800, "count_tokens": count_words, "fim": False}
    before = build_prompt(document, position, other_documents=others, **kwargs)
    assert "Parse the JSON file at `path`." in before.prefix
    _replace(others[0], "Parse the JSON file at `path`.", "Load `path` as JSON.")
    after = build_prompt(document, position, other_documents=others, **kwargs)
    assert "Load `path` as JSON." in after.prefix
    assert "Parse the JSON file" not in after.prefix


def test_query_text_is_the_same_whatever_the_line_ends() -> None:
    """The band is cut as one slice when it holds no import line; its line ends become `\\n`
    as when it is joined line by line."""
    body = "".join(f"    value_{i} = read_json(str({i}))\n" for i in range(60))
    text = SERVICE.replace("    <CURSOR>\n", body)
    document = open_text(text, uri="file:///repo/pkg/service.py")
    for line in (56, 64, 70):  # bands below the imports
        expected = query_text(document, line)
        assert "read_json" in expected
        for ending in ("\r\n", "\r"):
            crlf = open_text(text.replace("\n", ending), uri="file:///repo/pkg/service.py")
            assert query_text(crlf, line) == expected, (line, ending)
