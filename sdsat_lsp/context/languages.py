"""Which language a document is, and what the context code needs to know about it.

Owns the mapping from LSP language ids and file extensions to the tree-sitter grammars shipped
as per-language PyPI packages, and the few per-language facts prompt building relies on (line
comment marker, block style, import and definition node types). Grammars load lazily, once.
It deliberately knows nothing about documents, prompts or models.
"""

from __future__ import annotations

import functools
import importlib
import posixpath
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import tree_sitter


@dataclass(frozen=True)
class LanguageSpec:
    """Per-language facts; `grammar` is None for plain-text languages."""

    name: str
    comment: str
    # True where indentation closes blocks (Python); brace languages close them with `}`.
    indented_blocks: bool
    grammar: tuple[str, str] | None = None  # (module, function) returning the language pointer
    import_types: frozenset[str] = frozenset()


_BRACE_LANGUAGES: dict[str, tuple[tuple[str, str], frozenset[str]]] = {
    "javascript": (("tree_sitter_javascript", "language"), frozenset({"import_statement"})),
    "typescript": (
        ("tree_sitter_typescript", "language_typescript"),
        frozenset({"import_statement", "import_alias"}),
    ),
    "tsx": (
        ("tree_sitter_typescript", "language_tsx"),
        frozenset({"import_statement", "import_alias"}),
    ),
    "go": (("tree_sitter_go", "language"), frozenset({"package_clause", "import_declaration"})),
    "rust": (
        ("tree_sitter_rust", "language"),
        frozenset({"use_declaration", "extern_crate_declaration", "mod_item_declaration"}),
    ),
    "c": (("tree_sitter_c", "language"), frozenset({"preproc_include"})),
    "cpp": (
        ("tree_sitter_cpp", "language"),
        frozenset({"preproc_include", "using_declaration", "alias_declaration"}),
    ),
    "java": (
        ("tree_sitter_java", "language"),
        frozenset({"package_declaration", "import_declaration"}),
    ),
}

SPECS: dict[str, LanguageSpec] = {
    "python": LanguageSpec(
        name="python",
        comment="#",
        indented_blocks=True,
        grammar=("tree_sitter_python", "language"),
        import_types=frozenset(
            {"import_statement", "import_from_statement", "future_import_statement"}
        ),
    ),
    **{
        name: LanguageSpec(
            name=name, comment="//", indented_blocks=False, grammar=grammar, import_types=imports
        )
        for name, (grammar, imports) in _BRACE_LANGUAGES.items()
    },
}

_LANGUAGE_IDS = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "tsx": "tsx",
    "go": "go",
    "rust": "rust",
    "c": "c",
    "cpp": "cpp",
    "java": "java",
}

_EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".pyw": "python",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".c": "c",
    # Headers are far more often C++ than C in mixed projects, and the C++ grammar reads C.
    ".h": "cpp",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
    ".java": "java",
}

# Line comment markers for plain-text languages (used for the file header and snippets).
_PLAIN_COMMENTS = {
    "#": (
        "shellscript sh bash zsh fish ruby perl r yaml toml dockerfile makefile cmake "
        "elixir julia nim powershell coffeescript crystal graphql .sh .bash .zsh .rb .pl .r "
        ".yaml .yml .toml .cmake .ex .exs .jl .nim .ps1"
    ),
    "--": "lua sql haskell elm ada vhdl .lua .sql .hs .elm .adb .ads",
    "%": "latex tex matlab erlang prolog .tex .m .erl",
    ";": "clojure lisp scheme racket ini asm .clj .lisp .scm .rkt .ini .asm",
}
_PLAIN_COMMENT_OF = {
    key: marker for marker, keys in _PLAIN_COMMENTS.items() for key in keys.split()
}


def _extension(path_or_uri: str) -> str:
    path = urlparse(path_or_uri).path if "://" in path_or_uri else path_or_uri
    return posixpath.splitext(unquote(path).replace("\\", "/"))[1].lower()


def language_for(path_or_language_id: str) -> str | None:
    """The tree-sitter language name for an LSP language id, a path or a URI; None otherwise.

    None means plain-text context: the caller never gets an error for an unknown language.
    """
    key = path_or_language_id.strip()
    if key.lower() in _LANGUAGE_IDS:
        return _LANGUAGE_IDS[key.lower()]
    return _EXTENSIONS.get(_extension(key))


def spec_for(language: str | None, language_id: str = "", uri: str = "") -> LanguageSpec:
    """The spec of a tree-sitter language, or a plain-text spec with the best comment marker."""
    if language in SPECS:
        return SPECS[language]
    marker = _PLAIN_COMMENT_OF.get(language_id.lower()) or _PLAIN_COMMENT_OF.get(_extension(uri))
    return LanguageSpec(
        name=language_id or "plaintext", comment=marker or "#", indented_blocks=True
    )


@functools.cache
def parser_for(language: str) -> tree_sitter.Parser:
    """A parser for a tree-sitter language name (raises KeyError for plain-text languages).

    One parser per language per process; parsing happens on one thread (the server's).
    """
    grammar = SPECS[language].grammar
    if grammar is None:
        raise KeyError(language)
    module, function = grammar
    pointer = getattr(importlib.import_module(module), function)()
    return tree_sitter.Parser(tree_sitter.Language(pointer))
