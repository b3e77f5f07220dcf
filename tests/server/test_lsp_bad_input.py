"""Bad input never kills the server: it answers, logs, and goes on completing."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from sdsat_lsp.server.client import plain

from .conftest import Server

pytestmark = pytest.mark.asyncio(loop_scope="session")

SOURCE = "def double(number):\n    return number"


async def still_completes(server: Server, request_id: int) -> None:
    uri = f"file:///alive-{request_id}.py"
    server.open(uri, SOURCE)
    answer = await asyncio.wait_for(server.request(uri, 1, 17, request_id), 60)
    assert answer.items, "the server still completes after bad input"


async def send_raw_request(server: Server, message: dict[str, Any]) -> Any:
    """Send a request exactly as given (pygls' client would validate it first)."""
    future: Future[Any] = Future()
    server.client.protocol._request_futures[message["id"]] = future
    server.client.protocol._send_data({"jsonrpc": "2.0", **message})
    return await asyncio.wait_for(asyncio.wrap_future(future), 30)


async def test_position_past_the_end(tiny_server: Server) -> None:
    uri = "file:///past-end.py"
    tiny_server.open(uri, SOURCE)
    for request_id, (line, character) in enumerate([(50, 0), (1, 9999), (2, 0)], start=5001):
        answer = await asyncio.wait_for(tiny_server.request(uri, line, character, request_id), 60)
        assert isinstance(answer, types.InlineCompletionList)
    assert not (await tiny_server.request(uri, 50, 0, 5004)).items
    record = tiny_server.record_for(5001)
    assert record["outcome"] == "error" and "position" in record["error"]
    await still_completes(tiny_server, 5010)


async def test_document_never_opened(tiny_server: Server) -> None:
    uri = "file:///never-opened.py"
    answer = await asyncio.wait_for(tiny_server.request(uri, 0, 0, 5101), 30)
    assert not answer.items
    assert tiny_server.record_for(5101)["error"] == "document is not open"
    tiny_server.insert(uri, 0, 0, "x")  # didChange and didClose for it are ignored
    tiny_server.client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    await still_completes(tiny_server, 5110)


async def test_unknown_language_id(tiny_server: Server) -> None:
    uri = "file:///notes.klingon"
    tiny_server.open(uri, "qapla' batlh\nqapla", language_id="klingon")
    answer = await asyncio.wait_for(tiny_server.request(uri, 1, 5, 5201), 60)
    assert isinstance(answer, types.InlineCompletionList)
    assert tiny_server.record_for(5201)["outcome"] == "done"


async def test_five_megabyte_document(tiny_server: Server) -> None:
    uri = "file:///huge.py"
    line = "value_{0} = compute(value_{0}, 'a fairly long string literal here')\n"
    text = "".join(line.format(index) for index in range(80_000))
    assert len(text) > 5_000_000
    tiny_server.open(uri, text + "result = value")
    last_line = text.count("\n")
    answer = await asyncio.wait_for(tiny_server.request(uri, last_line, 14, 5301), 120)
    assert isinstance(answer, types.InlineCompletionList)
    record = tiny_server.record_for(5301)
    assert record["outcome"] == "done"
    assert record["prompt_tokens"] <= 1024 + 8, "the prompt stays within its budget"
    tiny_server.insert(uri, last_line, 14, "_")
    try:
        await asyncio.wait_for(tiny_server.request(uri, last_line, 15, 5302), 120)
        assert tiny_server.record_for(5302)["outcome"] == "done"
    finally:  # the other tests' prompts need not scan it for snippets
        tiny_server.client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )


async def test_params_that_do_not_match_the_schema_get_invalid_params(
    tiny_server: Server,
) -> None:
    bad = {"textDocument": {"uri": 42}, "position": {"line": -1}}
    with pytest.raises(JsonRpcInvalidParams):
        await send_raw_request(
            tiny_server,
            {"id": 5401, "method": types.TEXT_DOCUMENT_INLINE_COMPLETION, "params": bad},
        )
    with pytest.raises(JsonRpcInvalidParams):
        await send_raw_request(
            tiny_server, {"id": 5402, "method": types.TEXT_DOCUMENT_INLINE_COMPLETION, "params": 7}
        )
    # A malformed notification has nobody to answer: it is dropped and logged.
    tiny_server.client.protocol._send_data(
        {"jsonrpc": "2.0", "method": types.TEXT_DOCUMENT_DID_CHANGE, "params": {"bad": True}}
    )
    assert not tiny_server.client.messages, "nothing shown to the user"
    await still_completes(tiny_server, 5410)


async def test_invalid_configuration_warns_once_and_keeps_the_valid_part(
    tiny_server: Server,
) -> None:
    shown = len(tiny_server.client.messages)
    tiny_server.configure({"k": "many", "strategy": "fastest", "maxNewTokens": 3, "bogus": 1})
    try:
        uri = "file:///config.py"
        tiny_server.open(uri, SOURCE)
        await asyncio.wait_for(tiny_server.request(uri, 1, 17, 5501), 60)
        new = tiny_server.client.messages[shown:]
        assert len(new) == 1 and new[0].type == types.MessageType.Warning
        for name in ("k", "strategy", "bogus"):
            assert name in new[0].message
        assert tiny_server.record_for(5501)["new_tokens"] <= 3  # the valid key applied
    finally:
        tiny_server.configure({})
    assert (await tiny_server.status())["state"] == "ready"


async def test_status_request_without_params_is_answered(tiny_server: Server) -> None:
    # JSON-RPC allows leaving `params` out; vscode-jsonrpc does for `sendRequest(method)`.
    status = plain(await send_raw_request(tiny_server, {"id": 5601, "method": "sdsat/status"}))
    assert status["state"] in {"loading", "ready", "error"}
    assert "model" in status
