"""HTTP to an OpenAI-compatible engine: one pooled async client on its own event-loop thread.

Why a loop thread and not httpx's sync client on the worker thread: a sync read blocks the
worker inside `recv` until the engine sends the next byte, so a superseded request (or a
stalled engine) would hold the next keystroke's completion hostage for up to the timeout, and
httpx's sync client cannot be closed safely from another thread. Here the worker waits on a
queue with a short timeout, checking `cancelled()` between waits, and `StreamHandle.close()`
cancels the request's task on the loop: the response is closed at once, the engine sees the
client go away and stops generating for it (vLLM aborts the request; llama.cpp's servers stop
at the next token). One `httpx.AsyncClient` keeps connections alive between requests.

Every failure becomes an `EngineError` whose message is the one reason users see (status and
one window/showMessage): connection refused, DNS, timeouts, HTTP 401/403/404/429/503 with the
engine's own message, a stream that stalls or is malformed. The API key is read from the
environment variable the settings name; it is sent, never logged or put into a message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import email.utils
import json
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from sdsat_lsp.remote.sse import Chunk, MalformedStream, parse_line

log = logging.getLogger(__name__)
# httpx logs every request at INFO: a line per keystroke in the server's stderr.
logging.getLogger("httpx").setLevel(logging.WARNING)

CLOSE_WAIT_S = 1.0  # close(): how long to wait for the loop to close the response
MAX_ERROR_BODY = 4096
MAX_RETRY_AFTER_S = 600.0


class EngineError(RuntimeError):
    """No completion from the engine; the message is the reason shown to users."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Endpoint:
    """Where the engine is: the API base (`…/v1`) and what to show of it."""

    base: str  # no trailing slash
    shown: str  # scheme://host[:port]/path, without credentials, query or fragment

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        if not url:
            raise EngineError(
                "backendUrl is empty: set the engine's API base, e.g. http://host:8000/v1"
            )
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EngineError(f"backendUrl must be an http:// or https:// URL, got {url!r}")
        path = parts.path.rstrip("/")
        path = path.removesuffix("/completions")
        if not path:
            path = "/v1"  # `http://host:8000` means the usual OpenAI API base
        netloc = parts.netloc.rpartition("@")[2]
        base = f"{parts.scheme}://{parts.netloc}{path}"
        return cls(base=base, shown=f"{parts.scheme}://{netloc}{path}")


@dataclass
class StreamTimes:
    """Milliseconds from the request's start (perf_counter); None: did not happen."""

    started: float
    connect_ms: float | None = None  # a new TCP (and TLS) connection; 0.0 when one was reused
    first_byte_ms: float | None = None  # response headers received
    _connect_started: float | None = None

    def since_start(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


_END = object()


class StreamHandle:
    """One streamed request: the worker reads chunks (or the error) from `next()`."""

    def __init__(self, started: float) -> None:
        self.times = StreamTimes(started)
        self._items: queue.Queue[Any] = queue.Queue()
        self._future: concurrent.futures.Future[None] | None = None
        self._closed = threading.Event()
        self._ended = False

    def next(self, timeout: float) -> Chunk | EngineError | None:
        """The next chunk or error; None on timeout or once the stream has ended."""
        try:
            item = self._items.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _END:
            self._ended = True
            self._items.put(_END)  # stays ended for later calls
            return None
        result: Chunk | EngineError = item
        return result

    @property
    def ended(self) -> bool:
        """The stream is over and every chunk has been read."""
        return self._ended

    def close(self) -> None:
        """Close the HTTP stream now (idempotent); waits briefly until the loop has closed it."""
        future = self._future
        if future is not None and not future.done():
            future.cancel()  # thread-safe: cancels the task on the loop
            self._closed.wait(CLOSE_WAIT_S)

    # -- on the loop thread ----------------------------------------------------------------

    def put(self, item: Chunk | EngineError) -> None:
        self._items.put(item)

    def finish(self) -> None:
        self._items.put(_END)
        self._closed.set()

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpx's trace extension: connection and header timings."""
        times = self.times
        if event == "connection.connect_tcp.started":
            times._connect_started = time.perf_counter()
        elif event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            if times._connect_started is not None:
                times.connect_ms = (time.perf_counter() - times._connect_started) * 1000.0
        elif event.endswith("receive_response_headers.complete"):
            times.first_byte_ms = times.since_start()
            if times.connect_ms is None:
                times.connect_ms = 0.0  # a kept-alive connection


class EngineConnection:
    """The engine's API base, its key, timeouts, and the loop thread that does the I/O."""

    def __init__(self, endpoint: Endpoint, *, api_key_env: str, timeout_s: float) -> None:
        self.endpoint = endpoint
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self._api_key = os.environ.get(api_key_env, "") if api_key_env else ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sdsat-remote", daemon=True
        )
        self._thread.start()
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=4)
        timeout = httpx.Timeout(timeout_s)
        self._client: httpx.AsyncClient = self._run(self._make_client(limits, timeout))

    async def _make_client(self, limits: httpx.Limits, timeout: httpx.Timeout) -> httpx.AsyncClient:
        return httpx.AsyncClient(limits=limits, timeout=timeout, follow_redirects=False)

    def _run(self, coroutine: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self._run(self._client.aclose(), timeout=2.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=2.0)

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    # -- requests ----------------------------------------------------------------------------

    def get_models(self) -> dict[str, Any]:
        """`GET /models` (blocking): the engine's model list, or an `EngineError`."""
        return dict(self._run(self._get_models(), timeout=self.timeout_s + 5.0))

    async def _get_models(self) -> dict[str, Any]:
        url = self.endpoint.base + "/models"
        try:
            response = await self._client.get(url, headers=self.headers())
        except httpx.HTTPError as error:
            raise self.transport_error(error) from None
        if response.status_code != 200:
            raise self.status_error(response.status_code, response.text, response.headers, "")
        try:
            payload = response.json()
        except ValueError:
            raise EngineError(f"{url} did not answer JSON: is backendUrl the API base?") from None
        return payload if isinstance(payload, dict) else {}

    def open_stream(self, body: dict[str, Any]) -> StreamHandle:
        """Start `POST /completions` with `stream: true`; chunks arrive through the handle."""
        handle = StreamHandle(time.perf_counter())
        coroutine = self._stream(body, handle)
        handle._future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return handle

    async def _stream(self, body: dict[str, Any], handle: StreamHandle) -> None:
        url = self.endpoint.base + "/completions"
        model = str(body.get("model", ""))
        try:
            async with self._client.stream(
                "POST", url, json=body, headers=self.headers(), extensions={"trace": handle.trace}
            ) as response:
                if handle.times.first_byte_ms is None:
                    handle.times.first_byte_ms = handle.times.since_start()
                if response.status_code != 200:
                    text = (await response.aread())[:MAX_ERROR_BODY].decode("utf-8", "replace")
                    raise self.status_error(response.status_code, text, response.headers, model)
                async for line in response.aiter_lines():
                    try:
                        chunk = parse_line(line)
                    except MalformedStream as error:
                        raise EngineError(f"malformed stream from the engine: {error}") from None
                    if chunk is None:
                        continue
                    handle.put(chunk)
                    if chunk.done:
                        break
        except EngineError as error:
            handle.put(EngineError(self.redact(error.reason), error.retry_after_s))
        except httpx.HTTPError as error:
            handle.put(self.transport_error(error))
        except asyncio.CancelledError:
            pass  # closed by the worker: leaving `stream` closed the response
        except Exception as error:  # never let the loop thread die on a surprise
            log.exception("remote stream failed")
            handle.put(EngineError(f"request to the engine failed: {type(error).__name__}"))
        finally:
            handle.finish()

    # -- errors ------------------------------------------------------------------------------

    def transport_error(self, error: httpx.HTTPError) -> EngineError:
        shown = self.endpoint.shown
        detail = self.redact(str(error)) or type(error).__name__
        timeout = f"{self.timeout_s:g} s"
        if isinstance(error, httpx.ConnectTimeout):
            return EngineError(f"the engine at {shown} accepted no connection within {timeout}")
        if isinstance(error, httpx.PoolTimeout):
            return EngineError(f"no free connection to the engine at {shown} within {timeout}")
        if isinstance(error, httpx.ReadTimeout):
            return EngineError(f"the engine at {shown} sent nothing for {timeout} (stalled)")
        if isinstance(error, httpx.TimeoutException):
            return EngineError(f"the engine at {shown} timed out ({timeout}): {detail}")
        if isinstance(error, httpx.ConnectError):
            causes = list(error_chain(error))
            text = " ".join(str(cause).lower() for cause in causes)
            if any(isinstance(c, socket.gaierror) for c in causes) or "name or service" in text:
                host = urlsplit(self.endpoint.base).hostname
                return EngineError(f"cannot resolve the engine's host {host!r} ({shown})")
            if any(isinstance(c, ConnectionRefusedError) for c in causes) or "refused" in text:
                return EngineError(
                    f"cannot connect to the engine at {shown}: connection refused (is it running?)"
                )
            return EngineError(f"cannot connect to the engine at {shown}: {detail}")
        if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError):
            return EngineError(f"the engine at {shown} closed the connection mid-stream: {detail}")
        return EngineError(f"request to the engine at {shown} failed: {detail}")

    def status_error(
        self, status: int, body: str, headers: httpx.Headers, model: str
    ) -> EngineError:
        message = self.redact(error_message(body))
        said = f": {message}" if message else ""
        shown = self.endpoint.shown
        if status in (401, 403):
            if not self.api_key_env:
                hint = "set backendApiKeyEnv to the environment variable holding the key"
            elif not self._api_key:
                hint = f"${self.api_key_env} is not set in the server's environment"
            else:
                hint = f"check the key in ${self.api_key_env}"
            return EngineError(
                f"the engine at {shown} refused the request (HTTP {status}{said}); {hint}"
            )
        if status == 404:
            return EngineError(
                f"HTTP 404 from {shown}/completions{said}: check backendModel ({model!r}) and "
                "that backendUrl is the API base (…/v1)"
            )
        if status in (429, 503):
            retry = retry_after_seconds(headers.get("retry-after"))
            wait = f"; new requests wait {retry:g} s (Retry-After)" if retry else ""
            return EngineError(f"the engine at {shown} is busy (HTTP {status}{said}){wait}", retry)
        return EngineError(f"the engine at {shown} answered HTTP {status}{said}")


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """The error and what caused it (httpx wraps the OSError that says what happened)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def error_message(body: str) -> str:
    """The engine's own error text from an OpenAI-style (or FastAPI, TGI) error body."""
    text = body.strip()
    try:
        payload = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(payload, dict):
        for key in ("error", "detail", "message"):
            value = payload.get(key)
            if isinstance(value, dict):
                value = value.get("message", value)
            if value:
                return str(value)[:200]
    return text[:200]


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date), capped; None when absent."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S) or None
