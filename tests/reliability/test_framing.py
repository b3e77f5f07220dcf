"""Defect 1: one bad frame made the server deaf. Now: a parse error, then the next frame."""

from __future__ import annotations

import json
import time

import pytest

from sdsat_lsp.server.rawclient import RawClient, encode, frame

from .conftest import healthy

STATUS = {"jsonrpc": "2.0", "id": 100, "method": "sdsat/status"}


def body(message: dict[str, object]) -> bytes:
    return json.dumps(message).encode()


def answered(client: RawClient, request_id: object) -> dict[str, object]:
    return client.wait(request_id, 20)


def test_length_one_byte_short_gets_a_parse_error_and_the_next_frame_is_read(
    shared: RawClient,
) -> None:
    data = body({**STATUS, "id": 101})
    shared.send_bytes(b"Content-Length: %d\r\n\r\n" % (len(data) - 1) + data)
    error = answered(shared, 101)  # the id is salvaged so the request does not hang
    assert error["error"]["code"] == -32700  # type: ignore[index]
    assert "result" in shared.call("sdsat/status")


def test_a_client_that_counts_characters_instead_of_bytes(shared: RawClient) -> None:
    message = {"jsonrpc": "2.0", "id": 102, "method": "sdsat/status", "params": {"x": "é→ü"}}
    text = json.dumps(message, ensure_ascii=False)
    shared.send_bytes(b"Content-Length: %d\r\n\r\n" % len(text) + text.encode())
    assert answered(shared, 102)["error"]["code"] == -32700  # type: ignore[index]
    healthy(shared, "file:///chars.py")


def test_length_too_long_resyncs_at_the_next_header(shared: RawClient) -> None:
    data = body({**STATUS, "id": 103})
    shared.send_bytes(b"Content-Length: %d\r\n\r\n" % (len(data) + 40) + data)
    shared.send_bytes(encode({**STATUS, "id": 104}))
    assert answered(shared, 103)["error"]["code"] == -32700  # type: ignore[index]
    assert "result" in answered(shared, 104)


def test_length_too_long_and_the_client_waits(shared: RawClient) -> None:
    data = body({**STATUS, "id": 105})
    shared.send_bytes(b"Content-Length: %d\r\n\r\n" % (len(data) + 5) + data)
    assert answered(shared, 105)["error"]["code"] == -32700  # type: ignore[index]
    assert "result" in shared.call("sdsat/status")


@pytest.mark.parametrize(
    "header",
    [b"content-length: %d\r\n\r\n", b"CONTENT-LENGTH:%d\r\n\r\n", b"Content-Length: %d\n\n"],
    ids=["lowercase", "uppercase-no-space", "lf-only"],
)
def test_header_spelling_and_line_ends(shared: RawClient, header: bytes) -> None:
    data = body({**STATUS, "id": 106})
    shared.send_bytes(header % len(data) + data)
    assert "result" in answered(shared, 106)


def test_content_type_before_length(shared: RawClient) -> None:
    data = body({**STATUS, "id": 107})
    header = (
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: %d\r\n\r\n"
    )
    shared.send_bytes(header % len(data) + data)
    assert "result" in answered(shared, 107)


@pytest.mark.parametrize(
    "bad",
    [
        b"Content-Length: abc\r\n\r\n{}",
        b"Content-Length: -5\r\n\r\n{}",
        b"Content-Type: x\r\n\r\n{}",
        b"hello there\r\n\r\n",
        b"Content-Length: 999999999999\r\n\r\n",
    ],
    ids=["non-numeric", "negative", "missing", "junk", "huge"],
)
def test_bad_length_headers(shared: RawClient, bad: bytes) -> None:
    before = len(shared.unsolicited)
    shared.send_bytes(bad)
    shared.send_bytes(encode({**STATUS, "id": 108}))
    assert "result" in answered(shared, 108)
    deadline = time.monotonic() + 5
    while len(shared.unsolicited) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert shared.unsolicited[-1]["error"]["code"] == -32700


def test_frame_split_into_single_bytes(shared: RawClient) -> None:
    for byte in encode({**STATUS, "id": 109}):
        shared.send_bytes(bytes([byte]))
    assert "result" in answered(shared, 109)
    healthy(shared, "file:///split.py")


def test_two_frames_in_one_write(shared: RawClient) -> None:
    shared.send_bytes(frame(body({**STATUS, "id": 110})) + frame(body({**STATUS, "id": 111})))
    assert "result" in answered(shared, 110) and "result" in answered(shared, 111)
