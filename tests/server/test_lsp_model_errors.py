"""A model that does not load: the server stays up, says why once, answers empty, logs each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types

from .conftest import Server, start_server, stop_server

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def broken_server(missing_model: Path) -> AsyncIterator[Server]:
    server = await start_server(
        ["--model", str(missing_model)], options={"k": -3, "logLevel": "loud"}, progress=False
    )
    yield server
    await stop_server(server)


async def test_missing_model_then_a_settings_change_loads_one(
    broken_server: Server, tiny_model_dir: Path
) -> None:
    server = broken_server
    status = await server.wait_ready()
    assert status["state"] == "error" and status["message"]
    uri = "file:///broken.py"
    server.open(uri, "def f():\n    return 1")
    for request_id in (1, 2):
        answer = await asyncio.wait_for(server.request(uri, 1, 12, request_id), 30)
        assert not answer.items
        record = server.record_for(request_id)
        assert record["outcome"] == "error" and "model not loaded" in record["error"]

    messages = server.client.messages
    warnings = [m for m in messages if m.type == types.MessageType.Warning]
    errors = [m for m in messages if m.type == types.MessageType.Error]
    assert len(warnings) == 1, "invalid initializationOptions: one message"
    assert "k=-3" in warnings[0].message and "logLevel" in warnings[0].message
    assert len(errors) == 1, "the model failure is shown once, not per request"
    assert str(Path(str(status["model"])).name) in errors[0].message

    server.configure({"model": str(tiny_model_dir)})
    for _ in range(3000):
        if server.statuses[-1]["state"] == "ready":
            break
        await asyncio.sleep(0.1)
    assert server.statuses[-1]["state"] == "ready"
    answer = await asyncio.wait_for(server.request(uri, 1, 12, 3), 60)
    assert isinstance(answer, types.InlineCompletionList)
    assert server.record_for(3)["outcome"] == "done"
