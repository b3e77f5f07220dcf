"""The fault suite: the real server over stdio, driven by a raw stdlib client.

Every test talks bytes to `sdsat-lsp serve` (sdsat_lsp.server.rawclient) on a tiny real model.
`SDSAT_SERVER_PYTHONPATH` runs the server from another checkout (to show a test failing on the
code before a fix) while the tests and the client stay these.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdsat_lsp.server.rawclient import RawClient, serve_command

# One line the tiny random model completes (it repeats the character before the cursor).
SOURCE = "def double(number):\n    return number"


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    if other := os.environ.get("SDSAT_SERVER_PYTHONPATH"):
        env["PYTHONPATH"] = other
        # `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH: run
        # from this checkout's root, the server would import this checkout after all.
        env["PYTHONSAFEPATH"] = "1"
    return env


def start(*args: str, **kwargs: object) -> RawClient:
    return RawClient(serve_command(*args), env=server_env(), **kwargs)  # type: ignore[arg-type]


def tiny_args(model: Path) -> list[str]:
    return ["--model", str(model), "--max-new-tokens", "16"]


def answers(client: RawClient, timeout: float = 30.0) -> None:
    """A round trip: the server still reads, and has handled everything sent before.

    `sdsat/status`, not `sdsat/health`: the round-1 server (SDSAT_SERVER_PYTHONPATH) has no
    health request, and a test should fail there on its defect, not on the missing method."""
    answer = client.call("sdsat/status", timeout=timeout)
    assert "result" in answer, answer


def healthy(client: RawClient, uri: str = "file:///health.py") -> None:
    """The server still answers and still completes."""
    answers(client)
    client.open(uri, SOURCE)
    answer = client.wait(client.complete(uri, 1, 17), 60)
    assert "result" in answer, answer
    assert answer["result"]["items"], "the server still completes"


@pytest.fixture(scope="module")
def shared(tiny_model_dir: Path) -> Iterator[RawClient]:
    """One ready server for a module of cases that each end with a health check."""
    client = start(*tiny_args(tiny_model_dir))
    client.initialize()
    assert client.wait_ready()["state"] == "ready", client.tail()
    yield client
    client.kill()
