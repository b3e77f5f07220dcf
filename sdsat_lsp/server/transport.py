"""The byte stream under the LSP: framing that recovers, and output that cannot block the loop.

pygls 2.1.1's reader accepts only an exact `Content-Length: N\r\n` line; a wrong length, a
lowercase header or LF-only line ends leave it stuck for good, and it parses every nested JSON
object as a message. Here:

- `FrameParser` reads header blocks case-insensitively (CRLF or LF), answers a frame whose
  length is missing, not a number or wrong with a parse error, and resynchronizes at the next
  `Content-Length` header. A declared length that runs past the message is noticed when the
  next frame's header shows up inside the body (a raw line break cannot occur inside valid
  JSON), or when the stream goes idle with a complete JSON value read.
- `check_message` turns a decoded body into a JSON-RPC message or the error to answer
  (-32600 for batches, non-objects, a wrong `jsonrpc`, a bad `id` or `method`). Only the
  top-level object is a message.
- `Output` queues what the server sends; one thread writes it, so a client that stops reading
  stalls only that thread. A newer `sdsat/completionDelta` for a request replaces its older
  unsent one, and optional notifications (log lines, status) are dropped past a bound.
- `read_frames` runs on its own thread: it reads, frames and decodes (a 5 MB `didOpen` is
  parsed here, not on the event loop) and hands whole messages on.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import re
import select
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
MAX_HEADER_BYTES = 8 * 1024
MAX_BODY_BYTES = 256 * 1024 * 1024
IDLE_SECONDS = 1.0  # a partial body that is already whole JSON after this long: wrong length

RequestId = int | str
MEMBERS = ("jsonrpc", "id", "method", "params", "result", "error")
_LEADING_BLANK = re.compile(rb"[\r\n]+")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LENGTH_HEADER = re.compile(rb"content-length[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
_LENGTH_NAME = re.compile(rb"content-length", re.IGNORECASE)
# A whole header line: raw line breaks never occur inside valid JSON, so inside a body this
# is the next frame's header and the declared length was too long.
_NEXT_FRAME = re.compile(rb"content-length[ \t]*:[ \t]*\d+[ \t]*\r?\n", re.IGNORECASE)
NOTHING = object()  # FrameParser: no complete frame yet (a body may decode to None)
_ID_FIELD = re.compile(rb'"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")')


@dataclass(frozen=True)
class RpcError:
    """An error to answer: `request_id` is None when the message's id is unknown."""

    code: int
    message: str
    request_id: RequestId | None = None

    def to_wire(self) -> dict[str, Any]:
        error = {"code": self.code, "message": self.message}
        return {"jsonrpc": "2.0", "id": self.request_id, "error": error}


def valid_id(value: Any) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)


def salvage_id(data: bytes) -> RequestId | None:
    """The id of a message whose frame was wrong, when it can be read at all (best effort)."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        value = None
    if isinstance(value, dict):
        return value["id"] if valid_id(value.get("id")) else None
    match = _ID_FIELD.search(data)
    if match is None:
        return None
    try:
        found = json.loads(match.group(1))
    except ValueError:
        return None
    return found if valid_id(found) else None


class FrameParser:
    """Bytes in, decoded JSON bodies or `RpcError`s out; never stuck on a bad frame."""

    def __init__(self, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self._buffer = bytearray()
        self._length: int | None = None  # the body length of the frame being read
        self._scanned = 0  # body bytes already searched for a next header
        self._resync = False
        self._max_body = max_body_bytes

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Any]:
        """Add bytes; returns the decoded bodies (any JSON value) and errors now complete."""
        self._buffer += data
        out: list[Any] = []
        while (item := self._next()) is not NOTHING:
            out.append(item)
        return out

    def idle(self) -> list[Any]:
        """No bytes for a while: a partial body that is already whole JSON had a wrong length."""
        if self._length is None or not self._buffer:
            return []
        partial = bytes(self._buffer)
        try:
            json.loads(partial)
        except (ValueError, RecursionError):
            return []
        self._buffer.clear()
        self._end_frame(resync=False)
        return [self._wrong_length(partial)]

    # -- internals ---------------------------------------------------------------------------

    def _next(self) -> Any:
        buffer = self._buffer
        if self._resync:
            found = _LENGTH_NAME.search(buffer)
            if found is None:
                del buffer[: max(0, len(buffer) - len(b"content-length"))]
                return NOTHING
            if found.start():
                logger.warning("skipped %d bytes to the next frame", found.start())
            del buffer[: found.start()]
            self._resync = False
        if self._length is None:
            return self._header()
        return self._body()

    def _header(self) -> Any:
        buffer = self._buffer
        if (blank := _LEADING_BLANK.match(buffer)) is not None:
            del buffer[: blank.end()]
        end = _HEADER_END.search(buffer, 0, MAX_HEADER_BYTES + 4)
        if end is None:
            if len(buffer) > MAX_HEADER_BYTES:
                del buffer[:1]
                self._resync = True
                return RpcError(PARSE_ERROR, "header block too long or not terminated")
            return NOTHING
        block = bytes(buffer[: end.start()])
        del buffer[: end.end()]
        found = _LENGTH_HEADER.search(block)
        value = found.group(1).strip() if found else b""
        if found is not None and found.start():
            logger.warning("bytes before a frame header: %r", block[: found.start()][:80])
        if not value.isdigit():
            self._resync = True
            what = "missing" if found is None else f"not a number ({value[:40]!r})"
            return RpcError(PARSE_ERROR, f"Content-Length header {what}")
        length = int(value)
        if length > self._max_body:
            self._resync = True
            return RpcError(PARSE_ERROR, f"Content-Length {length} exceeds {self._max_body}")
        self._length = length
        self._scanned = 0
        return self._body()

    def _body(self) -> Any:
        buffer = self._buffer
        length = self._length
        assert length is not None
        available = min(len(buffer), length)
        start = max(0, self._scanned - 64)
        following = _NEXT_FRAME.search(buffer, start, min(len(buffer), length + 64))
        if following is not None and following.start() < length:
            body = bytes(buffer[: following.start()])
            del buffer[: following.start()]
            self._end_frame(resync=False)
            return self._wrong_length(body)
        self._scanned = available
        if len(buffer) < length:
            return NOTHING
        body = bytes(buffer[:length])
        del buffer[:length]
        self._end_frame(resync=False)
        return self._decode(body)

    def _end_frame(self, *, resync: bool) -> None:
        self._length = None
        self._scanned = 0
        self._resync = resync

    def _wrong_length(self, body: bytes) -> RpcError:
        return RpcError(
            PARSE_ERROR,
            "Content-Length does not match the message (it counts bytes of UTF-8)",
            salvage_id(body),
        )

    def _decode(self, body: bytes) -> Any:
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as error:
            # A length that was too short leaves the message's tail before the next header.
            found = _LENGTH_NAME.search(self._buffer)
            tail = bytes(self._buffer[: found.start() if found else len(self._buffer)])
            self._resync = True
            if tail.strip():
                return self._wrong_length(body + tail)
            return RpcError(PARSE_ERROR, f"not JSON: {error}"[:200], salvage_id(body))


def check_message(value: Any) -> dict[str, Any] | RpcError | None:
    """A JSON-RPC 2.0 message, the error to answer, or None (a bad response: nothing to answer)."""
    if isinstance(value, list):
        return RpcError(INVALID_REQUEST, "batch messages are not supported by LSP")
    if not isinstance(value, dict):
        return RpcError(INVALID_REQUEST, f"a message must be an object, got {type(value).__name__}")
    has_id = "id" in value
    request_id = value.get("id")
    answer_id = request_id if valid_id(request_id) else None
    if value.get("jsonrpc") != "2.0":
        return RpcError(INVALID_REQUEST, 'missing or wrong "jsonrpc" (must be "2.0")', answer_id)
    if "method" not in value:  # a response to one of our requests
        if not has_id or ("result" in value) == ("error" in value):
            logger.warning("dropped a malformed response: %s", str(value)[:200])
            return None
        return members(value)
    method = value["method"]
    if has_id and not valid_id(request_id):
        return RpcError(INVALID_REQUEST, "id must be an integer or a string")
    if not isinstance(method, str) or not method:
        return RpcError(INVALID_REQUEST, "method must be a non-empty string", answer_id)
    return members(value)  # params that do not fit the method answer InvalidParams (protocol.py)


def members(value: dict[str, Any]) -> dict[str, Any]:
    """The message without members JSON-RPC does not define (ignored, not an error)."""
    return {key: value[key] for key in MEMBERS if key in value}


# -- output -----------------------------------------------------------------------------------


@dataclass
class _Item:
    body: str = ""  # a serialized message
    response_to: RequestId | None = None  # set on responses: ends the request's delta state
    droppable: bool = False
    delta_id: RequestId | None = None  # set on completion deltas (built when written)
    delta_params: dict[str, Any] | None = None
    delta_text: str = ""
    wanted: Callable[[], bool] | None = None


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def common_prefix(a: str, b: str) -> int:
    limit = min(len(a), len(b))
    if a[:limit] == b[:limit]:
        return limit
    low, high = 0, limit  # binary search on the longest equal prefix
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


class Output:
    """Outgoing messages in order, written by one thread. `put*` never block."""

    def __init__(
        self,
        write: Callable[[bytes], None],
        *,
        on_closed: Callable[[], None],
        delta_method: str,
        max_pending: int = 2000,
    ) -> None:
        self._write = write
        self._on_closed = on_closed
        self._delta_method = delta_method
        self._max_pending = max_pending
        self._items: collections.deque[_Item] = collections.deque()
        self._deltas: dict[RequestId, _Item] = {}  # unsent delta per request
        self._sent_text: dict[RequestId, str] = {}  # text the client has, per request
        self._condition = threading.Condition()
        self._closed = False
        self._writing = False
        self.append_deltas = False  # the client opted into the append form
        self.dropped = 0
        self.coalesced = 0
        self._thread = threading.Thread(target=self._run, name="sdsat-output", daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        return self._closed

    def depth(self) -> int:
        with self._condition:
            return len(self._items)

    def put(
        self, body: str, *, response_to: RequestId | None = None, droppable: bool = False
    ) -> None:
        with self._condition:
            if self._closed:
                return
            if droppable and len(self._items) >= self._max_pending:
                self.dropped += 1
                return
            self._items.append(_Item(body, response_to=response_to, droppable=droppable))
            self._condition.notify()

    def put_delta(
        self,
        request_id: RequestId,
        params: dict[str, Any],
        text: str,
        wanted: Callable[[], bool],
    ) -> None:
        """The text so far of a request; replaces an unsent older delta of the same request."""
        with self._condition:
            if self._closed:
                return
            if (queued := self._deltas.get(request_id)) is not None:
                queued.delta_params, queued.delta_text, queued.wanted = params, text, wanted
                self.coalesced += 1
                return
            item = _Item(delta_id=request_id, delta_params=params, delta_text=text, wanted=wanted)
            self._deltas[request_id] = item
            self._items.append(item)
            self._condition.notify()

    def close(self, timeout: float) -> None:
        """Write what is queued (for at most `timeout` seconds), then stop."""
        with self._condition:
            self._condition.wait_for(lambda: not self._items and not self._writing, timeout)
            self._closed = True
            self._items.clear()
            self._condition.notify_all()

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._items or self._closed)
                if self._closed:
                    return
                item = self._items.popleft()
                if item.delta_id is not None:
                    self._deltas.pop(item.delta_id, None)
                data = self._encode(item)
                self._writing = data is not None
            if data is None:
                continue
            try:
                self._write(data)
            except (OSError, ValueError) as error:  # the client went away
                logger.info("output closed: %s", error)
                with self._condition:
                    self._closed = True
                    self._writing = False
                    self._items.clear()
                    self._condition.notify_all()
                self._on_closed()
                return
            with self._condition:
                self._writing = False
                self._condition.notify_all()

    def _encode(self, item: _Item) -> bytes | None:
        """Called with the lock held; builds a delta's params from what the client has."""
        if item.delta_id is not None:
            if item.wanted is not None and not item.wanted():
                return None
            body = json.dumps(
                {"jsonrpc": "2.0", "method": self._delta_method, "params": self._delta(item)}
            )
        else:
            body = item.body
            if item.response_to is not None:
                self._sent_text.pop(item.response_to, None)
        data = body.encode("utf-8")
        return b"Content-Length: %d\r\n\r\n" % len(data) + data

    def _delta(self, item: _Item) -> dict[str, Any]:
        assert item.delta_id is not None and item.delta_params is not None
        text = item.delta_text
        params = dict(item.delta_params)
        if not self.append_deltas:
            params["text"] = text
            return params
        before = self._sent_text.get(item.delta_id, "")
        keep = common_prefix(before, text)
        params["offset"] = utf16_units(text[:keep])
        params["text"] = text[keep:]
        self._sent_text[item.delta_id] = text
        while len(self._sent_text) > 256:  # a response always ends one; this is a backstop
            del self._sent_text[next(iter(self._sent_text))]
        return params


# -- input ------------------------------------------------------------------------------------


def read_frames(
    fd: int,
    deliver: Callable[[dict[str, Any]], None],
    answer: Callable[[RpcError], None],
    on_eof: Callable[[], None],
    stop: threading.Event,
) -> None:
    """Thread body: read `fd` until EOF, deliver checked messages, answer bad ones."""
    parser = FrameParser()
    try:
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], IDLE_SECONDS)
            if not ready:
                items = parser.idle()
            else:
                try:
                    data = os.read(fd, 1 << 16)
                except OSError as error:
                    logger.info("input closed: %s", error)
                    return
                if not data:
                    return
                items = parser.feed(data)
            for item in items:
                checked = item if isinstance(item, RpcError) else check_message(item)
                if isinstance(checked, RpcError):
                    logger.warning("answered a bad message with %s", checked.to_wire())
                    answer(checked)
                elif checked is not None:
                    deliver(checked)
    finally:
        on_eof()
