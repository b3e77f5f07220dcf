"""Defect 5 and the ≥40 bad-input cases: each gets its JSON-RPC answer (or none, for a
notification), and each is followed by a health check (the server answers and completes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sdsat_lsp.server.rawclient import RawClient, frame

from .conftest import healthy

LONG = "x" * 200_000
POS = {"line": 0, "character": 0}
DOC = {"uri": "file:///bad.py"}


def request(method: str, params: Any, request_id: Any = 7000) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def note(method: str, params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def completion(params: Any, request_id: Any = 7000) -> dict[str, Any]:
    return request("textDocument/inlineCompletion", params, request_id)


# (case, raw bytes or message, expected error code for request id 7000; None: no answer)
CASES: list[tuple[str, Any, int | None]] = [
    ("truncated body", b'{"jsonrpc": "2.0", "id": 7000, "method": "sdsat/st', -32700),
    ("not json", b"this is not json", -32700),
    ("invalid utf-8", b'{"jsonrpc": "2.0", "id": 7000, "method": "\xff\xfe"}', -32700),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, -32700),
    ("empty body", b"", -32700),
    ("batch array", [request("sdsat/status", None)], -32600),
    ("empty array", [], -32600),
    ("number", 42, -32600),
    ("string", "hello", -32600),
    ("null", None, -32600),
    ("no jsonrpc", {"id": 7000, "method": "sdsat/status"}, -32600),
    ("jsonrpc 1.0", {"jsonrpc": "1.0", "id": 7000, "method": "sdsat/status"}, -32600),
    ("object id", {"jsonrpc": "2.0", "id": {"a": 1}, "method": "sdsat/status"}, -32600),
    ("array id", {"jsonrpc": "2.0", "id": [1], "method": "sdsat/status"}, -32600),
    ("bool id", {"jsonrpc": "2.0", "id": True, "method": "sdsat/status"}, -32600),
    ("null id", {"jsonrpc": "2.0", "id": None, "method": "sdsat/status"}, -32600),
    ("method number", {"jsonrpc": "2.0", "id": 7000, "method": 5}, -32600),
    ("method empty", {"jsonrpc": "2.0", "id": 7000, "method": ""}, -32600),
    ("unknown method", request("no/such/method", {}), -32601),
    ("unknown notification", note("no/such/notification", {}), None),
    ("response nobody asked for", {"jsonrpc": "2.0", "id": 99999, "result": 1}, None),
    ("malformed response", {"jsonrpc": "2.0", "id": 99998}, None),
    ("completion params not object", completion(7), -32602),
    ("completion params null", completion(None), -32602),
    ("completion missing position", completion({"textDocument": DOC}), -32602),
    (
        "completion negative line",
        completion(
            {
                "textDocument": DOC,
                "position": {"line": -1, "character": 0},
                "context": {"triggerKind": 2},
            }
        ),
        -32602,
    ),
    (
        "completion uri number",
        completion({"textDocument": {"uri": 5}, "position": POS, "context": {"triggerKind": 2}}),
        0,
    ),
    (
        "completion string line",
        completion(
            {
                "textDocument": DOC,
                "position": {"line": "0", "character": 0},
                "context": {"triggerKind": 2},
            }
        ),
        0,
    ),
    (
        "didOpen no text",
        note(
            "textDocument/didOpen", {"textDocument": {**DOC, "languageId": "python", "version": 1}}
        ),
        None,
    ),
    (
        "didOpen text number",
        note(
            "textDocument/didOpen",
            {"textDocument": {**DOC, "languageId": "python", "version": 1, "text": 5}},
        ),
        None,
    ),
    ("didOpen null params", note("textDocument/didOpen", None), None),
    (
        "didChange range past end",
        note(
            "textDocument/didChange",
            {
                "textDocument": {**DOC, "version": 9},
                "contentChanges": [
                    {
                        "range": {
                            "start": {"line": 900, "character": 0},
                            "end": {"line": 901, "character": 0},
                        },
                        "text": "x",
                    }
                ],
            },
        ),
        None,
    ),
    (
        "didChange unopened",
        note(
            "textDocument/didChange",
            {
                "textDocument": {"uri": "file:///nope.py", "version": 2},
                "contentChanges": [{"text": "x"}],
            },
        ),
        None,
    ),
    (
        "didChange no changes key",
        note("textDocument/didChange", {"textDocument": {**DOC, "version": 3}}),
        None,
    ),
    (
        "didClose unopened",
        note("textDocument/didClose", {"textDocument": {"uri": "file:///nope.py"}}),
        None,
    ),
    ("cancel unknown id", note("$/cancelRequest", {"id": 123456}), None),
    ("cancel object id", note("$/cancelRequest", {"id": {"x": 1}}), None),
    ("configuration not object", note("workspace/didChangeConfiguration", {"settings": 5}), None),
    (
        "configuration huge string",
        note("workspace/didChangeConfiguration", {"settings": {"sdsat": {"model": LONG}}}),
        None,
    ),
    (
        "configuration wrong types",
        note(
            "workspace/didChangeConfiguration",
            {"settings": {"sdsat": {"k": "many", "maxNewTokens": -3, "contextTokens": 10**12}}},
        ),
        None,
    ),
    ("status with odd params", request("sdsat/status", [1, 2, 3]), 0),
    ("huge id string", request("sdsat/status", None, "i" * 10_000), None),
    ("negative id", request("sdsat/status", None, -5), None),
    ("float id", {"jsonrpc": "2.0", "id": 1.5, "method": "sdsat/status"}, -32600),
    ("extra top-level keys", {**request("sdsat/status", None), "extra": {"jsonrpc": "2.0"}}, 0),
]


def send(client: RawClient, case: Any) -> None:
    if isinstance(case, bytes):
        client.send_bytes(frame(case))
    else:
        client.send_bytes(frame(json.dumps(case).encode()))


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize(("name", "case", "code"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_then_health(shared: RawClient, name: str, case: Any, code: int | None) -> None:
    before = len(shared.unsolicited)
    send(shared, case)
    if code is not None:
        shared.wait_for(lambda: 7000 in shared.responses or len(shared.unsolicited) > before, 20)
        answer = shared.responses.pop(7000, None) or shared.unsolicited[-1]
        if code:
            assert answer["error"]["code"] == code, answer
        else:
            assert "result" in answer, answer
    shared.responses.clear()
    healthy(shared, f"file:///after-{abs(hash(name))}.py")


def test_nested_objects_are_not_messages(shared: RawClient) -> None:
    ghost = {"jsonrpc": "2.0", "id": "ghost-1", "method": "sdsat/status", "params": None}
    shared.notify("workspace/didChangeConfiguration", {"settings": {"sdsat": {"x": ghost}}})
    shared.send_bytes(frame(json.dumps(request("sdsat/status", {"nested": ghost}, 7100)).encode()))
    assert "result" in shared.wait(7100, 20)
    shared.health()
    assert "ghost-1" not in shared.responses, "answered a request the client never sent"
    shared.notify("workspace/didChangeConfiguration", {"settings": {"sdsat": {}}})
