"""Fixtures for the Neovim plugin tests; the machinery is in nvim_harness.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nvim_harness import (
    SERVER,
    Editor,
    running_editor,
    server_problem,
    tiny_settings,
    wait_until_ready,
)


@pytest.fixture
def editor(tmp_path: Path) -> Iterator[Editor]:
    with running_editor(tmp_path) as started:
        yield started


@pytest.fixture(scope="session")
def server_command() -> list[str]:
    problem = server_problem()
    if problem:
        pytest.skip(problem)
    return [str(SERVER), "serve"]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def served(
    editor: Editor, server_command: list[str], tiny_model: Path, tmp_path: Path
) -> Iterator[tuple[Editor, Path]]:
    """The editor set up on the real server and the tiny model, with a Python buffer open.

    Yields the editor and the server's JSON latency log file.
    """
    log_file = tmp_path / "latency.jsonl"
    editor.setup({"cmd": server_command, "settings": tiny_settings(tiny_model, log_file)})
    editor.edit(tmp_path / "start.py", ["x = 1"])
    wait_until_ready(editor)
    yield editor, log_file
