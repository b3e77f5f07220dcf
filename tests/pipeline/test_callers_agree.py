"""Every caller of the completion pipeline gives the same completion for the same document,
position and settings: the language server, `sdsat-lsp complete` and the stop-rule benchmark,
on the real default model (greedy output is deterministic)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from sdsat_lsp.bench.stop_rules import Point, evaluate_point
from sdsat_lsp.cli import main
from sdsat_lsp.config import Settings
from sdsat_lsp.context import DocumentStore, Position
from sdsat_lsp.pipeline import CompletionOutcome, complete
from sdsat_lsp.server.client import Session

pytestmark = pytest.mark.default_model

MAX_NEW_TOKENS = 24
SOURCE = '''import os


def count_python_files(root):
    """Count the .py files below root."""
    total = 0
    for name in os.listdir(root):
        if name.endswith(".py"):
            <1>


def mean(values):
    count = <2>
'''
CURSORS = ("<1>", "<2>")
TEXT = SOURCE.replace("<1>", "").replace("<2>", "")


def cursor_offset(marker: str) -> int:
    """Where `marker` stands in TEXT (SOURCE without any marker)."""
    head = SOURCE[: SOURCE.index(marker)]
    return len(head.replace("<1>", "").replace("<2>", ""))


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(device="cpu", max_new_tokens=MAX_NEW_TOKENS)


@pytest.fixture(scope="module")
def engine(settings: Settings) -> Any:
    from sdsat_lsp.engine import Engine

    return Engine.load(settings)


@pytest.fixture(scope="module")
def source_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("agree") / "files.py"
    path.write_text(TEXT)
    return path


def pipeline_at(engine: Any, uri: str, offset: int, settings: Settings) -> CompletionOutcome:
    store = DocumentStore()
    store.open(uri, "python", TEXT, 0)
    document = store.get(uri)
    return complete(engine, document, document.position_at(offset), settings)


def positions() -> list[Position]:
    store = DocumentStore()
    store.open("file:///positions.py", "python", TEXT, 0)
    document = store.get("file:///positions.py")
    return [document.position_at(cursor_offset(marker)) for marker in CURSORS]


def cli_text(path: Path, position: Position) -> str:
    result = subprocess.run(
        [
            sys.executable, "-m", "sdsat_lsp", "complete", str(path),
            "--line", str(position.line), "--column", str(position.character),
            "--device", "cpu", "--max-new-tokens", str(MAX_NEW_TOKENS), "--json",
        ],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["text"])


async def server_texts(uri: str, at: list[Position]) -> list[str | None]:
    session = Session(options={"device": "cpu", "maxNewTokens": MAX_NEW_TOKENS})
    await session.start()
    try:
        status = await session.wait_until_loaded(timeout=300)
        assert status.get("state") == "ready", status
        session.open(uri, TEXT)
        texts = []
        for position in at:  # one at a time: a second request would supersede the first
            completion = session.request(types.Position(position.line, position.character))
            await asyncio.wait_for(completion.done.wait(), 120)
            texts.append(completion.text)
        return texts
    finally:
        await session.stop()


@pytest.mark.slow  # three more model loads: two `complete` processes and a server
def test_server_and_complete_command_give_the_pipelines_text(
    engine: Any, settings: Settings, source_file: Path
) -> None:
    uri = source_file.resolve().as_uri()
    expected = [pipeline_at(engine, uri, cursor_offset(m), settings) for m in CURSORS]
    block_body, after_equals = expected
    # Real completions: a block body of several lines, and a value that the stop rule ends.
    assert block_body.text.count("\n") >= 1 and block_body.finish_reason == "length"
    assert after_equals.text.strip() and "\n" not in after_equals.text
    assert after_equals.finish_reason == "stop" and after_equals.new_tokens < MAX_NEW_TOKENS

    at = positions()
    assert [cli_text(source_file, position) for position in at] == [o.text for o in expected]
    assert asyncio.run(server_texts(uri, at)) == [o.text for o in expected]


def test_stop_rule_benchmark_measures_the_pipelines_completion(
    engine: Any, settings: Settings
) -> None:
    finishes = set()
    for marker in CURSORS:
        point = Point("files.py:1", "blank", "python", TEXT, cursor_offset(marker))
        outcome = evaluate_point(engine, point, settings)
        expected = pipeline_at(engine, "file:///eval/files.py:1", point.cursor, settings)
        assert outcome.completion == expected.text and outcome.finish == expected.finish_reason
        assert outcome.tokens_with_stop == expected.new_tokens
        assert outcome.tokens_to_limit == MAX_NEW_TOKENS  # without stop rules: to the limit
        finishes.add(outcome.finish)
    assert finishes == {"length", "stop"}


def test_the_default_model_gets_the_prompt_pieces_its_registry_entry_names(
    engine: Any, settings: Settings, source_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # models/smollm2-135m.toml: `prompt_pieces = []`, measured (docs/quality.md)
    assert engine.info.prompt_pieces == ()
    uri = source_file.resolve().as_uri()
    outcome = pipeline_at(engine, uri, cursor_offset("<2>"), settings)
    assert [piece.name for piece in outcome.prompt.pieces] == ["prefix_window"]
    assert outcome.prompt.prefix == TEXT[: cursor_offset("<2>")].rstrip()
    # `sdsat-lsp prompt` shows the same prompt
    [_, at] = positions()
    args = ["prompt", str(source_file), "--line", str(at.line), "--column", str(at.character)]
    assert main([*args, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [piece["text"] for piece in shown["pieces"]] == [outcome.prompt.prefix]
