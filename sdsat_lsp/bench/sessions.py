"""Recorded typing sessions: the file format, loading, and recording one from a real file.

A session is JSON: the document's text before typing starts (`initial_text`) and timed
keystrokes, each `[milliseconds since the first keystroke, text inserted at the end of the
document]`. A newline and the indentation an editor inserts with it are one keystroke.
`record_session` types lines of a real source file with a seeded human timing model:
per-character gaps drawn from a log-normal distribution (median 130 ms, about 90 words per
minute), a pause after each line, and a longer "thinking" pause every few lines.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "sdsat-lsp typing session"
BUNDLED = Path(__file__).with_name("sessions") / "pygls-text-document.json"
LANGUAGES = {".py": "python", ".js": "javascript", ".ts": "typescript", ".go": "go"}
LANGUAGES |= {".rs": "rust", ".c": "c", ".cpp": "cpp", ".java": "java"}


class SessionError(ValueError):
    """A session file is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class TypingSession:
    name: str
    source: str  # where the text came from, for the report
    language: str
    initial_text: str
    keystrokes: tuple[tuple[float, str], ...]  # (ms since the first keystroke, inserted text)

    @property
    def duration_ms(self) -> float:
        return self.keystrokes[-1][0] if self.keystrokes else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": 1,
            "name": self.name,
            "source": self.source,
            "language": self.language,
            "initial_text": self.initial_text,
            "keystrokes": [[round(at, 1), text] for at, text in self.keystrokes],
        }


def load_session(path: Path) -> TypingSession:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SessionError(f"cannot read session {path}: {error}") from error
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionError(f"{path} is not a {FORMAT!r} file")
    try:
        keystrokes = tuple((float(at), str(text)) for at, text in data["keystrokes"])
        session = TypingSession(
            name=str(data.get("name") or path.stem),
            source=str(data.get("source", "")),
            language=str(data.get("language", "python")),
            initial_text=str(data["initial_text"]),
            keystrokes=keystrokes,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise SessionError(f"{path}: malformed session ({error})") from error
    if any(later[0] < earlier[0] for earlier, later in itertools.pairwise(keystrokes)):
        raise SessionError(f"{path}: keystroke times must not go backwards")
    return session


def source_label(path: Path) -> str:
    """`pygls/workspace/text_document.py` for a file under site-packages, else the name."""
    parts = path.resolve().parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return "/".join(parts[parts.index(marker) + 1 :])
    return path.name


def split_keystrokes(text: str) -> list[str]:
    """One keystroke per character, except a newline carries the next line's indentation."""
    keys: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\n":
            end = index + 1
            while end < len(text) and text[end] in " \t":
                end += 1
            keys.append(text[index:end])
            index = end
        else:
            keys.append(char)
            index += 1
    return keys


def record_session(source: Path, start_line: int, end_line: int, seed: int = 0) -> TypingSession:
    """Type lines `start_line`..`end_line` (1-based, inclusive) of `source` after the rest above."""
    lines = source.read_text(encoding="utf-8").split("\n")
    if not 1 <= start_line <= end_line <= len(lines):
        raise SessionError(f"lines {start_line}:{end_line} are outside {source} ({len(lines)})")
    initial = "".join(line + "\n" for line in lines[: start_line - 1])
    typed = "\n".join(lines[start_line - 1 : end_line]) + "\n"
    chooser = random.Random(seed)
    keystrokes: list[tuple[float, str]] = []
    clock = 0.0
    lines_typed = 0
    for key in split_keystrokes(typed):
        keystrokes.append((clock, key))
        if key.startswith("\n"):
            lines_typed += 1
            clock += chooser.uniform(300, 900)
            if lines_typed % 4 == 0:
                clock += chooser.uniform(1200, 2500)
        else:
            clock += min(chooser.lognormvariate(4.87, 0.35), 800.0)  # e^4.87 ≈ 130 ms
    return TypingSession(
        name=f"{source.stem}-{start_line}-{end_line}",
        source=f"{source_label(source)}:{start_line}-{end_line}",
        language=LANGUAGES.get(source.suffix, "plaintext"),
        initial_text=initial,
        keystrokes=tuple(keystrokes),
    )


if __name__ == "__main__":  # regenerate the bundled session
    import importlib.util

    spec = importlib.util.find_spec("pygls")
    assert spec is not None and spec.origin is not None
    module = Path(spec.origin).parent / "workspace" / "text_document.py"
    session = record_session(module, int(sys.argv[1]), int(sys.argv[2]))
    BUNDLED.parent.mkdir(exist_ok=True)
    data = session.to_dict()
    data["note"] = (
        "Text from pygls (Apache-2.0), copyright header kept; regenerate with "
        f"`python -m sdsat_lsp.bench.sessions {sys.argv[1]} {sys.argv[2]}`."
    )
    BUNDLED.write_text(json.dumps(data, indent=0) + "\n")
    print(BUNDLED, len(session.keystrokes), "keystrokes", session.duration_ms / 1000, "s")
