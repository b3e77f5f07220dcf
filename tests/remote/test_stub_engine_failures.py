"""Failures a real engine cannot produce on demand, against a STUB engine (tests/remote/
stub_engine.py): 401/403, 404 model, 429/503 with Retry-After, a stalled stream, malformed SSE,
an engine that ignores `stop`. Each ends the completion with one clear reason, at once, and the
backend works again when the engine does. The refused connection is real (a closed port).
Streaming, supersession and engine restarts against a real engine: test_llamacpp_engine.py."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdsat_lsp.config import Settings
from sdsat_lsp.context import Document, Position
from sdsat_lsp.pipeline import CompletionOutcome, complete
from sdsat_lsp.remote import EngineError, RemoteBackend

from .stub_engine import Mode, StubEngine

SOURCE = "def double(x):\n    "
AT = Position(1, 4)
KEY = "sdsat-test-key-do-not-log"


@pytest.fixture
def stub() -> Iterator[StubEngine]:
    engine = StubEngine().start()
    yield engine
    engine.stop()


def backend_for(url: str, health: list[str | None] | None = None, **settings) -> RemoteBackend:
    values = {"backend": "openai", "backend_url": url, "max_new_tokens": 32} | settings
    sink = health.append if health is not None else None
    return RemoteBackend(Settings(**values), on_health=sink)


def run(backend: RemoteBackend, **kwargs) -> CompletionOutcome:
    document = Document.create("file:///double.py", "python", SOURCE, 1)
    return complete(backend, document, AT, backend.settings, **kwargs)


def fails_with(backend: RemoteBackend, *words: str) -> str:
    started = time.monotonic()
    with pytest.raises(EngineError) as raised:
        run(backend)
    assert time.monotonic() - started < 5, "a failure answers at once"
    reason = str(raised.value)
    for word in words:
        assert word in reason, reason
    return reason


def test_stub_stream_gives_deltas_text_and_timings(stub: StubEngine) -> None:
    backend = backend_for(stub.url)
    try:
        assert backend.check() is None and backend.model == "stub-model"
        shown: list[str] = []
        outcome = run(backend, on_text=shown.append)
        assert outcome.text == "return x + 1" and outcome.finish_reason == "eos"
        assert shown[0] == "return" and shown[-1].startswith("return x + 1")
        stats = outcome.stats or {}
        assert stats["new_tokens"] == 5 and stats["usage_completion_tokens"] == 5
        assert 0 <= stats["connect_ms"] <= stats["first_byte_ms"] <= stats["first_token_ms"]
        body = stub.requests[-1]["body"]
        assert body["stream"] is True and body["model"] == "stub-model"
        assert body["prompt"].endswith("def double(x):") and body["max_tokens"] == 32
        assert body["temperature"] == 0.0
    finally:
        backend.close()


def test_stub_401_names_the_variable_and_never_the_key(
    stub: StubEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDSAT_TEST_KEY", KEY)
    stub.mode = Mode(kind="status", status=401, body={"error": {"message": f"bad key {KEY}"}})
    health: list[str | None] = []
    backend = backend_for(stub.url, health, backend_api_key_env="SDSAT_TEST_KEY")
    try:
        reason = fails_with(backend, "HTTP 401", "$SDSAT_TEST_KEY")
        assert KEY not in reason and health == [reason]
        assert stub.requests[-1]["headers"]["Authorization"] == f"Bearer {KEY}"
        stub.mode = Mode(kind="status", status=403, body={"detail": "Forbidden"})
        fails_with(backend, "HTTP 403", "Forbidden")
        stub.mode = Mode()  # the key was fixed on the engine's side: no restart needed
        assert run(backend).text == "return x + 1" and health[-1] is None
    finally:
        backend.close()


def test_stub_401_without_a_key_says_which_setting(stub: StubEngine) -> None:
    stub.mode = Mode(kind="status", status=401, body={"error": "unauthorized"})
    backend = backend_for(stub.url)
    try:
        fails_with(backend, "HTTP 401", "backendApiKeyEnv")
    finally:
        backend.close()


def test_stub_404_model_is_checked_at_start_and_per_request(stub: StubEngine) -> None:
    backend = backend_for(stub.url, backend_model="no-such-model")
    try:
        problem = backend.check()
        assert problem is not None and "no-such-model" in problem and "stub-model" in problem
        message = {"message": "The model `no-such-model` does not exist.", "code": 404}
        stub.mode = Mode(kind="status", status=404, body={"error": message})
        fails_with(backend, "HTTP 404", "does not exist", "backendModel")
    finally:
        backend.close()


@pytest.mark.parametrize("status", [429, 503])
def test_stub_busy_with_retry_after_pauses_requests(stub: StubEngine, status: int) -> None:
    stub.mode = Mode(kind="status", status=status, headers={"Retry-After": "1"})
    backend = backend_for(stub.url)
    try:
        reason = fails_with(backend, f"HTTP {status}", "1 s")
        sent = len(stub.requests)
        stub.mode = Mode()
        assert fails_with(backend) == reason  # within Retry-After: not sent at all
        assert len(stub.requests) == sent
        time.sleep(1.1)
        assert run(backend).text == "return x + 1"
    finally:
        backend.close()


def test_stub_busy_without_retry_after_does_not_pause(stub: StubEngine) -> None:
    stub.mode = Mode(kind="status", status=503, body={"error": {"message": "loading model"}})
    backend = backend_for(stub.url)
    try:
        fails_with(backend, "HTTP 503", "loading model")
        stub.mode = Mode()
        assert run(backend).text == "return x + 1"
    finally:
        backend.close()


def test_stub_stalled_stream_ends_after_the_timeout(stub: StubEngine) -> None:
    stub.mode = Mode(kind="stall")
    backend = backend_for(stub.url, backend_timeout_ms=400)
    try:
        fails_with(backend, "sent nothing for 0.4 s", "stalled")
    finally:
        stub.release.set()
        backend.close()


def test_stub_malformed_sse_line_ends_the_completion(stub: StubEngine) -> None:
    stub.mode = Mode(kind="malformed")
    backend = backend_for(stub.url)
    try:
        fails_with(backend, "malformed stream", "not JSON")
    finally:
        backend.close()


def test_stub_engine_ignoring_stop_is_cut_by_our_rules_and_closed(stub: StubEngine) -> None:
    """The stub streams 2000 lines whatever `stop` and `max_tokens` say: the stop rule ends the
    completion at the block's end and the HTTP stream is closed (the stub's write fails)."""
    stub.mode = Mode(kind="endless", token_delay_s=0.01)
    backend = backend_for(stub.url)
    try:
        outcome = run(backend)
        assert outcome.finish_reason == "stop" and outcome.text == "line0"
        deadline = time.monotonic() + 5
        while not stub.disconnects and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stub.disconnects == 1 and stub.chunks_sent < 500  # of 2000
    finally:
        backend.close()


def test_stub_cancel_mid_stream_closes_the_http_stream_at_once(stub: StubEngine) -> None:
    stub.mode = Mode(kind="endless", token_delay_s=0.05)
    backend = backend_for(stub.url, max_new_tokens=1024)
    cancel = threading.Event()
    try:
        document = Document.create("file:///long.py", "python", "items = [\n    ", 1)
        shown: list[str] = []

        def on_text(text: str) -> None:
            shown.append(text)
            if len(shown) == 3:
                cancel.set()

        outcome = complete(
            backend,
            document,
            Position(1, 4),
            backend.settings,
            cancelled=cancel.is_set,
            on_text=on_text,
            stop_rules=False,  # only the cancel ends it
        )
        cancelled_at = time.monotonic()
        assert outcome.finish_reason == "cancelled" and outcome.text == ""
        while not stub.disconnects and time.monotonic() - cancelled_at < 2:
            time.sleep(0.01)
        assert stub.disconnects == 1, "the engine saw the client go away"
        assert stub.chunks_sent < 40  # of 2000; a margin for a loaded machine
    finally:
        backend.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_engine_down_is_connection_refused_then_recovers() -> None:
    """Real: nothing listens on the port, then an engine starts there."""
    port = closed_port()
    health: list[str | None] = []
    backend = backend_for(f"http://127.0.0.1:{port}/v1", health)
    engine: StubEngine | None = None
    try:
        reason = backend.check()
        assert reason is not None and "connection refused" in reason
        fails_with(backend, "connection refused", f"127.0.0.1:{port}")
        engine = StubEngine()
        engine.server.server_close()
        engine.server.socket = socket.create_server(("127.0.0.1", port))
        engine.server.server_address = ("127.0.0.1", port)
        engine.start()
        assert backend.check() is None
        assert run(backend).text == "return x + 1" and health[-1] is None
    finally:
        backend.close()
        if engine is not None:
            engine.stop()


def test_unknown_host_is_a_dns_failure() -> None:
    """Real: `.invalid` never resolves (RFC 6761), with or without a network."""
    backend = backend_for("http://no-such-engine.invalid:8000/v1", backend_timeout_ms=3000)
    try:
        reason = backend.check()
        assert reason is not None and "cannot resolve" in reason and "no-such-engine" in reason
    finally:
        backend.close()


def test_stub_doctor_checks_the_engine_and_a_completion(stub: StubEngine) -> None:
    from sdsat_lsp.doctor.remote import engine_checks

    settings = Settings(backend="openai", backend_url=stub.url)
    engine, completion = engine_checks(settings)
    assert engine.status == "ok" and "stub-model" in engine.summary
    assert completion.status == "ok" and "'return x + 1" in completion.summary
    stub.mode = Mode(kind="status", status=401, body={"error": "unauthorized"})
    failed = engine_checks(settings)[-1]
    assert failed.name == "completion" and failed.status == "fail" and "HTTP 401" in failed.summary
    down = Settings(backend="openai", backend_url=f"http://127.0.0.1:{closed_port()}/v1")
    [check] = engine_checks(down)
    assert check.status == "fail" and "connection refused" in check.summary and check.fix


def test_stub_fim_model_gets_its_markers_as_a_raw_prompt(
    stub: StubEngine, tiny_model_dir: Path
) -> None:
    """A FIM model (the tiny test model: suffix-prefix-middle, `<PRE>`/`<SUF>`/`<MID>`, end
    marker `<EOT>`) with its tokenizer here: the prompt text carries its layout."""
    backend = backend_for(stub.url, model=str(tiny_model_dir))
    try:
        assert backend.info.fim
        prompt = backend.encode_prompt("def f(x):\n    return ", "\n\nprint(f(2))\n")
        assert prompt.text == "<PRE><SUF>\n\nprint(f(2))\n<MID>def f(x):\n    return "
        assert len(prompt) == backend.count_tokens(prompt.text) > 0
        document = Document.create("file:///f.py", "python", "def f(x):\n    return \n", 1)
        complete(backend, document, Position(1, 11), backend.settings)
        body = stub.requests[-1]["body"]
        assert body["prompt"].startswith("<PRE><SUF>") and "<MID>" in body["prompt"]
        assert "<EOT>" in body["stop"]
    finally:
        backend.close()
