"""The real server (`sdsat-lsp serve` over stdio) with `backend: openai` against a STUB engine,
for the outage a real engine cannot produce on demand (HTTP 503): one error status with the
reason, one window/showMessage, empty completions without a hang, then recovery as soon as the
engine answers, without restarting the server or changing a setting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from sdsat_lsp.server.client import Session

from .stub_engine import Mode, StubEngine

SOURCE = "def double(x):\n    "


@pytest_asyncio.fixture
async def stub() -> AsyncIterator[StubEngine]:
    engine = StubEngine().start()
    yield engine
    engine.stop()


async def status_of(session: Session) -> dict[str, Any]:
    from sdsat_lsp.server.client import plain

    answer = await session.client.protocol.send_request_async("sdsat/status")
    return dict(plain(answer))


async def completed(session: Session) -> str | None:
    completion = session.request()
    await asyncio.wait_for(completion.done.wait(), 30)
    assert completion.error is None, completion.error
    return completion.text


async def test_lsp_stub_engine_outage_is_one_message_then_recovers(stub: StubEngine) -> None:
    messages: list[str] = []
    options = {"backend": "openai", "backendUrl": stub.url, "maxNewTokens": 16}
    session = Session(options=options, on_message=messages.append)
    await session.start()
    try:
        status = await session.wait_until_loaded(60)
        assert status["state"] == "ready" and status["backend"] == "openai", status
        assert status["model"] == "stub-model" and status["device"] == stub.url
        session.open("file:///double.py", SOURCE)
        assert await completed(session) == "return x + 1"

        stub.mode = Mode(kind="status", status=503, body={"error": {"message": "loading"}})
        for _ in range(3):
            assert await completed(session) == ""
        status = await status_of(session)
        assert status["state"] == "error" and "HTTP 503: loading" in status["message"], status
        shown = [m for m in messages if "inference engine" in m]
        assert len(shown) == 1 and "HTTP 503" in shown[0], messages
        failures = [r for r in session.latency_records if r["outcome"] == "error"]
        assert len(failures) == 3 and all("HTTP 503" in r["error"] for r in failures)
        assert all(r["backend"] == "openai" for r in session.latency_records)

        stub.mode = Mode()  # the engine is back
        assert await completed(session) == "return x + 1"
        status = await status_of(session)
        assert status["state"] == "ready" and status["message"] == "", status
        done = [r for r in session.latency_records if r["outcome"] == "done"]
        assert done[-1]["usage_completion_tokens"] == 5 and done[-1]["first_token_ms"] > 0
        assert len([m for m in messages if "inference engine" in m]) == 1
    finally:
        await session.stop()
