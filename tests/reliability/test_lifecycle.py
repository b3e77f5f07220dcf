"""Defects 3 and 4: the LSP lifecycle. No model loads here (no `initialized` until needed)."""

from __future__ import annotations

import time
from pathlib import Path

from .conftest import start, tiny_args

SOURCE = "def double(number):\n    return number"


def test_requests_before_initialize_answer_server_not_initialized() -> None:
    client = start()
    try:
        for method, params in [
            ("textDocument/inlineCompletion", {"textDocument": {"uri": "file:///a.py"}}),
            ("sdsat/status", None),
            ("shutdown", None),
        ]:
            assert client.call(method, params)["error"]["code"] == -32002
        client.notify("textDocument/didOpen", {"textDocument": {"uri": "file:///a.py"}})
        assert "result" in client.call("initialize", {"capabilities": {}})
    finally:
        client.kill()


def test_second_initialize_is_refused_and_keeps_the_settings() -> None:
    client = start("--max-new-tokens", "16")
    try:
        client.call("initialize", {"capabilities": {}, "initializationOptions": {"k": 2}})
        again = client.call("initialize", {"capabilities": {}, "initializationOptions": {"k": 9}})
        assert again["error"]["code"] == -32600
    finally:
        client.kill()


def test_requests_after_shutdown_answer_invalid_request_and_exit_is_0() -> None:
    client = start()
    try:
        client.call("initialize", {"capabilities": {}})
        assert client.call("shutdown")["result"] is None
        for method in ("sdsat/status", "shutdown", "textDocument/inlineCompletion"):
            assert client.call(method, {}, timeout=10)["error"]["code"] == -32600
        client.notify("exit")
        assert client.process.wait(5) == 0
    finally:
        client.kill()


def test_exit_without_shutdown_is_1() -> None:
    client = start()
    try:
        client.call("initialize", {"capabilities": {}})
        client.notify("exit")
        assert client.process.wait(5) == 1
    finally:
        client.kill()


def test_exit_mid_stream_within_a_second_without_traceback(tiny_model_dir: Path) -> None:
    client = start(*tiny_args(tiny_model_dir), "--max-new-tokens", "1024")
    try:
        client.initialize({"prefixReuse": False})
        assert client.wait_ready()["state"] == "ready"
        client.open("file:///long.py", "\n".join([SOURCE] * 50))
        client.complete("file:///long.py", 99, 17)
        client.wait_for(lambda: client.messages("sdsat/completionDelta"), 60)
        started = time.monotonic()
        client.notify("exit")
        assert client.process.wait(5) == 1
        assert time.monotonic() - started < 1.0
        time.sleep(0.2)
        assert not [line for line in client.stderr if "Traceback" in line], client.tail(40)
    finally:
        client.kill()
