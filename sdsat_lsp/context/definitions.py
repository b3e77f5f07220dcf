"""Definitions from other open documents of the symbols the code at the cursor uses.

The current document's imports (tree-sitter: Python `import`/`from … import`, JavaScript and
TypeScript `import … from` and `require(…)`) are resolved to other open documents by path:
relative specifiers against the document's folder, absolute Python modules by path suffix
(`pkg.mod` → `…/pkg/mod.py` or `…/pkg/mod/__init__.py`). Of the names they bind, those the
code around the cursor uses are looked up among the resolved document's top-level definitions
(`alias.name` for a module bound as a whole), and each gives a short text: its header with the
docstring (Python) or the doc comment before it (JS/TS), for a class also its methods' headers.

The code "around the cursor" is the snippets' query band (`snippets.query_lines`, complete
lines ending on a multiple of 8 lines, imports left out) plus the lines that open the blocks
enclosing the cursor, found by indentation, and the cursor's line when it is a complete block
header (`def f(x: Schema):|`): text that typing inside a line does not change, so the prompt
prefix stays stable while typing (it may change when a line ends in `:` or `{`, or when the
band moves on). Knows nothing of token budgets or prompt layout (prompt.py).

Typing costs little: a definition's text is built once per version of the document that
defines it (`Document.derived`), and the choice is kept (`Document.memo`) while its inputs, the
query text, the imports and the other documents' revisions, stay the same.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import tree_sitter

from sdsat_lsp.context.document import Document
from sdsat_lsp.context.snippets import query_lines
from sdsat_lsp.context.syntax import indent_width

MAX_DEFINITIONS = 8
MAX_DOC_LINES = 6  # docstring or doc comment lines kept per definition
MAX_MEMBERS = 12  # method headers kept per class
MAX_HEADER_LINES = 6
_ENCLOSING_LINES = 400  # how far up the enclosing block headers are looked for
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_CR_LINE_END = re.compile(r"\r\n?")
_JS_EXTENSIONS = ("", ".ts", ".tsx", ".js", ".mjs", ".cjs", ".jsx", "/index.ts", "/index.js")
_JS_LANGUAGES = frozenset({"javascript", "typescript", "tsx"})


@dataclass(frozen=True)
class Binding:
    """A name the import binds: `symbol` in module `module` (None: the module itself)."""

    name: str
    module: str  # the specifier as written: `.fields`, `marshmallow.utils`, `./route`
    symbol: str | None


@dataclass(frozen=True)
class Definition:
    uri: str  # the document that defines it
    name: str
    text: str  # header, doc and (classes) member headers, as in its file


# -- imports of the current document ------------------------------------------------------------


def _text(document: Document, node: tree_sitter.Node) -> str:
    return document.data[node.start_byte : node.end_byte].decode("utf-8", errors="replace")


def _top_level(document: Document) -> Iterator[tree_sitter.Node]:
    if document.tree is None or not document.tree.root_node.child_count:
        return
    child: tree_sitter.Node | None = document.tree.root_node.child(0)
    while child is not None:
        yield child
        child = child.next_sibling


def _import_region(document: Document, before_line: int) -> Iterator[tree_sitter.Node]:
    """Top-level statements that end before `before_line`, up to the first definition with a
    body: imports after that are rare, and the scan must stay cheap in 10,000-line files."""
    for node in _top_level(document):
        if node.end_point[0] >= before_line or _definition_node(node).child_by_field_name("body"):
            break
        yield node


def _import_lines(document: Document, before_line: int) -> set[int]:
    lines: set[int] = set()
    for node in _import_region(document, before_line):
        if node.type in document.spec.import_types or _js_bindings(document, node):
            lines.update(range(node.start_point[0], node.end_point[0] + 1))
    return lines


def bindings(document: Document, before_line: int) -> list[Binding]:
    """Names bound by the top-level imports that end before `before_line` (those before the
    file's first definition with a body)."""
    found: list[Binding] = []
    for node in _import_region(document, before_line):
        if document.language == "python":
            found += _python_bindings(document, node)
        elif document.language in _JS_LANGUAGES:
            found += _js_bindings(document, node)
    return found


def _python_bindings(document: Document, node: tree_sitter.Node) -> list[Binding]:
    if node.type == "import_from_statement":
        module_node = node.child_by_field_name("module_name")
        if module_node is None:
            return []
        module = _text(document, module_node)
        result = []
        for name_node in node.children_by_field_name("name"):
            names = _imported_names(document, name_node)
            if names is not None:
                symbol, bound = names
                result.append(Binding(bound, module, symbol))
        return result
    if node.type == "import_statement":
        result = []
        for name_node in node.children_by_field_name("name"):
            names = _imported_names(document, name_node)
            if names is not None:  # unaliased: used as `pkg.mod.name`
                dotted, bound = names
                result.append(Binding(bound, dotted, None))
        return result
    return []


def _imported_names(document: Document, name_node: tree_sitter.Node) -> tuple[str, str] | None:
    """(what is imported, the name it is bound to) for `name` or `name as alias`."""
    if name_node.type != "aliased_import":
        name = _text(document, name_node)
        return name, name
    original = name_node.child_by_field_name("name")
    alias = name_node.child_by_field_name("alias")
    if original is None or alias is None:
        return None
    return _text(document, original), _text(document, alias)


def _string_value(document: Document, node: tree_sitter.Node | None) -> str | None:
    if node is None or node.type != "string":
        return None
    return _text(document, node)[1:-1]


def _js_bindings(document: Document, node: tree_sitter.Node) -> list[Binding]:
    if node.type == "import_statement":
        module = _string_value(document, node.child_by_field_name("source"))
        if module is None:
            return []
        result = []
        for clause in node.children:
            if clause.type != "import_clause":
                continue
            for part in clause.children:
                if part.type == "identifier":  # default import
                    result.append(Binding(_text(document, part), module, None))
                elif part.type == "namespace_import":
                    names = [c for c in part.children if c.type == "identifier"]
                    if names:
                        result.append(Binding(_text(document, names[0]), module, None))
                elif part.type == "named_imports":
                    for spec in part.children:
                        if spec.type != "import_specifier":
                            continue
                        original = spec.child_by_field_name("name")
                        alias = spec.child_by_field_name("alias") or original
                        if original is not None and alias is not None:
                            symbol = _text(document, original)
                            result.append(Binding(_text(document, alias), module, symbol))
        return result
    if node.type in ("lexical_declaration", "variable_declaration"):
        result = []
        for declarator in node.children:
            if declarator.type != "variable_declarator":
                continue
            value = declarator.child_by_field_name("value")
            target = declarator.child_by_field_name("name")
            if value is None or target is None or value.type != "call_expression":
                continue
            function = value.child_by_field_name("function")
            arguments = value.child_by_field_name("arguments")
            if function is None or _text(document, function) != "require" or arguments is None:
                continue
            strings = [a for a in arguments.children if a.type == "string"]
            module = _string_value(document, strings[0]) if strings else None
            if module is None:
                continue
            if target.type == "identifier":
                result.append(Binding(_text(document, target), module, None))
            elif target.type == "object_pattern":
                for part in target.children:
                    if part.type == "shorthand_property_identifier_pattern":
                        name = _text(document, part)
                        result.append(Binding(name, module, name))
                    elif part.type == "pair_pattern":
                        key = part.child_by_field_name("key")
                        alias = part.child_by_field_name("value")
                        if key is not None and alias is not None:
                            result.append(
                                Binding(_text(document, alias), module, _text(document, key))
                            )
        return result
    return []


# -- resolving a module to an open document -----------------------------------------------------


def _path(uri: str) -> str:
    return unquote(urlparse(uri).path) if "://" in uri else uri


def paths(document: Document, others: Sequence[Document]) -> dict[str, Document]:
    """The other open documents by file path (build once, pass to `resolve`)."""
    return {_path(other.uri): other for other in others if other.uri != document.uri}


def resolve(
    document: Document,
    module: str,
    others: Sequence[Document],
    by_path: dict[str, Document] | None = None,
) -> Document | None:
    """The open document that `module`, imported from `document`, names (None if not open)."""
    if by_path is None:
        by_path = paths(document, others)
    folder = posixpath.dirname(_path(document.uri))
    if document.language == "python":
        dots = len(module) - len(module.lstrip("."))
        parts = [part for part in module[dots:].split(".") if part]
        if dots:
            base = folder
            for _ in range(dots - 1):
                base = posixpath.dirname(base)
            stem = posixpath.join(base, *parts)
            candidates = [stem + ".py", posixpath.join(stem, "__init__.py")]
            return next((by_path[c] for c in candidates if c in by_path), None)
        suffixes = ("/" + "/".join(parts) + ".py", "/" + "/".join([*parts, "__init__.py"]))
        for path, other in sorted(by_path.items()):
            if path.endswith(suffixes):
                return other
        return None
    if document.language in _JS_LANGUAGES and module.startswith("."):
        stem = posixpath.normpath(posixpath.join(folder, module))
        for extension in _JS_EXTENSIONS:
            if stem + extension in by_path:
                return by_path[stem + extension]
    return None


# -- definitions in a document ------------------------------------------------------------------


def _definition_node(node: tree_sitter.Node) -> tree_sitter.Node:
    """The definition inside `export …` and decorated definitions."""
    if node.type in ("export_statement", "decorated_definition"):
        inner = node.child_by_field_name("declaration") or node.child_by_field_name("definition")
        if inner is not None:
            return inner
    return node


def _names(document: Document, node: tree_sitter.Node) -> list[str]:
    name = node.child_by_field_name("name")
    if name is not None:
        return [_text(document, name)]
    if node.type in ("lexical_declaration", "variable_declaration"):
        return [
            _text(document, target)
            for declarator in node.children
            if declarator.type == "variable_declarator"
            and (target := declarator.child_by_field_name("name")) is not None
            and target.type == "identifier"
        ]
    if node.type == "expression_statement" and node.child_count:
        first = node.children[0]
        left = first.child_by_field_name("left") if first.type == "assignment" else None
        if left is not None and left.type == "identifier":
            return [_text(document, left)]
    return []


def _index(document: Document) -> dict[str, tree_sitter.Node]:
    cached = document.derived.get("definition_index")
    if cached is not None:
        return cached
    index: dict[str, tree_sitter.Node] = {}
    for node in _top_level(document):
        inner = _definition_node(node)
        for name in _names(document, inner):
            index.setdefault(name, node)
    document.derived["definition_index"] = index
    return index


def definition_text(document: Document, symbol: str) -> str | None:
    """`describe` of the top-level definition named `symbol` (None: none), once per document
    version: `Document.derived` is dropped on every change, so a keystroke in one file reuses
    what the files it imports define, and an edit to one of them is seen at the next prompt."""
    texts: dict[str, str | None] = document.derived.setdefault("definition_texts", {})
    if symbol not in texts:
        node = _index(document).get(symbol)
        texts[symbol] = None if node is None else describe(document, node)
    return texts[symbol]


def _lines(document: Document, node: tree_sitter.Node) -> list[str]:
    return _text(document, node).split("\n")


def _header(document: Document, node: tree_sitter.Node) -> str:
    """From the definition's first line to its body (Python `:`, brace `{`)."""
    body = node.child_by_field_name("body")
    start = document.line_start(node.start_point[0])
    start_byte = document.byte_offset(start)
    if body is None:  # a constant or type alias: its first lines
        lines = _lines(document, node)
        indent = document.text[start : document.char_offset(node.start_byte)]
        return indent + "\n".join(lines[:MAX_HEADER_LINES]).rstrip()
    end_byte = body.start_byte + (
        1 if document.data[body.start_byte : body.start_byte + 1] == b"{" else 0
    )
    header = document.data[start_byte:end_byte].decode("utf-8", errors="replace").rstrip()
    return "\n".join(header.split("\n")[:MAX_HEADER_LINES])


def _python_doc(document: Document, node: tree_sitter.Node) -> str:
    body = node.child_by_field_name("body")
    if body is None or not body.named_child_count:
        return ""
    first = body.named_children[0]
    if first.type != "expression_statement" or not first.named_child_count:
        return ""
    if first.named_children[0].type != "string":
        return ""
    indent = " " * indent_width(document.line_text(first.start_point[0]))
    lines = _lines(document, first)
    kept = lines[:MAX_DOC_LINES]
    text = indent + "\n".join(kept).rstrip()
    if len(lines) > MAX_DOC_LINES:
        quote = '"""' if lines[0].lstrip().startswith('"""') else "'''"
        text += "\n" + indent + "..." + quote
    return text


def _js_doc(document: Document, node: tree_sitter.Node) -> str:
    previous = node.prev_sibling
    if (
        previous is None
        or previous.type != "comment"
        or previous.end_point[0] + 1 < node.start_point[0]
    ):
        return ""
    lines = _lines(document, previous)
    indent = " " * indent_width(document.line_text(previous.start_point[0]))
    if len(lines) > MAX_DOC_LINES:
        lines = [*lines[: MAX_DOC_LINES - 1], " */"]
    return indent + "\n".join(lines).rstrip()


def _members(document: Document, node: tree_sitter.Node) -> list[str]:
    body = node.child_by_field_name("body")
    if body is None:
        return []
    headers: list[str] = []
    for child in body.named_children:
        inner = _definition_node(child)
        if "function" in inner.type or "method" in inner.type:
            name = inner.child_by_field_name("name")
            if (
                name is not None
                and _text(document, name).startswith("_")
                and not _text(document, name).startswith("__init__")
            ):
                continue  # private helpers: not what the caller's code uses
            headers.append(_header(document, inner))
            if len(headers) == MAX_MEMBERS:
                break
    return headers


def describe(document: Document, node: tree_sitter.Node) -> str:
    inner = _definition_node(node)
    python = document.language == "python"
    doc = _python_doc(document, inner) if python else _js_doc(document, node)
    header = _header(document, inner)
    if inner.child_by_field_name("body") is None:
        return (doc + "\n" if doc else "") + header
    parts = [header] if python else ([doc, header] if doc else [header])
    if python and doc:
        parts.append(doc)
    if "class" in inner.type:
        parts += _members(document, inner)
    body_indent = " " * (indent_width(header) + 4)
    parts.append(body_indent + "..." if python else body_indent + "/* … */ }")
    if "class" in inner.type and not python:
        parts[-1] = " " * indent_width(header) + "}"
    return "\n".join(part for part in parts if part)


# -- what the code at the cursor uses -----------------------------------------------------------


def query_text(document: Document, cursor_line: int) -> str:
    """The snippets' query band plus the headers of the blocks enclosing the cursor line,
    without the import statements (naming a name is not using it)."""
    start, end = query_lines(cursor_line)
    imports = _import_lines(document, end)
    if any(start <= line < end for line in imports):
        kept = (document.line_text(line) for line in range(start, end) if line not in imports)
        band = "\n".join(kept)
    else:  # one slice, its line ends made `\n`: the same text as joining the lines
        band = _lines_text(document, start, end)
    typed = document.line_text(cursor_line)
    headers = [typed] if typed.rstrip().endswith((":", "{")) else []
    current = indent_width(typed)
    for line in range(cursor_line - 1, max(-1, cursor_line - _ENCLOSING_LINES), -1):
        if current == 0:
            break
        text = document.line_text(line)
        if text.strip() and indent_width(text) < current:
            headers.append(text)
            current = indent_width(text)
    return band + "\n" + "\n".join(reversed(headers))


def _lines_text(document: Document, start: int, end: int) -> str:
    if end <= start:
        return ""
    text = document.text[document.line_start(start) : document.line_end(end - 1)]
    return _CR_LINE_END.sub("\n", text) if "\r" in text else text


def used_definitions(
    document: Document, cursor_line: int, others: Sequence[Document]
) -> list[Definition]:
    """Definitions in `others` of the imported names the code at the cursor uses, the most
    recently used first (the last use in the query text decides), at most MAX_DEFINITIONS."""
    if document.tree is None or not others:
        return []
    query = query_text(document, cursor_line)
    found_bindings = bindings(document, query_lines(cursor_line)[1] or cursor_line)
    # Everything the choice depends on besides the document's own uri and language: typing
    # inside a line changes none of it, so the lookups and texts are not redone.
    key = (query, tuple(found_bindings), tuple((other.uri, other.revision) for other in others))
    held = document.memo.get("used_definitions")
    if (
        held is not None
        and held[0] == key
        and all(a is b for a, b in zip(held[1], others, strict=True))  # not just their uris
    ):
        return list(held[2])
    found = _choose(document, query, found_bindings, others)
    document.memo["used_definitions"] = (key, tuple(others), tuple(found))
    return found


def _choose(
    document: Document, query: str, found_bindings: list[Binding], others: Sequence[Document]
) -> list[Definition]:
    last_use: dict[str, int] = {}
    for match in _IDENTIFIER.finditer(query):
        last_use[match.group()] = match.start()
    attribute_uses = {
        (match.group(1), match.group(2)): match.start()
        for match in re.finditer(r"([^\W\d][\w.]*)\.([^\W\d]\w*)", query)
    }
    wanted: list[tuple[int, Binding, str]] = []
    by_path = paths(document, others)
    for binding in _with_submodules(document, found_bindings, others, by_path):
        if binding.symbol is not None and binding.name in last_use:
            wanted.append((last_use[binding.name], binding, binding.symbol))
        elif binding.symbol is None:
            for (owner, attribute), position in attribute_uses.items():
                if owner == binding.name:
                    wanted.append((position, binding, attribute))
            if binding.name in last_use and "." not in binding.name:
                # `var Route = require('./route')`: the module's own `Route`
                wanted.append((last_use[binding.name], binding, binding.name))
    wanted.sort(key=lambda item: -item[0])
    found: list[Definition] = []
    seen: set[tuple[str, str]] = set()
    for _, binding, symbol in wanted:
        target = resolve(document, binding.module, others, by_path)
        if target is None or (target.uri, symbol) in seen:
            continue
        text = definition_text(target, symbol)
        if text is None:
            continue
        seen.add((target.uri, symbol))
        found.append(Definition(target.uri, symbol, text))
        if len(found) == MAX_DEFINITIONS:
            break
    return found


def _with_submodules(
    document: Document,
    found: list[Binding],
    others: Sequence[Document],
    by_path: dict[str, Document],
) -> list[Binding]:
    """`from . import fields` binds a module, not a symbol: rebind it as a module."""
    if document.language != "python":
        return found
    result = []
    for binding in found:
        if binding.symbol is not None:
            joined = binding.module + ("" if binding.module.endswith(".") else ".") + binding.symbol
            if resolve(document, joined, others, by_path) is not None:
                binding = Binding(binding.name, joined, None)
        result.append(binding)
    return result
