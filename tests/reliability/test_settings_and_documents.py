"""Defects 6 and 7: settings bounded and checked against the model; unopenable documents
are logged and reported once."""

from __future__ import annotations

import json
from pathlib import Path

from sdsat_lsp.server.rawclient import RawClient

from .conftest import SOURCE, answers, healthy

LATENCY = "sdsat-latency "


def warnings(client: RawClient) -> list[str]:
    return [m["params"]["message"] for m in client.messages("window/showMessage")]


def last_record(client: RawClient) -> str:
    lines = [m["params"]["message"] for m in client.messages("window/logMessage")]
    return [line for line in lines if line.startswith(LATENCY)][-1]


def configure(client: RawClient, settings: dict[str, object]) -> None:
    client.notify("workspace/didChangeConfiguration", {"settings": {"sdsat": settings}})
    answers(client)


def test_context_tokens_are_checked_against_the_model(shared: RawClient) -> None:
    shown = len(warnings(shared))
    configure(shared, {"contextTokens": 100_000})  # within the ceiling, beyond the model
    new = warnings(shared)[shown:]
    assert len(new) == 1 and "context length 4096" in new[0], new
    uri = "file:///long-context.py"
    shared.open(uri, "\n".join(["x = compute(1, 2, 3) + other_value"] * 4000) + "\nreturn x")
    answer = shared.wait(shared.complete(uri, 4000, 8), 120)
    assert "result" in answer
    assert '"prompt_tokens": ' in last_record(shared)
    prompt_tokens = int(last_record(shared).split('"prompt_tokens": ')[1].split(",")[0])
    assert prompt_tokens <= 4096, prompt_tokens
    configure(shared, {})
    shared.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_absurd_settings_are_refused_with_one_warning(shared: RawClient) -> None:
    shown = len(warnings(shared))
    configure(shared, {"contextTokens": 1_000_000_000, "maxNewTokens": 100_000})
    new = warnings(shared)[shown:]
    assert len(new) == 1 and "contextTokens" in new[0] and "maxNewTokens" in new[0], new
    configure(shared, {})
    healthy(shared, "file:///after-absurd.py")


def test_log_file_on_the_lsp_stream_is_refused(shared: RawClient, tmp_path: Path) -> None:
    for path in ("/dev/stdout", "/proc/self/fd/1", "/dev/null"):
        shown = len(warnings(shared))
        configure(shared, {"logFile": path})
        assert len(warnings(shared)) == shown + 1, path
        healthy(shared, f"file:///after-log-{path.count('/')}.py")
    configure(shared, {})


def test_lone_surrogate_document_opens_and_is_reported_once(shared: RawClient) -> None:
    uri = "file:///surrogate.py"
    shown = len(warnings(shared))
    # json.dumps would refuse a lone surrogate in a str: write the JSON escape by hand.
    text = '"def double(number):\\n    # \\ud800 odd\\n    return number"'
    document = json.dumps({"uri": uri, "languageId": "python", "version": 1, "text": "TEXT"})
    params = '{"textDocument": ' + document.replace('"TEXT"', text) + "}"
    message = (
        '{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": ' + params + "}"
    ).encode()
    shared.send_bytes(b"Content-Length: %d\r\n\r\n" % len(message) + message)
    answer = shared.wait(shared.complete(uri, 2, 17), 60)
    assert answer["result"]["items"], (answer, last_record(shared))
    new = warnings(shared)[shown:]
    assert len(new) == 1 and "surrogate" in new[0], new


def test_null_language_id_opens_and_is_reported_once(shared: RawClient) -> None:
    uri = "file:///null-language.py"
    shown = len(warnings(shared))
    shared.open(uri, SOURCE, language_id=None)
    shared.open(uri, SOURCE, language_id=None)
    answer = shared.wait(shared.complete(uri, 1, 17), 60)
    assert answer["result"]["items"], answer
    new = warnings(shared)[shown:]
    assert len(new) == 1 and "languageId" in new[0], new


def test_unopenable_document_says_why(shared: RawClient) -> None:
    uri = "file:///no-text.py"
    shown = len(warnings(shared))
    document = {"uri": uri, "languageId": "python", "version": 1}
    shared.notify("textDocument/didOpen", {"textDocument": document})
    answer = shared.wait(shared.complete(uri, 0, 0), 60)
    assert answer["result"]["items"] == []
    assert "could not be opened" in last_record(shared), last_record(shared)
    assert len(warnings(shared)) == shown + 1
