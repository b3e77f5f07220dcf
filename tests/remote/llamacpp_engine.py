"""llama.cpp's OpenAI-compatible server (`llama-cpp-python[server]`, `make llamacpp`) as a real
engine for the remote backend's tests: a subprocess on 127.0.0.1 with the default model's GGUF.

Its output goes to a log file the tests read: on a streamed request whose client went away,
llama-cpp-python's server stops iterating the generation and prints `disconnected` (app.py,
`get_event_publisher`). It runs with `interrupt_requests` off, so the only thing that ends a
stream early is the client closing it (with it on, a newer request would interrupt the older
one on the engine's side and hide whether the client closed anything).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

MODEL_ALIAS = "smollm2-135m"
DISCONNECTED = "disconnected"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def missing_engine() -> str | None:
    """Why the engine cannot run here (None when it can)."""
    try:
        import llama_cpp.server.app  # noqa: F401  the [server] extra's FastAPI app
    except ImportError as error:
        return f"llama-cpp-python[server] is not installed ({error}): run `make llamacpp`"
    try:
        default_gguf()
    except Exception as error:
        return f"the default model's GGUF is not cached ({error}): run `make llamacpp`"
    return None


def default_gguf() -> Path:
    from sdsat_lsp.bench.llamacpp import gguf_path_for
    from sdsat_lsp.config import DEFAULT_MODEL
    from sdsat_lsp.model import find_spec

    spec = find_spec(DEFAULT_MODEL)
    assert spec is not None
    return gguf_path_for(spec, download=False)


class LlamaCppServer:
    def __init__(self, log_path: Path, port: int | None = None, api_key: str = "") -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.api_key = api_key
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 180.0) -> LlamaCppServer:
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(default_gguf()),
            "--model_alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            "2048",
            # One thread: with two on a 2-core machine shared with our server (and anything
            # else), llama.cpp's spinning threads slowed a token from ~30 ms to over a second.
            "--n_threads",
            "1",
            "--n_threads_batch",
            "1",
            "--interrupt_requests",
            "false",
        ]
        if self.api_key:
            command += ["--api_key", self.api_key]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama.cpp's server exited:\n{self.log()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/models", headers=headers, timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama.cpp's server was not ready in {timeout:.0f} s:\n{self.log()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def disconnects(self) -> int:
        """Streams the engine stopped because the client closed them."""
        return sum(line.strip() == DISCONNECTED for line in self.log().splitlines())
