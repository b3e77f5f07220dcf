"""End to end against a real engine: llama.cpp's OpenAI-compatible server (llama-cpp-python,
`make llamacpp`) on 127.0.0.1 with the default model's GGUF, and our real server over stdio
with `backend: openai` in front of it.

- streamed `sdsat/completionDelta`s and a final completion, with the remote latency fields;
- a request made stale by typing, and one superseded by a newer request: our server closes
  their HTTP streams and the engine stops generating for them (it logs each stream whose
  client went away, and nothing else is in flight then);
- the engine stopped and started again while the editor keeps typing: empty answers without a
  hang, one error status and one message, then completions again from the same server;
- a wrong API key (HTTP 401 from the engine's `--api_key`) and a model it does not serve, each
  fixed by a settings change.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from sdsat_lsp.server.client import Completion, Session, plain

from .llamacpp_engine import MODEL_ALIAS, LlamaCppServer, missing_engine

pytestmark = [pytest.mark.default_model, pytest.mark.slow]

AREA = "import math\n\n\ndef circle_area(radius):\n    return "
# A list the model goes on counting for hundreds of tokens: a stream that is still running
# when the test interrupts it.
COUNTING = "numbers = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, "
MAX_NEW_TOKENS = 256


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    reason = missing_engine()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI builds it (`make test` depends on `make llamacpp`)
        pytest.skip(reason)
    server = LlamaCppServer(tmp_path_factory.mktemp("llamacpp") / "engine.log").start()
    yield server
    server.stop()


def options(engine: LlamaCppServer, **extra: Any) -> dict[str, Any]:
    return {
        "backend": "openai",
        "backendUrl": engine.url,
        "maxNewTokens": MAX_NEW_TOKENS,
        "backendTimeoutMs": 30000,  # a loaded CI machine: never mistake slow for stalled
    } | extra


async def started(engine: LlamaCppServer, messages: list[str] | None = None) -> Session:
    on_message = messages.append if messages is not None else None
    session = Session(options=options(engine), on_message=on_message)
    await session.start()
    status = await session.wait_until_loaded(60)
    assert status["state"] == "ready", status
    return session


async def answered(completion: Completion, timeout: float = 60) -> Completion:
    await asyncio.wait_for(completion.done.wait(), timeout)
    return completion


async def eventually(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.05)


def record_of(session: Session, completion: Completion) -> dict[str, Any]:
    found = [r for r in session.latency_records if r["request_id"] == completion.request_id]
    assert len(found) == 1, (completion.request_id, session.latency_records)
    return found[0]


async def status_of(session: Session) -> dict[str, Any]:
    return dict(plain(await session.client.protocol.send_request_async("sdsat/status")))


async def test_llamacpp_streams_deltas_and_a_completion(engine: LlamaCppServer) -> None:
    session = await started(engine)
    try:
        status = session.status
        assert status["backend"] == "openai" and status["model"] == MODEL_ALIAS
        assert status["device"] == engine.url and status["strategy"] == "remote"
        session.open("file:///area.py", AREA)
        completion = await answered(session.request())
        assert completion.error is None and completion.text, completion
        assert completion.deltas, "deltas arrive before the answer"
        for earlier, later in zip(completion.deltas, completion.deltas[1:], strict=False):
            assert later.startswith(earlier), completion.deltas
        assert completion.deltas[-1].startswith(completion.text)
        await eventually(lambda: session.latency_records, 5, "the latency line")
        record = record_of(session, completion)
        assert record["outcome"] == "done" and record["backend"] == "openai"
        assert record["new_tokens"] > 0 and record["prompt_tokens"] > 0
        assert record["connect_ms"] is not None and record["connect_ms"] >= 0
        assert 0 < record["first_byte_ms"] <= record["first_token_ms"] <= record["total_ms"]
        assert record["first_delta_ms"] <= record["total_ms"]
    finally:
        await session.stop()


async def test_llamacpp_stops_generating_for_stale_and_superseded_requests(
    engine: LlamaCppServer,
) -> None:
    session = await started(engine)
    try:
        session.open("file:///numbers.py", COUNTING)

        # Typing makes the running request stale: its stream is closed, the engine stops.
        before = engine.disconnects()
        stale = session.request()
        await asyncio.wait_for(stale.first.wait(), 60)
        session.type("2")
        await answered(stale)
        assert stale.error == "content-modified", stale
        await eventually(lambda: engine.disconnects() == before + 1, 10, "engine: disconnected")
        record = record_of(session, stale)
        assert record["finish_reason"] == "cancelled", record  # cut while streaming
        assert record["new_tokens"] < MAX_NEW_TOKENS

        # A newer request supersedes a running one. The newer one asks mid-word, where no
        # completion makes sense: it never reaches the engine, so the engine's one
        # disconnect is the superseded stream's.
        session.type("1, ")
        before = engine.disconnects()
        superseded = session.request()
        await asyncio.wait_for(superseded.first.wait(), 60)
        newer = session.request(types.Position(line=0, character=3))
        await answered(superseded)
        await answered(newer)
        assert superseded.error == "cancelled" and newer.text == "", (superseded, newer)
        await eventually(lambda: engine.disconnects() == before + 1, 10, "engine: disconnected")
        assert record_of(session, superseded)["finish_reason"] == "cancelled"
        assert record_of(session, newer)["finish_reason"] == "none"

        # The engine is free at once for the next completion.
        session.type("2")
        follow_up = await answered(session.request())
        assert follow_up.error is None and record_of(session, follow_up)["outcome"] == "done"
    finally:
        await session.stop()


async def test_llamacpp_restart_while_typing(engine: LlamaCppServer) -> None:
    messages: list[str] = []
    session = await started(engine, messages)
    typed = iter("math.pi * radius ** 2  # the area of a circle of this radius" * 4)
    try:
        session.open("file:///restart.py", AREA)
        assert (await answered(session.request())).text

        engine.stop()
        for _ in range(3):  # the editor keeps typing while the engine is away
            session.type(next(typed))
            started_at = time.monotonic()
            completion = await answered(session.request(), 30)
            assert completion.error is None and completion.text == "", completion
            assert time.monotonic() - started_at < 10, "no hang while the engine is down"
        status = await status_of(session)
        assert status["state"] == "error" and engine.url in status["message"], status
        assert "connection refused" in status["message"] or "closed" in status["message"]
        engine_messages = [m for m in messages if "inference engine" in m]
        assert len(engine_messages) == 1, messages

        engine.start()  # same port; our server is never restarted
        recovered = False
        deadline = time.monotonic() + 120
        while not recovered and time.monotonic() < deadline:
            session.type(next(typed))
            completion = await answered(session.request(), 60)
            await asyncio.sleep(0.1)
            recovered = record_of(session, completion)["outcome"] == "done"
        assert recovered, session.latency_records[-3:]
        status = await status_of(session)
        assert status["state"] == "ready" and status["message"] == "", status
        assert len([m for m in messages if "inference engine" in m]) == 1
    finally:
        await session.stop()
        if engine.process is None:
            engine.start()  # for any later test in this module


async def test_llamacpp_api_key_and_model_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real 401 (llama.cpp's server with `--api_key`) and a model it does not serve: each an
    error status with the reason and one message, the key never in them; fixing the setting
    reloads and completes, with the same server process."""
    if (reason := missing_engine()) is not None:
        pytest.skip(reason)
    key = "sdsat-e2e-key-never-logged"
    monkeypatch.setenv("SDSAT_E2E_KEY", key)
    monkeypatch.setenv("SDSAT_E2E_WRONG_KEY", "not-the-key")
    keyed = LlamaCppServer(tmp_path / "keyed.log", api_key=key).start()
    messages: list[str] = []
    session = Session(
        options=options(keyed, backendApiKeyEnv="SDSAT_E2E_WRONG_KEY"),
        on_message=messages.append,
    )
    await session.start()
    try:
        status = await session.wait_until_loaded(60)
        assert status["state"] == "error" and "HTTP 401" in status["message"], status
        assert "$SDSAT_E2E_WRONG_KEY" in status["message"]
        session.open("file:///keyed.py", AREA)
        assert (await answered(session.request())).text == ""

        async def configure(settings: dict[str, Any]) -> None:
            await asyncio.sleep(0.5)  # the status sent after the last answer arrives first
            session.status = {}
            session.client.workspace_did_change_configuration(
                types.DidChangeConfigurationParams(settings={"sdsat": settings})
            )

        await configure(options(keyed, backendApiKeyEnv="SDSAT_E2E_KEY"))
        status = await session.wait_until_loaded(60)
        assert status["state"] == "ready", status
        completion = await answered(session.request())
        assert completion.error is None and completion.text

        await configure(options(keyed, backendApiKeyEnv="SDSAT_E2E_KEY", backendModel="no-such"))
        status = await session.wait_until_loaded(60)
        assert status["state"] == "error" and "does not serve 'no-such'" in status["message"]
        assert MODEL_ALIAS in status["message"]

        # the message follows the status notification on the wire: give it time to arrive
        for _ in range(100):
            shown = [m for m in messages if "inference engine" in m]
            if len(shown) >= 2:
                break
            await asyncio.sleep(0.1)
        assert len(shown) == 2 and "HTTP 401" in shown[0] and "no-such" in shown[1], messages
        assert not any(key in m for m in messages)
        assert not any(key in str(r) for r in session.latency_records)
    finally:
        await session.stop()
        keyed.stop()
