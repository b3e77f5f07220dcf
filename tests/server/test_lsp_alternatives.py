"""Sampling over LSP: a manual trigger returns several de-duplicated alternatives, typing one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types

from .conftest import start_server, stop_server

pytestmark = pytest.mark.asyncio(loop_scope="session")

SOURCE = "import math\n\n\ndef area(radius):\n    return math"
POSITION = (4, len("    return math"))
INVOKED = types.InlineCompletionTriggerKind.Invoked


async def test_manual_trigger_returns_alternatives_typing_returns_one(
    tiny_model_dir: Path,
) -> None:
    # A high temperature: the tiny random model's logits are sharp.
    options = {"temperature": 4.0, "alternatives": 4, "seed": 11, "strategy": "lookup"}
    server = await start_server(["--model", str(tiny_model_dir), "--max-new-tokens", "12"], options)
    try:
        assert (await server.wait_ready())["state"] == "ready"
        uri = "file:///alternatives.py"
        server.open(uri, SOURCE)
        manual = await asyncio.wait_for(server.request(uri, *POSITION, 1, INVOKED), 120)
        texts = [item.insert_text for item in manual.items]
        assert 2 <= len(texts) <= 4, texts
        assert len(set(texts)) == len(texts) and all(texts), texts
        deltas = [d["text"] for d in server.deltas if d["id"] == 1]
        assert deltas and deltas[-1].startswith(texts[0]), "the streamed item comes first"
        automatic = await asyncio.wait_for(server.request(uri, *POSITION, 2), 120)
        assert len(automatic.items) == 1
        # the same seed samples the same alternatives again
        again = await asyncio.wait_for(server.request(uri, *POSITION, 3, INVOKED), 120)
        assert [item.insert_text for item in again.items] == texts
        server.configure({"temperature": 0})  # greedy: one answer, however asked
        await asyncio.sleep(0.5)
        greedy = await asyncio.wait_for(server.request(uri, *POSITION, 4, INVOKED), 120)
        assert len(greedy.items) == 1
        record = server.record_for(1)
        assert record["outcome"] == "done"
    finally:
        await stop_server(server)
